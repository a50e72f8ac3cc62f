// Package sandbox emulates the upstream APIs the tokens plugin calls, for tests,
// benchmarks and the demo. It emulates what the plugin calls (reads and the write
// endpoints the action tables use), with the quirks ../shared/upstream-apis.md and
// the issues describe, and nothing else.
//
// Each upstream is one file that registers itself (register, in its init): its
// data, how it answers, its error format, its options and fault kinds, and the
// choices it makes where the vendor's sources are silent (in its header comment).
// One http.Handler routes by each upstream's prefix (its base URL is
// <server><prefix>, e.g. <server>/vercel), plus /_sandbox/... for the request log,
// the data's state and faults, for a sandbox in another process.
//
// The data is a small hand-made set that holds every quirk and every finding a
// compliance check looks for, in two estates: "audit" (the default) and "clean"
// (nothing to find). Times are relative to Config.Now, the start of the current UTC
// day by default, so "expired" and "unused for 90 days" hold against the real clock
// all day. Benchmarks add generated tokens after the hand-made ones
// (Config.Generate). Credentials carry no recognisable shape where that is possible,
// so that tests prove the plugin redacts a credential because it is one, not because
// of how it looks.
package sandbox
