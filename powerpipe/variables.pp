// The database to query. With the standalone PostgreSQL extension, declare a
// connection (a .ppc file) and pass it: --var database=connection.postgres.NAME.
// Powerpipe ignores the connection's search_path when it arrives through this
// variable: name the schema the tables were imported into with
// --search-path-prefix SCHEMA (see README.md).
variable "database" {
  type        = connection.postgres
  description = "The PostgreSQL connection holding user_tokens (the Steampipe service or a database with the steampipe_postgres_tokens extension)."
  default     = connection.postgres.default
}

variable "max_token_age_days" {
  type        = number
  description = "Active tokens created more than this many days ago should be rotated; also the longest lifetime allowed for the connection's own token."
  default     = 90
}

variable "max_unused_days" {
  type        = number
  description = "Active tokens not used for more than this many days should be revoked."
  default     = 45
}

variable "expiry_warning_days" {
  type        = number
  description = "Active tokens expiring within this many days should be renewed."
  default     = 30
}

locals {
  tokens_common_tags = {
    category = "Compliance"
    plugin   = "tokens"
    service  = "Tokens"
  }

  // Framework tags, merged into controls and benchmarks. The CIS items are
  // analogues: CIS benchmarks cover cloud access keys, not these providers.
  owasp_nhi_tags = {
    owasp_nhi         = "true"
    owasp_nhi_version = "2025"
  }
  cis_analogue_tags = {
    cis_analogue = "true"
  }
}
