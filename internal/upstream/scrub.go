package upstream

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxMessage bounds how much upstream text reaches an error message.
const maxMessage = 300

// secretShapes match credentials by their shape, as a second line of defence behind
// never putting a secret in a message in the first place: JWTs (Query Server tokens,
// Clerk tickets), Clerk secret keys, Argon2 hashes, Vercel-style prefixed tokens,
// GitLab's prefixed tokens (glpat-, gldt-, glrt-, ...) and what follows GitLab's
// PRIVATE-TOKEN header, and Okta API tokens, bare as Okta issues them ("00" and 40
// URL-safe characters; a longer word that holds one loses 42 characters of it)
// (bearerSpans finds what follows "Bearer").
// No \b anchors: a key glued to a word (escaped JSON, "key=sk_live_...") is still a
// key, and redacting a little too much costs nothing. A PHC hash keeps commas in its
// parameters (m=19456,t=2,p=1).
var secretShapes = []*regexp.Regexp{
	regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`),
	regexp.MustCompile(`[sp]k_(?:live|test)_[A-Za-z0-9_-]+`),
	regexp.MustCompile(`\$argon2[a-z]*\$[^\s"']+`),
	regexp.MustCompile(`vc[pari]_[A-Za-z0-9_-]{8,}`),
	regexp.MustCompile(`gl[a-z]{2,6}-[A-Za-z0-9_.-]{8,}`),
	regexp.MustCompile(`(?i)private-token[\s"':=]+[^\s"']+`),
	regexp.MustCompile(`00[A-Za-z0-9_-]{40}`),
}

// Scrub removes secret-shaped substrings from text that came from outside
// (an upstream body, a transport error) before it may appear in an error or a log.
// Each shape is matched on its own and every span any of them matches is redacted:
// in one alternation, a shape glued to the next ("vcp_12345678Bearer x") would
// swallow the start of it and leave the rest visible.
func Scrub(s string) string {
	spans := bearerSpans(s)
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

// bearerSpans finds, from every "bearer" in s (any case), the word and the
// separators up to the end of the word that follows: a credential. Every occurrence
// starts a span of its own, also one inside an earlier span ("Bearer Bearer x",
// "Bearer 0Bearer x", "Bearer %Bearer x": a separator or a word may end in the next
// "bearer"), and Scrub merges them. Separators are what cannot be part of a
// credential (blank) and escaped ones: `\"`, `\t`, `\u00a0`, `%20`, and + : =.
// One pass: word ends are found once and reused.
func bearerSpans(s string) [][]int {
	var spans [][]int
	wordFrom, wordTo := 0, 0 // s[wordFrom:wordTo] holds no blank, and s[wordTo] is one (or the end)
	for i := 0; i+len("bearer") <= len(s); i++ {
		if s[i]|0x20 != 'b' || !strings.EqualFold(s[i:i+len("bearer")], "bearer") {
			continue
		}
		k := i + len("bearer")
		for n := separator(s[k:]); n > 0; n = separator(s[k:]) {
			k += n
		}
		if k == i+len("bearer") {
			continue // "bearers", "bearer_token": not a credential's prefix
		}
		if k < wordFrom || k >= wordTo {
			wordFrom, wordTo = k, k
			for wordTo < len(s) {
				r, n := utf8.DecodeRuneInString(s[wordTo:])
				if blank(r) {
					break
				}
				wordTo += n
			}
		}
		spans = append(spans, []int{i, max(k, wordTo)})
	}
	return spans
}

// separator is the length of the separator s starts with, 0 for none.
func separator(s string) int {
	if s == "" {
		return 0
	}
	if r, n := utf8.DecodeRuneInString(s); blank(r) {
		return n
	}
	switch {
	case strings.ContainsRune("+:=", rune(s[0])):
		return 1
	case s[0] == '%' && len(s) >= 3 && isHex(s[1]) && isHex(s[2]):
		return 3
	case s[0] == '\\' && len(s) >= 6 && s[1] == 'u' && isHex(s[2]) && isHex(s[3]) && isHex(s[4]) && isHex(s[5]):
		return 6
	case s[0] == '\\' && len(s) >= 2 && strings.IndexByte(`\"'/bfnrtv`, s[1]) >= 0:
		return 2
	}
	return 0
}

// blank is what cannot be part of a credential: spaces, control, format and
// combining characters, fillers that show as nothing, quotes, and a byte that is not
// UTF-8 (utf8.RuneError).
func blank(r rune) bool {
	switch r {
	case '"', '\'', 0x115F, 0x1160, 0x2800, 0x3164, 0xFFA0, utf8.RuneError:
		return true
	}
	return unicode.IsSpace(r) || unicode.In(r, unicode.Z, unicode.Cc, unicode.Cf, unicode.Mn)
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
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
