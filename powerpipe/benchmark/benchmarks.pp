// Benchmarks: every control, then one per framework family. Controls live in
// control/user_token.pp; one control may sit in several benchmarks.

benchmark "all_controls" {
  title         = "All Controls"
  description   = "Every token hygiene control of this mod."
  documentation = file("./docs/index.md")
  children = [
    control.user_token_expiry_set,
    control.user_token_rotated_within_max_age,
    control.user_token_used_recently,
    control.user_token_leaked_revoked,
    control.user_token_least_privilege,
    control.user_token_one_active_per_owner,
    control.user_token_not_expiring_soon,
    control.user_token_connection_short_lived_read_only,
    control.user_token_owner_active,
    control.user_token_network_restricted,
  ]

  tags = merge(local.tokens_common_tags, {
    type = "Benchmark"
  })
}

benchmark "owasp_nhi" {
  title         = "OWASP Non-Human Identities Top 10 (2025)"
  description   = "The items of the OWASP NHI Top 10 that token metadata can show: improper offboarding (NHI1), secret leakage (NHI2), overprivileged identities (NHI5) and long-lived secrets (NHI7)."
  documentation = file("./docs/benchmark_owasp_nhi.md")
  children = [
    control.user_token_owner_active,
    control.user_token_leaked_revoked,
    control.user_token_least_privilege,
    control.user_token_expiry_set,
  ]

  tags = merge(local.tokens_common_tags, local.owasp_nhi_tags, {
    type = "Benchmark"
  })
}

benchmark "rotation" {
  title         = "CIS-style Credential Rotation"
  description   = "The CIS Foundations rules for access keys (rotate within 90 days, disable after 45 days unused, one active key per user), applied to user tokens, with PCI DSS v4.0 8.6.3."
  documentation = file("./docs/benchmark_rotation.md")
  children = [
    control.user_token_rotated_within_max_age,
    control.user_token_used_recently,
    control.user_token_one_active_per_owner,
  ]

  tags = merge(local.tokens_common_tags, local.cis_analogue_tags, {
    type = "Benchmark"
  })
}

benchmark "availability" {
  title         = "Availability"
  description   = "Tokens about to expire, before the scripts that use them fail."
  documentation = file("./docs/benchmark_availability.md")
  children = [
    control.user_token_not_expiring_soon,
  ]

  tags = merge(local.tokens_common_tags, {
    availability = "true"
    type         = "Benchmark"
  })
}
