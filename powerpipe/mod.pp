mod "tokens" {
  # hub metadata
  title         = "Tokens"
  description   = "Audit the API tokens of people across Vercel and Query Server: tokens that never expire, are old, unused, leaked, over-privileged or about to expire, with controls mapped to OWASP NHI and CIS-style rotation rules, and reports by age, expiry and owner."
  color         = "#5A6B86"
  documentation = file("./docs/index.md")
  categories    = ["security", "compliance", "identity"]

  # The database holding the user_tokens table: Steampipe with the tokens plugin, or
  # PostgreSQL with the steampipe_postgres_tokens extension. See variables.pp.
  database = var.database
}
