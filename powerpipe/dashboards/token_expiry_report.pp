dashboard "token_expiry_report" {
  title         = "User Token Expiry Report"
  documentation = file("./docs/dashboards/token_expiry_report.md")

  tags = merge(local.tokens_common_tags, {
    type     = "Report"
    category = "Expiry"
  })

  container {
    card {
      query = query.user_token_past_expiry_count
      width = 2
    }

    card {
      query = query.user_token_expiring_count
      width = 2
      args = {
        label        = "Expire in 7 Days"
        days         = 7
        warning_days = var.expiry_warning_days
      }
    }

    card {
      query = query.user_token_expiring_count
      width = 2
      args = {
        label        = "Expire in 30 Days"
        days         = 30
        warning_days = var.expiry_warning_days
      }
    }

    card {
      query = query.user_token_expiring_count
      width = 2
      args = {
        label        = "Expire in 90 Days"
        days         = 90
        warning_days = var.expiry_warning_days
      }
    }

    card {
      query = query.user_token_never_expiring_count
      width = 2
    }
  }

  container {
    chart {
      title = "Expiries per Week, Next 90 Days"
      type  = "column"
      query = query.user_token_expiry_per_week
      width = 6
    }
  }

  container {
    table {
      title = "Active Tokens Expiring Within 90 Days or Never"
      query = query.user_token_expiry_timeline

      column "resource" {
        display = "none"
      }

      column "Title" {
        href = "${dashboard.token_detail.url_path}?input.token_id={{.'resource' | @uri}}"
      }
    }
  }
}

// Active tokens whose expiry has passed but which the provider still accepts (a Query
// Server expiry stored in milliseconds; see docs/tables/user_tokens.md).
query "user_token_past_expiry_count" {
  sql = <<-EOQ
    select
      'Accepted After Expiry' as label,
      count(*) as value,
      case when count(*) > 0 then 'alert' else 'ok' end as type
    from
      user_tokens
    where
      active is not false
      and expires_at <= now();
  EOQ
}

// Active tokens expiring in fewer than `days` whole days (cumulative), the rule of
// user_token_not_expiring_soon; the card alarms when the window lies within the
// warning window and holds a token whose expiry does not move forward with use (the
// others lapse only if nobody uses them).
query "user_token_expiring_count" {
  sql = <<-EOQ
    select
      $1::text as label,
      count(*) as value,
      case
        when count(*) filter (where not p.extends_expiry_on_use) > 0 and $2::int <= $3::int then 'alert'
        when count(*) > 0 then 'info'
        else 'ok'
      end as type
    from
      user_tokens
      join (select provider, extends_expiry_on_use from token_providers) as p using (provider)
    where
      active is not false
      and expires_at > now()
      and floor(extract(epoch from expires_at - now()) / 86400) < $2::int;
  EOQ

  param "label" {}
  param "days" {}
  param "warning_days" {}
}

query "user_token_never_expiring_count" {
  sql = <<-EOQ
    select
      'Never Expire' as label,
      count(*) as value,
      case when count(*) > 0 then 'alert' else 'ok' end as type
    from
      user_tokens
    where
      active is not false
      and expires_at is null;
  EOQ
}

query "user_token_expiry_per_week" {
  sql = <<-EOQ
    select
      to_char(date_trunc('week', expires_at at time zone 'UTC'), 'YYYY-MM-DD') as "Week",
      provider as "Provider",
      count(*) as "Tokens"
    from
      user_tokens
    where
      active is not false
      and expires_at > now()
      and floor(extract(epoch from expires_at - now()) / 86400) < 90
    group by
      1,
      provider
    order by
      1,
      provider;
  EOQ
}

query "user_token_expiry_timeline" {
  sql = <<-EOQ
    with tokens as (
      select
        provider,
        id,
        coalesce(title, id) as label,
        email,
        expires_at,
        created_at,
        floor(extract(epoch from expires_at - now()) / 86400)::int as days_left
      from
        user_tokens
      where
        active is not false
    )
    select
      provider || ':' || id as resource,
      label as "Title",
      provider as "Provider",
      email as "Owner",
      case
        when expires_at is null then 'never'
        when expires_at <= now() then 'accepted after expiry'
        when days_left < 7 then '7 days'
        when days_left < 30 then '30 days'
        else '90 days'
      end as "Window",
      expires_at as "Expires",
      days_left as "Days Left",
      created_at as "Created"
    from
      tokens
    where
      expires_at is null
      or days_left < 90
    order by
      expires_at nulls last,
      resource;
  EOQ
}
