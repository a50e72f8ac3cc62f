package upstream

import (
	"regexp"
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
// nor does a word that ends in "bearer" ("Bearer 0Bearer x") take x's place.
var secretShapes = regexp.MustCompile(
	`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*` +
		`|[sp]k_(?:live|test)_[A-Za-z0-9_-]+` +
		`|\$argon2[a-z]*\$[^\s"']+` +
		`|vc[pari]_[A-Za-z0-9_-]{8,}` +
		`|(?i:bearer)\s+(?:[^\s"']*(?i:bearer)\s+)*[^\s"']+`)

// Scrub removes secret-shaped substrings from text that came from outside
// (an upstream body, a transport error) before it may appear in an error or a log.
func Scrub(s string) string {
	return secretShapes.ReplaceAllString(s, "[redacted]")
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
	s = strings.Join(strings.Fields(s), " ")
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
