dashboard "token_detail" {
  title         = "User Token Detail"
  documentation = file("./docs/dashboards/token_detail.md")

  tags = merge(local.tokens_common_tags, {
    type = "Detail"
  })

  // The value is the resource id the controls report: provider || ':' || id.
  input "token_id" {
    title = "Select a token:"
    query = query.user_token_input
    width = 4
  }

  container {
    card {
      query = query.user_token_state
      width = 2
      args = {
        token_id = self.input.token_id.value
      }
    }

    card {
      query = query.user_token_age
      width = 2
      args = {
        token_id           = self.input.token_id.value
        max_token_age_days = var.max_token_age_days
      }
    }

    card {
      query = query.user_token_expiry
      width = 2
      args = {
        token_id            = self.input.token_id.value
        expiry_warning_days = var.expiry_warning_days
      }
    }

    card {
      query = query.user_token_last_use
      width = 2
      args = {
        token_id        = self.input.token_id.value
        max_unused_days = var.max_unused_days
      }
    }

    card {
      query = query.user_token_access
      width = 2
      args = {
        token_id = self.input.token_id.value
      }
    }

    card {
      query = query.user_token_leak
      width = 2
      args = {
        token_id = self.input.token_id.value
      }
    }
  }

  container {
    table {
      title = "Overview"
      type  = "line"
      width = 6
      query = query.user_token_overview
      args = {
        token_id = self.input.token_id.value
      }
    }

    table {
      title = "Scopes"
      width = 6
      query = query.user_token_scopes
      args = {
        token_id = self.input.token_id.value
      }
    }
  }
}

query "user_token_input" {
  sql = <<-EOQ
    select
      coalesce(title, id) || ' (' || provider || ')' as label,
      provider || ':' || id as value,
      json_build_object(
        'email', email,
        'active', active
      ) as tags
    from
      user_tokens
    order by
      label,
      value;
  EOQ
}

// Every detail query selects its token with this pair of conditions, which the plugin
// can push down (provider = and id =: one Vercel request).
//   provider = split_part($1, ':', 1) and id = substr($1, strpos($1, ':') + 1)

query "user_token_state" {
  sql = <<-EOQ
    select
      'State' as label,
      case
        when revoked_at is not null then 'Revoked'
        when active is false then 'Inactive'
        else 'Active'
      end as value,
      case when active is false then 'info' else 'ok' end as type
    from
      user_tokens
    where
      provider = split_part($1, ':', 1)
      and id = substr($1, strpos($1, ':') + 1);
  EOQ

  param "token_id" {}
}

query "user_token_age" {
  sql = <<-EOQ
    select
      'Age in Days' as label,
      floor(extract(epoch from now() - created_at) / 86400)::int as value,
      case
        when active is not false and floor(extract(epoch from now() - created_at) / 86400) > $2::int then 'alert'
        else 'ok'
      end as type
    from
      user_tokens
    where
      provider = split_part($1, ':', 1)
      and id = substr($1, strpos($1, ':') + 1);
  EOQ

  param "token_id" {}
  param "max_token_age_days" {}
}

query "user_token_expiry" {
  sql = <<-EOQ
    select
      'Expires' as label,
      case
        when expires_at is null then 'Never'
        when expires_at <= now() then to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD') || ' (passed)'
        when p.extends_expiry_on_use then to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD') || ' (if unused)'
        else to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD')
      end as value,
      case
        when active is false then 'info'
        when expires_at is null then 'alert'
        when floor(extract(epoch from expires_at - now()) / 86400) < $2::int and p.extends_expiry_on_use then 'info'
        when floor(extract(epoch from expires_at - now()) / 86400) < $2::int then 'alert'
        else 'ok'
      end as type
    from
      user_tokens
      join (select provider, extends_expiry_on_use from token_providers) as p using (provider)
    where
      provider = split_part($1, ':', 1)
      and id = substr($1, strpos($1, ':') + 1);
  EOQ

  param "token_id" {}
  param "expiry_warning_days" {}
}

