// Package sandbox is an offline emulation of the three upstream APIs the
// tokens plugin reads: Vercel's REST API (user auth tokens), gc-victor's
// Query Server (user tokens and standalone tokens) and Clerk's Backend API
// (sign-in tokens). Unit tests serve it with httptest, benchmarks call it
// in-process, and cmd/tokens-sandbox serves it to a real Postgres.
//
// One http.Handler routes by prefix:
//
//	/vercel/...     Vercel        (base URL <server>/vercel)
//	/query/...      Query Server  (base URL <server>/query)
//	/clerk/v1/...   Clerk BAPI    (base URL <server>/clerk/v1)
//	/_sandbox/...   control API   (JSON; not logged, no latency or faults)
//
// The behaviour, quirks included, follows shared/upstream-apis.md and the
// vendors' own specs and tests (spec_test.go replays them when the
// workspace's shared/specs directory is present). Where the sources are
// silent the sandbox chooses, and says so here:
//
//   - Vercel authentication: a missing, unknown, revoked or expired token is
//     403 forbidden with invalidToken true (Vercel documents 403). 401 is
//     reserved for an Authorization header that is not a bearer credential
//     (another scheme, such as "Basic ...").
//   - Vercel rate limits are reported on every response (X-RateLimit-Limit
//     10000 per token and minute, Remaining, Reset in epoch seconds) but not
//     enforced; 429s come from faults.
//   - Vercel cursors: a numeric cursor is a createdAt in ms ("created
//     strictly before"); the opaque string cursor is standard base64 (with
//     "+", "/" and "=", so unescaped query values break as they would with
//     any opaque cursor) and resumes exactly after a token. Both kinds are
//     accepted in every variant; "mixed" alternates the kind page by page.
//     The last page's next is null; an account without tokens answers
//     pagination {} as the CLI fixture does. Using a token does not move its
//     activeAt, so listings stay comparable with VercelTokens().
//   - Query Server: the JSON-body error texts mimic serde_json's ("missing
//     field `email` at line 1 column 21"); positions are approximate. The
//     password "Argon2id" hashes have the real PHC shape but a salted
//     SHA-256 digest (standard library only). The update trigger's re-mint
//     with the previous updated_at as iat is kept, so an updated token stops
//     validating, as upstream (likely a bug there). POST /_/user binds admin
//     and active crosswise, as upstream does.
//   - Clerk: unknown body keys are 422 form_param_unknown; a missing user_id
//     is 422 form_param_missing; expires_in_seconds below 1 is 422
//     form_param_value_invalid; an unknown org_id, or one the user is not a
//     member of, is 422 form_param_value_invalid with meta.param_name
//     "org_id"; revoking a token that is not pending is 400
//     sign_in_token_cannot_be_revoked. The rate limit is a sliding 10 s
//     window per secret key, counted after authentication; Retry-After is
//     the seconds until the oldest counted request leaves the window.
//
// Generated data is deterministic for Config.Seed and Config.Now; every
// credential and secret is derived at run time from the seed, none is
// written in the source. Secrets() lists them all, plus everything minted
// later, for tests that scan output for leaks.
package sandbox
