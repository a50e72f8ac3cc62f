dashboard "token_age_report" {
  title         = "User Token Age Report"
  documentation = file("./docs/dashboards/token_age_report.md")

  tags = merge(local.tokens_common_tags, {
    type     = "Report"
    category = "Age"
  })

  input "max_age_days" {
    title = "Older than"
    width = 2
    # The first option is the mod's default (var.max_token_age_days).
    option "90" {
      label = "90 days"
    }
    option "30" {
      label = "30 days"
    }
    option "45" {
      label = "45 days"
    }
    option "60" {
      label = "60 days"
    }
    option "180" {
      label = "180 days"
    }
    option "365" {
      label = "1 year"
    }
  }

  container {
    card {
      query = query.user_token_active_count
      width = 2
    }

    card {
      query = query.user_token_older_than_count
      width = 2
      args = {
        max_age_days = self.input.max_age_days.value
      }
    }

    card {
      query = query.user_token_age_bucket_count
      width = 2
      args = {
        label        = "< 30 Days"
        min_days     = 0
        max_days     = 30
        max_age_days = self.input.max_age_days.value
      }
    }

    card {
      query = query.user_token_age_bucket_count
      width = 2
      args = {
        label        = "30-90 Days"
        min_days     = 30
        max_days     = 90
        max_age_days = self.input.max_age_days.value
      }
    }

    card {
      query = query.user_token_age_bucket_count
      width = 2
      args = {
        label        = "90-365 Days"
        min_days     = 90
        max_days     = 365
        max_age_days = self.input.max_age_days.value
      }
    }

    card {
      query = query.user_token_age_bucket_count
      width = 2
      args = {
        label        = "> 1 Year"
        min_days     = 365
        max_days     = 1000000
        max_age_days = self.input.max_age_days.value
      }
    }
  }

  container {
    chart {
      title = "Active Tokens by Age"
      type  = "column"
      query = query.user_token_age_by_provider
      width = 6
    }
  }

  container {
    table {
      title = "Active Tokens Older Than the Threshold"
      query = query.user_token_aged
      args = {
        max_age_days = self.input.max_age_days.value
      }

      column "resource" {
        display = "none"
      }

      column "Title" {
        href = "${dashboard.token_detail.url_path}?input.token_id={{.'resource' | @uri}}"
      }
    }
  }
}

query "user_token_active_count" {
  sql = <<-EOQ
    select
      'Active Tokens' as label,
      count(*) as value,
      'info' as type
    from
      user_tokens
    where
      active is not false;
  EOQ
}

query "user_token_older_than_count" {
  sql = <<-EOQ
    select
      'Older Than ' || $1::int || ' Days' as label,
      count(*) as value,
      case when count(*) > 0 then 'alert' else 'ok' end as type
    from
      user_tokens
    where
      active is not false
      and floor(extract(epoch from now() - created_at) / 86400) > $1::int;
  EOQ

  param "max_age_days" {}
}

// Active tokens aged min_days (inclusive) to max_days (exclusive) whole days; the
// card alarms when the bucket holds a token older than max_age_days, as
// user_token_rotated_within_max_age does.
query "user_token_age_bucket_count" {
  sql = <<-EOQ
    with tokens as (
      select
        floor(extract(epoch from now() - created_at) / 86400)::int as age_days
      from
        user_tokens
      where
        active is not false
    )
    select
      $1::text as label,
      count(*) as value,
      case
        when count(*) filter (where age_days > $4::int) > 0 then 'alert'
        else 'ok'
      end as type
    from
      tokens
    where
      age_days >= $2::int
      and age_days < $3::int;
  EOQ

  param "label" {}
  param "min_days" {}
  param "max_days" {}
  param "max_age_days" {}
}

query "user_token_age_by_provider" {
  sql = <<-EOQ
    with buckets(bucket, min_days, max_days, ord) as (
      values
        ('< 30 days', 0, 30, 1),
        ('30-90 days', 30, 90, 2),
        ('90-365 days', 90, 365, 3),
        ('> 1 year', 365, 1000000, 4)
    )
    select
      b.bucket as "Age",
      t.provider as "Provider",
      count(t.provider) as "Tokens"
    from
      buckets as b
      join (
        select
          provider,
          floor(extract(epoch from now() - created_at) / 86400)::int as age_days
        from
          user_tokens
        where
          active is not false
      ) as t
        on t.age_days >= b.min_days
        and t.age_days < b.max_days
    group by
      b.bucket,
      b.ord,
      t.provider
    order by
      b.ord,
      t.provider;
  EOQ
}

query "user_token_aged" {
  sql = <<-EOQ
    select
      provider || ':' || id as resource,
      coalesce(title, id) as "Title",
      provider as "Provider",
      email as "Owner",
      floor(extract(epoch from now() - created_at) / 86400)::int as "Age in Days",
      created_at as "Created",
      expires_at as "Expires",
      last_used_at as "Last Used",
      can_write as "Can Write",
      team_id as "Team"
    from
      user_tokens
    where
      active is not false
      and floor(extract(epoch from now() - created_at) / 86400) > $1::int
    order by
      created_at,
      resource;
  EOQ

  param "max_age_days" {}
}
