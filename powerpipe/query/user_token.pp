// Control queries over user_tokens. Each returns resource, status, reason, then the
// dimensions provider and email.
//
// The resource is provider || ':' || id (ids are unique per provider only), except
// for user_token_one_active_per_owner, whose resource is the owner:
// provider || ':' || email.
//
// Inactive tokens (revoked, expired or switched off: active is false) cannot be used,
// so the hygiene rules skip them with a reason that says so. The leak rule does not:
// a leaked token that was not revoked alarms whatever its state. A null active is
// treated as active, so that missing data never hides a finding.
//
// Where a provider does not record what a rule needs (token_providers says what each
// records: last use, leaks, owner status), the row is skipped with that reason, never
// reported ok. No query names a provider: they read token_providers' capabilities.

query "user_token_expiry_set" {
  sql = <<-EOQ
    select
      provider || ':' || id as resource,
      case
        when active is false then 'skip'
        when expires_at is null then 'alarm'
        when expires_at <= now() then 'alarm'
        else 'ok'
      end as status,
      coalesce(title, id) || case
        when active is false then ' is not active (revoked, expired or switched off).'
        when expires_at is null then ' never expires.'
        when expires_at <= now() then ' is still accepted after its expiry on ' || to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD') || '.'
        else ' expires on ' || to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD') || '.'
      end as reason,
      provider,
      email
    from
      user_tokens
    order by
      resource;
  EOQ
}

query "user_token_rotated_within_max_age" {
  sql = <<-EOQ
    with tokens as (
      select
        provider,
        id,
        coalesce(title, id) as label,
        email,
        active,
        created_at,
        floor(extract(epoch from now() - created_at) / 86400)::int as age_days
      from
        user_tokens
    )
    select
      provider || ':' || id as resource,
      case
        when active is false then 'skip'
        when created_at is null then 'info'
        when age_days > $1::int then 'alarm'
        else 'ok'
      end as status,
      label || case
        when active is false then ' is not active (revoked, expired or switched off).'
        when created_at is null then ' has no creation date.'
        when age_days > $1::int then ' was created ' || age_days || ' days ago, more than ' || $1::int || '.'
        when age_days = 1 then ' was created 1 day ago.'
        else ' was created ' || age_days || ' days ago.'
      end as reason,
      provider,
      email
    from
      tokens
    order by
      resource;
  EOQ

  param "max_token_age_days" {
    description = "Tokens created more than this many whole days ago alarm."
  }
}

query "user_token_used_recently" {
  sql = <<-EOQ
    with tokens as (
      select
        provider,
        id,
        coalesce(title, id) as label,
        email,
        active,
        created_at,
        last_used_at,
        p.provider_title,
        p.records_last_use,
        floor(extract(epoch from now() - created_at) / 86400)::int as age_days,
        floor(extract(epoch from now() - last_used_at) / 86400)::int as unused_days
      from
        user_tokens
        join (select provider, title as provider_title, records_last_use from token_providers) as p using (provider)
    )
    select
      provider || ':' || id as resource,
      case
        when active is false then 'skip'
        when unused_days > $1::int then 'alarm'
        when last_used_at is not null then 'ok'
        when not records_last_use then 'skip'
        when created_at is null then 'info'
        when age_days > $1::int then 'alarm'
        else 'ok'
      end as status,
      label || case
        when active is false then ' is not active (revoked, expired or switched off).'
        when unused_days > $1::int then ' was last used ' || unused_days || ' days ago, more than ' || $1::int || '.'
        when unused_days = 0 then ' was last used today.'
        when unused_days = 1 then ' was last used yesterday.'
        when last_used_at is not null then ' was last used ' || unused_days || ' days ago.'
        when not records_last_use then ': ' || provider_title || ' does not record when a token is used.'
        when created_at is null then ' has no record of use and no creation date.'
        when age_days > $1::int then ' has never been used in the ' || age_days || ' days since it was created, more than ' || $1::int || '.'
        else ' has not been used yet; it was created ' || age_days || ' days ago.'
      end as reason,
      provider,
      email
    from
      tokens
    order by
      resource;
  EOQ

  param "max_unused_days" {
    description = "Tokens unused for more than this many whole days alarm."
  }
}

