// Controls over user_tokens, one per rule; benchmarks (benchmark/) group them by
// framework. Thresholds come from variables.pp. The queries are in query/user_token.pp.

control "user_token_expiry_set" {
  title         = "Active user tokens should have an expiry date"
  description   = "A token that never expires stays a working credential until someone revokes it by hand."
  documentation = file("./docs/controls/user_token_expiry_set.md")
  severity      = "high"
  query         = query.user_token_expiry_set

  tags = merge(local.tokens_common_tags, local.owasp_nhi_tags, {
    owasp_nhi_item_id = "NHI7"
  })
}

control "user_token_rotated_within_max_age" {
  title         = "Active user tokens should be rotated within ${var.max_token_age_days} days"
  description   = "Tokens older than the maximum age should be replaced by new ones, as cloud access keys are rotated every 90 days."
  documentation = file("./docs/controls/user_token_rotated_within_max_age.md")
  severity      = "medium"
  query         = query.user_token_rotated_within_max_age

  args = {
    max_token_age_days = var.max_token_age_days
  }

  tags = merge(local.tokens_common_tags, local.cis_analogue_tags, {
    cis_aws_analogue_item_id = "1.14"
    cis_gcp_analogue_item_id = "1.15"
    cis_oci_analogue_item_id = "1.10"
    pci_dss_v4               = "true"
    pci_dss_v4_item_id       = "8.6.3"
  })
}

control "user_token_used_recently" {
  title         = "Active user tokens should have been used within ${var.max_unused_days} days"
  description   = "Tokens nobody uses can be revoked without breaking anything; left alone they are credentials waiting to be found."
  documentation = file("./docs/controls/user_token_used_recently.md")
  severity      = "medium"
  query         = query.user_token_used_recently

  args = {
    max_unused_days = var.max_unused_days
  }

  tags = merge(local.tokens_common_tags, local.cis_analogue_tags, {
    cis_aws_analogue_item_id = "1.12"
  })
}

control "user_token_leaked_revoked" {
  title         = "Leaked user tokens should be revoked"
  description   = "A token whose secret was found in public must be revoked: anyone may already hold it."
  documentation = file("./docs/controls/user_token_leaked_revoked.md")
  severity      = "critical"
  query         = query.user_token_leaked_revoked

  tags = merge(local.tokens_common_tags, local.owasp_nhi_tags, {
    owasp_nhi_item_id = "NHI2"
  })
}

control "user_token_least_privilege" {
  title         = "Active user tokens should be read-only or limited to one team"
  description   = "Tokens that can write, or that reach a whole Vercel account instead of one team, give more than most scripts need."
  documentation = file("./docs/controls/user_token_least_privilege.md")
  severity      = "medium"
  query         = query.user_token_least_privilege

  tags = merge(local.tokens_common_tags, local.owasp_nhi_tags, {
    owasp_nhi_item_id         = "NHI5"
    nist_800_53_rev_5         = "true"
    nist_800_53_rev_5_item_id = "AC-6"
  })
}

control "user_token_one_active_per_owner" {
  title         = "Each owner should have at most one active token per provider"
  description   = "Several active tokens for one person multiply what can leak, and make it unclear which one a script uses."
  documentation = file("./docs/controls/user_token_one_active_per_owner.md")
  severity      = "low"
  query         = query.user_token_one_active_per_owner

  tags = merge(local.tokens_common_tags, local.cis_analogue_tags, {
    cis_aws_analogue_item_id = "1.13"
  })
}

control "user_token_not_expiring_soon" {
  title         = "Active user tokens should not expire within ${var.expiry_warning_days} days"
  description   = "A token about to expire will break the scripts that use it: renew or replace it first."
  documentation = file("./docs/controls/user_token_not_expiring_soon.md")
  severity      = "low"
  query         = query.user_token_not_expiring_soon

  args = {
    expiry_warning_days = var.expiry_warning_days
  }

  tags = merge(local.tokens_common_tags, {
    availability = "true"
  })
}

control "user_token_connection_short_lived_read_only" {
  title         = "The token this connection uses should expire within ${var.max_token_age_days} days of its creation and be read-only"
  description   = "The audit's own credential reads every token's metadata: it should be short-lived and unable to write."
  documentation = file("./docs/controls/user_token_connection_short_lived_read_only.md")
  severity      = "medium"
  query         = query.user_token_connection_short_lived_read_only

  args = {
    max_token_age_days = var.max_token_age_days
  }

  tags = local.tokens_common_tags
}

control "user_token_owner_active" {
  title         = "Active user tokens should belong to an active owner"
  description   = "A token outliving its owner's account is a credential nobody answers for: offboarding should have revoked it."
  documentation = file("./docs/controls/user_token_owner_active.md")
  severity      = "high"
  query         = query.user_token_owner_active

  tags = merge(local.tokens_common_tags, local.owasp_nhi_tags, {
    owasp_nhi_item_id = "NHI1"
  })
}

control "user_token_network_restricted" {
  title         = "Active user tokens should be usable only from known networks, where the provider can limit them"
  description   = "A token limited to the organisation's own network zones is of no use to whoever copies it elsewhere."
  documentation = file("./docs/controls/user_token_network_restricted.md")
  severity      = "medium"
  query         = query.user_token_network_restricted

  tags = local.tokens_common_tags
}
