package upstream

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// maxMessage bounds how much upstream text reaches an error message.
const maxMessage = 300

// secretShapes match credentials by their shape, as a second line of defence behind
// never putting a secret in a message in the first place: JWTs (Query Server tokens,
// Clerk tickets), Clerk secret keys, Argon2 hashes, Vercel-style prefixed tokens and
// anything after "Bearer".
// No \b anchors: a key glued to a word (escaped JSON, "key=sk_live_...") is still a
// key, and redacting a little too much costs nothing. A PHC hash keeps commas in its
// parameters (m=19456,t=2,p=1), and "Bearer Bearer x" hides x, not the second word;
// nor does a word that ends in "bearer" ("Bearer 0Bearer x") take x's place. Any
// space, control, format or filler character, quote, escaped character (`\"`,
// `\t`, `\u00a0`, `%20`) or one of + : = separates "Bearer" from what follows
// ("Bearer\v x", "Bearer\u00a0x", `Bearer \"x\"`, "Bearer%20x").
var secretShapes = []*regexp.Regexp{
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`),
	regexp.MustCompile(`[sp]k_(?:live|test)_[A-Za-z0-9_-]+`),
	regexp.MustCompile(`\$argon2[a-z]*\$[^\s"']+`),
	regexp.MustCompile(`vc[pari]_[A-Za-z0-9_-]{8,}`),
	regexp.MustCompile(`(?i:bearer)` + sep + `+(?:` + word + `*(?i:bearer)` + sep + `+)*` + word + `+`),
}

const (
	// blank: what cannot be part of a credential; U+FFFD stands for a byte that is not UTF-8
	blank = `\s\p{Z}\p{Cc}\p{Cf}\p{Mn}\x{115F}\x{1160}\x{2800}\x{3164}\x{FFA0}\x{FFFD}"'`
	sep   = `(?:[` + blank + `+:=]|\\(?:u[0-9A-Fa-f]{4}|[\\"'/bfnrtv])|%[0-9A-Fa-f]{2})`
	word  = `[^` + blank + `]`
)

// Scrub removes secret-shaped substrings from text that came from outside
// (an upstream body, a transport error) before it may appear in an error or a log.
// Each shape is matched on its own and every span any of them matches is redacted:
// in one alternation, a shape glued to the next ("vcp_12345678Bearer x") would
// swallow the start of it and leave the rest visible.
func Scrub(s string) string {
	var spans [][]int
	for _, shape := range secretShapes {
		spans = append(spans, shape.FindAllStringIndex(s, -1)...)
	}
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b []int) int { return a[0] - b[0] })
	var out strings.Builder
	done := 0 // s[:done] is written
	for i := 0; i < len(spans); {
		start, end := spans[i][0], spans[i][1]
		for i++; i < len(spans) && spans[i][0] <= end; i++ {
			end = max(end, spans[i][1])
		}
		out.WriteString(s[done:start])
		out.WriteString("[redacted]")
		done = end
	}
	out.WriteString(s[done:])
	return out.String()
}

// scrubSecrets also removes the exact credentials a client holds.
func scrubSecrets(s string, secrets ...string) string {
	for _, secret := range secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return Scrub(s)
}

// cleanMessage makes upstream text fit for one line of an error message.
func cleanMessage(s string, secrets ...string) string {
	s = scrubSecrets(s, secrets...)
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	// scrubbed again, as a safety net: every separator is a plain space now
	s = Scrub(strings.Join(strings.Fields(s), " "))
	if len(s) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
