// Package sandbox emulates the three upstream APIs the tokens plugin calls, for
// tests, benchmarks and the demo: Vercel's user-token endpoints, the user tokens of
// gc-victor's Query Server, and Clerk's sign-in tokens. It emulates what the plugin
// calls (reads and the write endpoints the action tables use), with the quirks
// ../shared/upstream-apis.md describes, and nothing else.
//
// One http.Handler routes by prefix:
//
//	/vercel/...     Vercel        (base URL <server>/vercel)
//	/query/...      Query Server  (base URL <server>/query)
//	/clerk/v1/...   Clerk         (base URL <server>/clerk/v1)
//	/_sandbox/...   the request log, for a sandbox in another process
//
// The data is a small hand-made set (data.go) that holds every quirk and every
// finding a compliance check looks for, in two estates: "audit" (the default) and
// "clean" (nothing to find). Times are relative to Config.Now, the start of the
// current UTC day by default, so "expired" and "unused for 90 days" hold against the
// real clock all day. Benchmarks add generated tokens after the hand-made ones.
//
// Where the sources are silent the sandbox chooses, and says so here:
//
//   - Credentials carry no recognisable shape where that is possible, so that tests
//     prove the plugin redacts a credential because it is one, not because of how it
//     looks: the Vercel token is 24 bare alphanumerics (Vercel's own example), the
//     Query Server admin token is an opaque string (other users' tokens are JWTs, as
//     the real server mints them), and the Clerk secret key is "sk_" and 40
//     alphanumerics, without the usual test/live part.
//   - Vercel: failed authentication is 403 forbidden with invalidToken (Vercel
//     documents 403); a header that is not a bearer credential is 401. A numeric
//     cursor is a createdAt in ms ("created strictly before"); the string cursor is
//     standard base64 of the position. "mixed" alternates the two page by page. The
//     empty account answers pagination {} as the CLI's own fixture does. DELETE
//     removes a token (the list no longer shows it); create answers
//     {token, bearerToken}, scoped to the team given with ?teamId=.
//   - Query Server: error bodies are plain text, 401s are empty, no Content-Type is
//     sent. POST /_/user/token is INSERT OR IGNORE (201 for a user who already has a
//     token, and nothing changes). An omitted write means true; an omitted
//     expiration_date means "now", which makes the token never expire
//     (expiration_date equal to updated_at). An update re-mints the token with the
//     previous updated_at as its iat, as the server's trigger does, so the updated
//     token no longer authenticates (upstream-apis.md 2.7).
//   - Clerk: unknown body keys are 422 form_param_unknown; a missing user_id is 422
//     form_param_missing; an org the user is not a member of is 422
//     form_param_value_invalid; revoking a token that is not pending is 400. The
//     rate limit is a sliding 10 s window per key; Retry-After is the seconds until
//     the oldest counted request leaves it.
package sandbox