query "user_token_last_use" {
  sql = <<-EOQ
    select
      'Last Used' as label,
      case
        when last_used_at is not null then to_char(last_used_at at time zone 'UTC', 'YYYY-MM-DD')
        when not p.records_last_use then 'Not recorded'
        else 'Never'
      end as value,
      case
        when active is false then 'info'
        when floor(extract(epoch from now() - last_used_at) / 86400) > $2::int then 'alert'
        when last_used_at is null and not p.records_last_use then 'info'
        when last_used_at is null and floor(extract(epoch from now() - created_at) / 86400) > $2::int then 'alert'
        else 'ok'
      end as type
    from
      user_tokens
      join (select provider, records_last_use, detects_leaks, has_read_only_tokens, limits_to_team from token_providers) as p using (provider)
    where
      provider = split_part($1, ':', 1)
      and id = substr($1, strpos($1, ':') + 1);
  EOQ

  param "token_id" {}
  param "max_unused_days" {}
}

query "user_token_access" {
  sql = <<-EOQ
    select
      'Access' as label,
      case
        when p.has_read_only_tokens and can_write then 'Can write'
        when p.has_read_only_tokens and can_write is false then 'Read-only'
        when p.limits_to_team and team_id is null then 'Whole account'
        when team_id is not null then (
          -- scopes that name a team, where the provider's scope list has that shape
          select
            case when n > 1 then n || ' teams' else 'One team' end
          from
            jsonb_array_length(jsonb_path_query_array(coalesce(scopes, '[]'), 'lax $[*] ? (@.type == "team")')) as n
        )
        else 'Unknown'
      end as value,
      case
        when active is false then 'info'
        when (p.has_read_only_tokens and can_write) or (p.limits_to_team and not p.has_read_only_tokens and team_id is null) then 'alert'
        else 'ok'
      end as type
    from
      user_tokens
      join (select provider, records_last_use, detects_leaks, has_read_only_tokens, limits_to_team from token_providers) as p using (provider)
    where
      provider = split_part($1, ':', 1)
      and id = substr($1, strpos($1, ':') + 1);
  EOQ

  param "token_id" {}
}

query "user_token_leak" {
  sql = <<-EOQ
    select
      'Leak' as label,
      case
        when leaked_at is not null and revoked_at is null then 'Leaked, not revoked'
        when leaked_at is not null then 'Leaked, revoked'
        when not p.detects_leaks then 'Not detected'
        else 'None known'
      end as value,
      case
        when leaked_at is not null and revoked_at is null then 'alert'
        when not p.detects_leaks then 'info'
        else 'ok'
      end as type
    from
      user_tokens
      join (select provider, records_last_use, detects_leaks, has_read_only_tokens, limits_to_team from token_providers) as p using (provider)
    where
      provider = split_part($1, ':', 1)
      and id = substr($1, strpos($1, ':') + 1);
  EOQ

  param "token_id" {}
}

query "user_token_overview" {
  sql = <<-EOQ
    select
      provider as "Provider",
      id as "ID",
      name as "Name",
      title as "Title",
      email as "Owner",
      type as "Type",
      origin as "Origin",
      team_id as "Team",
      prefix as "Prefix",
      suffix as "Suffix",
      can_write as "Can Write",
      active as "Active",
      is_current as "Used by This Connection",
      created_at as "Created",
      updated_at as "Updated",
      expires_at as "Expires",
      last_used_at as "Last Used",
      revoked_at as "Revoked",
      leaked_at as "Leaked",
      leaked_url as "Leaked At URL"
    from
      user_tokens
    where
      provider = split_part($1, ':', 1)
      and id = substr($1, strpos($1, ':') + 1);
  EOQ

  param "token_id" {}
}

// Vercel scopes as Vercel returns them; the Query Server has none.
query "user_token_scopes" {
  sql = <<-EOQ
    select
      s ->> 'type' as "Type",
      s ->> 'teamId' as "Team",
      s ->> 'origin' as "Origin",
      to_timestamp((s ->> 'createdAt')::numeric / 1000) as "Created",
      to_timestamp((s ->> 'expiresAt')::numeric / 1000) as "Expires",
      s -> 'sudo' as "Sudo"
    from
      user_tokens as t,
      jsonb_array_elements(case jsonb_typeof(t.scopes) when 'array' then t.scopes else '[]'::jsonb end) as s
    where
      t.provider = split_part($1, ':', 1)
      and t.id = substr($1, strpos($1, ':') + 1)
    order by
      1,
      2;
  EOQ

  param "token_id" {}
}