query "user_token_leaked_revoked" {
  sql = <<-EOQ
    select
      provider || ':' || id as resource,
      case
        when leaked_at is not null and revoked_at is null then 'alarm'
        when leaked_at is not null then 'ok'
        when not p.detects_leaks then 'skip'
        else 'ok'
      end as status,
      coalesce(title, id) || case
        when leaked_at is not null and revoked_at is null then ' leaked on ' || to_char(leaked_at at time zone 'UTC', 'YYYY-MM-DD')
          || coalesce(' (' || leaked_url || ')', '') || ' and is not revoked'
          || case when active is false then ' (no longer active, but revoke it anyway).' else '.' end
        when leaked_at is not null then ' leaked on ' || to_char(leaked_at at time zone 'UTC', 'YYYY-MM-DD')
          || ' and was revoked on ' || to_char(revoked_at at time zone 'UTC', 'YYYY-MM-DD') || '.'
        when not p.detects_leaks then ': ' || p.provider_title || ' does not detect leaked tokens.'
        else ' has no known leak.'
      end as reason,
      provider,
      email
    from
      user_tokens
      join (select provider, title as provider_title, detects_leaks from token_providers) as p using (provider)
    order by
      resource;
  EOQ
}

query "user_token_least_privilege" {
  sql = <<-EOQ
    with tokens as (
      select
        t.*,
        p.provider_title,
        p.has_read_only_tokens,
        p.limits_to_team,
        -- scopes that name a team, where the provider's scope list has that shape
        jsonb_array_length(jsonb_path_query_array(coalesce(t.scopes, '[]'), 'lax $[*] ? (@.type == "team")')) as team_scopes
      from
        user_tokens as t
        join (select provider, title as provider_title, has_read_only_tokens, limits_to_team from token_providers) as p using (provider)
    )
    select
      provider || ':' || id as resource,
      case
        when active is false then 'skip'
        when has_read_only_tokens and can_write then 'alarm'
        when has_read_only_tokens and can_write is null then 'alarm'
        when limits_to_team and not has_read_only_tokens and team_id is null then 'alarm'
        else 'ok'
      end as status,
      coalesce(title, id) || case
        when active is false then ' is not active (revoked, expired or switched off).'
        when has_read_only_tokens and can_write then ' can write.'
        when has_read_only_tokens and can_write is null then ' may write: ' || provider_title || ' did not say what its owner may do.'
        when limits_to_team and not has_read_only_tokens and team_id is null then ' reaches the whole ' || provider_title || ' account: it is limited to no team.'
        when team_scopes > 1 then ' is limited to ' || team_scopes || ' teams, the narrowest ' || team_id || '.'
        when team_id is not null then ' is limited to ' || team_id || '.'
        when can_write is false then ' is read-only.'
        else ' has no write flag.'
      end as reason,
      provider,
      email
    from
      tokens
    order by
      resource;
  EOQ
}

query "user_token_one_active_per_owner" {
  sql = <<-EOQ
    select
      provider || ':' || coalesce(email, '(no email)') as resource,
      case
        when count(*) filter (where active is not false) > 1 then 'alarm'
        else 'ok'
      end as status,
      coalesce(email, 'An owner without an email') || ' has '
        || count(*) filter (where active is not false) || ' active '
        || p.provider_title
        || case when count(*) filter (where active is not false) = 1 then ' token' else ' tokens' end
        || coalesce(', the oldest created on ' || to_char(min(created_at) filter (where active is not false) at time zone 'UTC', 'YYYY-MM-DD'), '')
        || '.' as reason,
      provider,
      email
    from
      user_tokens
      join (select provider, title as provider_title from token_providers) as p using (provider)
    group by
      provider,
      p.provider_title,
      email
    order by
      resource;
  EOQ
}

query "user_token_not_expiring_soon" {
  sql = <<-EOQ
    with tokens as (
      select
        provider,
        id,
        coalesce(title, id) as label,
        email,
        active,
        expires_at,
        p.provider_title,
        p.extends_expiry_on_use,
        floor(extract(epoch from expires_at - now()) / 86400)::int as days_left
      from
        user_tokens
        join (select provider, title as provider_title, extends_expiry_on_use from token_providers) as p using (provider)
    )
    select
      provider || ':' || id as resource,
      case
        when active is false then 'skip'
        when expires_at is null then 'ok'
        when expires_at <= now() then 'info'
        when days_left < $1::int and extends_expiry_on_use then 'info'
        when days_left < $1::int then 'alarm'
        else 'ok'
      end as status,
      label || case
        when active is false then ' is not active (revoked, expired or switched off).'
        when expires_at is null then ' never expires.'
        when expires_at <= now() then ' is still accepted after its expiry on ' || to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD') || '.'
        when days_left < $1::int and extends_expiry_on_use then ' lapses '
          || case when days_left = 0 then 'within a day' when days_left = 1 then 'in 1 day' else 'in ' || days_left || ' days' end
          || ', on ' || to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD') || ', unless it is used before: '
          || provider_title || ' moves a token''s expiry forward each time it is used.'
        when days_left = 0 then ' expires within a day, on ' || to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC.'
        else ' expires in ' || days_left || case when days_left = 1 then ' day' else ' days' end
          || ', on ' || to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD')
          || case when days_left < $1::int then ', within ' || $1::int || '.' else '.' end
      end as reason,
      provider,
      email
    from
      tokens
    order by
      resource;
  EOQ

  param "expiry_warning_days" {
    description = "Tokens expiring within this many days (fewer whole days left) alarm."
  }
}

