dashboard "token_owner_report" {
  title         = "User Token Owner Report"
  documentation = file("./docs/dashboards/token_owner_report.md")

  tags = merge(local.tokens_common_tags, {
    type     = "Report"
    category = "Owner"
  })

  container {
    card {
      query = query.user_token_owner_count
      width = 2
    }

    card {
      query = query.user_token_owner_several_active_count
      width = 2
    }

    card {
      query = query.user_token_owner_write_capable_count
      width = 2
    }

    card {
      query = query.user_token_owner_leaked_count
      width = 2
    }

    card {
      query = query.user_token_owner_deactivated_count
      width = 2
    }
  }

  container {
    table {
      title = "Tokens per Owner and Provider"
      query = query.user_token_owners
    }
  }
}

query "user_token_owner_count" {
  sql = <<-EOQ
    select
      'Owners' as label,
      count(distinct (provider, email)) as value,
      'info' as type
    from
      user_tokens;
  EOQ
}

query "user_token_owner_several_active_count" {
  sql = <<-EOQ
    with owners as (
      select
        provider,
        email
      from
        user_tokens
      where
        active is not false
      group by
        provider,
        email
      having
        count(*) > 1
    )
    select
      'More Than One Active Token' as label,
      count(*) as value,
      case when count(*) > 0 then 'alert' else 'ok' end as type
    from
      owners;
  EOQ
}

query "user_token_owner_write_capable_count" {
  sql = <<-EOQ
    select
      'With Write-Capable Tokens' as label,
      count(distinct (provider, email)) as value,
      case when count(*) > 0 then 'alert' else 'ok' end as type
    from
      user_tokens
    where
      active is not false
      and can_write;
  EOQ
}

query "user_token_owner_leaked_count" {
  sql = <<-EOQ
    select
      'With Unrevoked Leaked Tokens' as label,
      count(distinct (provider, email)) as value,
      case when count(*) > 0 then 'alert' else 'ok' end as type
    from
      user_tokens
    where
      leaked_at is not null
      and revoked_at is null;
  EOQ
}

query "user_token_owner_deactivated_count" {
  sql = <<-EOQ
    select
      'Deactivated With Active Tokens' as label,
      count(distinct (provider, email)) as value,
      case when count(*) > 0 then 'alert' else 'ok' end as type
    from
      user_tokens
    where
      owner_active is false
      and active is not false;
  EOQ
}

// One row per owner and provider. Last Used is null where the provider does not record
// use; Account-Wide counts active tokens not limited to a team where a provider can limit them.
query "user_token_owners" {
  sql = <<-EOQ
    select
      email as "Owner",
      provider as "Provider",
      count(*) as "Tokens",
      count(*) filter (where active is not false) as "Active",
      min(created_at) as "Oldest Created",
      max(created_at) as "Newest Created",
      max(last_used_at) as "Last Used",
      count(*) filter (where active is not false and can_write) as "Write-Capable",
      count(*) filter (where active is not false and p.limits_to_team and team_id is null) as "Account-Wide",
      count(*) filter (where leaked_at is not null and revoked_at is null) as "Leaked, Not Revoked",
      bool_and(owner_active) as "Owner Active"
    from
      user_tokens
      join (select provider, records_last_use, detects_leaks, has_read_only_tokens, limits_to_team from token_providers) as p using (provider)
    group by
      provider,
      email
    order by
      "Owner",
      "Provider";
  EOQ
}
