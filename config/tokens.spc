connection "tokens" {
  plugin = "local/tokens"

  # Every argument below is optional and commented out. An upstream is used when its
  # credentials are set; the others contribute no rows. Arguments set here win over
  # the environment variables named beside them.

  # ---- Vercel: personal access tokens (table user_tokens) ----
  # A classic personal token with full account scope, from https://vercel.com/account/tokens.
  # Can also be set with the VERCEL_API_TOKEN environment variable.
  # vercel_api_token = "vcp_..."

  # Vercel's API address. Change it only for a proxy or a test emulation. Every address
  # must be https:// (plain http:// only for localhost, 127.0.0.0/8 or ::1) and may not
  # carry credentials or a query string.
  # Can also be set with the VERCEL_BASE_URL environment variable. Default: https://api.vercel.com
  # vercel_base_url = "https://api.vercel.com"

  # ---- Query Server (github.com/gc-victor/query): user tokens (table user_tokens) ----
  # The server's address, and the user token of an active admin user of that server
  # (the CLI's `query settings` shows it). Both or neither.
  # Can also be set with the QUERY_SERVER_URL and QUERY_SERVER_TOKEN environment variables.
  # query_server_url   = "https://query.example.com"
  # query_server_token = "eyJ..."

  # ---- GitLab: personal, group, project and service-account tokens (table user_tokens) ----
  # The instance's address (requests go to its /api/v4). Default: https://gitlab.com
  # Can also be set with the GITLAB_URL environment variable.
  # gitlab_url = "https://gitlab.example.com"

  # A personal, group, project or service-account token with the read_api scope (api
  # to revoke and rotate). An administrator's token lists every token of the instance;
  # anyone else's lists their own. Can also be set with the GITLAB_TOKEN environment variable.
  # gitlab_token = "glpat-..."

  # For a token that is not an administrator's (a group owner on GitLab.com, say):
  # groups (ids or full paths) whose group access tokens, and the project access tokens
  # of every project under them, subgroups included, are listed too.
  # gitlab_groups = ["acme", "acme/platform"]
  # ---- Okta: API tokens of an org (table user_tokens) ----
  # The org's address (not the -admin one), and an API token of an admin of that org,
  # from the Admin Console's Security > API > Tokens. A read-only admin's token lists
  # every token; revoking one needs a super admin's. Both or neither.
  # Can also be set with the OKTA_DOMAIN and OKTA_API_TOKEN environment variables.
  # okta_domain    = "https://acme.okta.com"
  # okta_api_token = "00..."

  # ---- Clerk: sign-in tokens (table sign_in_tokens) ----
  # The instance's secret key (sk_live_... or sk_test_...), from the Clerk dashboard's API keys page.
  # Can also be set with the CLERK_SECRET_KEY environment variable.
  # clerk_secret_key = "sk_test_..."

  # Clerk's Backend API address. Can also be set with the CLERK_API_URL environment variable.
  # Default: https://api.clerk.com/v1
  # clerk_base_url = "https://api.clerk.com/v1"

  # Creating or revoking a sign-in token from SQL is off until switched on here (there
  # is deliberately no environment variable for these). With create on,
  #   select url from sign_in_tokens where user_id = 'user_...'
  # mints a live sign-in link; with revoke on,
  #   select id from sign_in_tokens where id = 'sit_...' and status = 'revoked'
  # revokes one. Default: false.
  # allow_sign_in_token_create = false
  # allow_sign_in_token_revoke = false

  # Creating, changing, rotating or revoking a user token from SQL (table
  # user_token_actions) is off until switched on here, one kind at a time
  # (deliberately no environment variable). With revoke on,
  #   select id, status from user_token_actions
  #   where action = 'revoke' and provider = 'vercel' and id = 'tok_...'
  # revokes one. token_providers says which provider supports which. Default: false.
  # allow_user_token_create = false
  # allow_user_token_update = false
  # allow_user_token_rotate = false
  # allow_user_token_revoke = false

  # ---- Requests ----
  # Retries of a request that was throttled (429) or failed on the server's side (5xx),
  # honouring Retry-After, Vercel's X-RateLimit-Reset and Okta's X-Rate-Limit-Reset. 0 to 20.
  # Can also be set with the TOKENS_MAX_RETRIES environment variable. Default: 5
  # max_retries = 5

  # Seconds a single request may take, including reading its answer.
  # Can also be set with the TOKENS_REQUEST_TIMEOUT environment variable. Default: 30
  # request_timeout = 30
}

# Rate limiters, one per provider and connection. To change one, restate it whole in a
# plugin block (for example in ~/.steampipe/config/tokens.spc):
#
# plugin "local/tokens" {
#   limiter "tokens_vercel" {
#     bucket_size = 50
#     fill_rate   = 50
#     scope       = ["connection", "provider"]
#     where       = "provider = 'vercel'"
#   }
#   limiter "tokens_query_server" {
#     bucket_size = 50
#     fill_rate   = 50
#     scope       = ["connection", "provider"]
#     where       = "provider = 'query_server'"
#   }
#   # GitLab.com allows about 2,000 authenticated requests a minute.
#   limiter "tokens_gitlab" {
#     bucket_size = 30
#     fill_rate   = 30
#     scope       = ["connection", "provider"]
#     where       = "provider = 'gitlab'"
#   }
#   # Okta allows 100 to 1,200 requests a minute by plan, and a token half of that by
#   # default: this is half an Enterprise org's 600. On a free developer org, fill_rate = 0.8.
#   limiter "tokens_okta" {
#     bucket_size = 20
#     fill_rate   = 5
#     scope       = ["connection", "provider"]
#     where       = "provider = 'okta'"
#   }
#   # Clerk allows 100 requests per 10 s on development instances and 1000 on production ones.
#   limiter "tokens_clerk" {
#     bucket_size = 10
#     fill_rate   = 10
#     scope       = ["connection", "provider"]
#     where       = "provider = 'clerk'"
#   }
# }