query "user_token_connection_short_lived_read_only" {
  sql = <<-EOQ
    with tokens as (
      select
        provider,
        id,
        coalesce(title, id) as label,
        email,
        active,
        can_write,
        expires_at,
        p.provider_title,
        p.has_read_only_tokens,
        floor(extract(epoch from expires_at - coalesce(created_at, now())) / 86400)::int as lifetime_days
      from
        user_tokens
        join (select provider, title as provider_title, has_read_only_tokens from token_providers) as p using (provider)
      where
        is_current
    )
    select
      provider || ':' || id as resource,
      case
        when active is false then 'skip'
        when expires_at is null or expires_at <= now() or lifetime_days > $1::int or (has_read_only_tokens and can_write) then 'alarm'
        else 'ok'
      end as status,
      label || ', the token this connection uses, ' || case
        when active is false then 'is not active.'
        else concat_ws(' and ',
          case
            when expires_at is null then 'never expires'
            when expires_at <= now() then 'is still accepted after its expiry on ' || to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD')
            when lifetime_days > $1::int then 'lives ' || lifetime_days || ' days, more than ' || $1::int
            else 'expires on ' || to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD')
          end,
          case
            when not has_read_only_tokens then 'can write (' || provider_title || ' has no read-only tokens)'
            when can_write then 'can write'
            when can_write is false then 'is read-only'
          end
        ) || '.'
      end as reason,
      provider,
      email
    from
      tokens
    order by
      resource;
  EOQ

  param "max_token_age_days" {
    description = "The longest lifetime (expires_at - created_at, in whole days) allowed."
  }
}

query "user_token_owner_active" {
  sql = <<-EOQ
    select
      provider || ':' || id as resource,
      case
        when owner_active is false and active is not false then 'alarm'
        when owner_active is false then 'ok'
        when owner_active is null then 'skip'
        else 'ok'
      end as status,
      coalesce(title, id) || case
        when owner_active is false and active is not false then ' is active, but its owner''s account is not active (deactivated, blocked or suspended).'
        when owner_active is false then ' belongs to an account that is not active, and is not active itself.'
        when not p.knows_owner_active then ': ' || p.provider_title || ' does not say whether the owner is active.'
        when owner_active is null then ': the owner''s account status is unknown.'
        else ' belongs to an active account.'
      end as reason,
      provider,
      email
    from
      user_tokens
      join (select provider, title as provider_title, knows_owner_active from token_providers) as p using (provider)
    order by
      resource;
  EOQ
}

query "user_token_network_restricted" {
  sql = <<-EOQ
    with tokens as (
      select
        provider,
        id,
        coalesce(title, id) as label,
        email,
        active,
        network,
        p.provider_title,
        p.restricts_network,
        -- the zones a network condition limits the token to, where it has that shape
        (
          select string_agg(zone, ', ')
          from jsonb_array_elements_text(case when jsonb_typeof(network -> 'include') = 'array' then network -> 'include' else '[]' end) as zone
        ) as zones,
        jsonb_array_length(case when jsonb_typeof(network -> 'include') = 'array' then network -> 'include' else '[]' end) as zone_count
      from
        user_tokens
        join (select provider, title as provider_title, restricts_network from token_providers) as p using (provider)
    )
    select
      provider || ':' || id as resource,
      case
        when active is false then 'skip'
        when not restricts_network then 'skip'
        when network ->> 'connection' = 'ZONE' and zone_count > 0 then 'ok'
        else 'alarm'
      end as status,
      label || case
        when active is false then ' is not active (revoked, expired or switched off).'
        when not restricts_network then ': ' || provider_title || ' cannot limit where a token is used from.'
        when network ->> 'connection' = 'ZONE' and zone_count > 0 then ' can be used only from '
          || case when zone_count = 1 then 'network zone ' else 'network zones ' end || zones || '.'
        when network is null then ' can be used from any network: it has no network condition.'
        when network ->> 'connection' = 'ZONE' then ' can be used from any network but the zones it excludes.'
        else ' can be used from any network.'
      end as reason,
      provider,
      email
    from
      tokens
    order by
      resource;
  EOQ
}
