package upstream

import (
	"strings"
	"testing"
)

// oktaToken has an Okta API token's shape, built from pieces so that none sits in
// the repository.
var oktaToken = "00" + strings.Repeat("aB3-", 9) + "x_Q9"

func TestScrub(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"no secret here", "no secret here"},
		{"Authorization: Bearer abc123", "Authorization: [redacted]"},
		{"Bearer Bearer abc123", "[redacted]"},
		{"Bearer 0Bearer abc123 end", "[redacted] end"},
		// a shape glued to the next secret
		{"vcp_12345678Bearer abc123 end", "[redacted] end"},
		{"eyJhbGciOi.eyJzdWIi.sigBearer abc123", "[redacted]"},
		{"sk_live_abcBearer abc123", "[redacted]"},
		{"$argon2id$xBearer abc123", "[redacted]"},
		// separators beyond ASCII spaces
		{"Bearer\vabc123 end", "[redacted] end"},
		{"Bearer\x00abc123 end", "[redacted] end"},
		{"Bearer\u00a0abc123 end", "[redacted] end"},
		{"Bearer\u2003abc123 end", "[redacted] end"},
		{"Bearer\u200babc123 end", "[redacted] end"},
		{`{"auth":"Bearer "abc123"}`, `{"auth":"[redacted]"}`},
		{"key=sk_test_x1 and vca_12345678z", "key=[redacted] and [redacted]"},
		// escaped separators, as in JSON or URL-encoded text
		{`{"detail":"header was Bearer \"abc123secret\" rejected"}`, `{"detail":"header was [redacted]" rejected"}`},
		{`Bearer \'abc123secret\' end`, `[redacted]' end`},
		{`{"detail":"Bearer\tabc123secret"}`, `{"detail":"[redacted]"}`},
		{`{"detail":"Bearer\u00a0abc123secret"}`, `{"detail":"[redacted]"}`},
		{"Bearer%20abc123secret end", "[redacted] end"},
		{"Bearer+abc123secret end", "[redacted] end"},
		{"Bearer:abc123secret end", "[redacted] end"},
		{"Bearer=abc123secret end", "[redacted] end"},
		{"Bearer\xffabc123secret end", "[redacted] end"},
		{"Bearer\u3164abc123secret end", "[redacted] end"},
		{"Bearer\u034fabc123secret end", "[redacted] end"},
		{"Bearer ab+cd/ef== end", "[redacted] end"},
		// a separator or word that ends in the next "bearer"
		{"Bearer %Bearer s3cret end", "[redacted] end"},
		{`Bearer \bearer s3cret end`, "[redacted] end"},
		{"Bearer %eBearer s3cret end", "[redacted] end"},
		// GitLab's tokens and header
		{"token glpat-AbCdEf0123456789xyZ1 was revoked", "token [redacted] was revoked"},
		{"runner gldt-abcdefgh12345678", "runner [redacted]"},
		{`{"PRIVATE-TOKEN":"s3cretvalue"} end`, `{"[redacted]"} end`},
		{"private-token: s3cretvalue end", "[redacted] end"},
		// no separator: not a credential's prefix
		{"bearer_token and bearers", "bearer_token and bearers"},
		// Okta API tokens, bare: "00" and 40 URL-safe characters
		{"Authorization: SSWS " + oktaToken, "Authorization: SSWS [redacted]"},
		{`{"token":"` + oktaToken + `"}`, `{"token":"[redacted]"}`},
		{"key=" + oktaToken + "&next", "key=[redacted]&next"},
		{"glued" + oktaToken + "!", "glued[redacted]!"},
		{"a word holding one: 1" + oktaToken + "tail", "a word holding one: 1[redacted]tail"},
		{"too short: " + oktaToken[:41], "too short: " + oktaToken[:41]},
		{"error 0042 at line 00", "error 0042 at line 00"},
	} {
		if got := Scrub(c.in); got != c.want {
			t.Errorf("Scrub(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCleanMessage(t *testing.T) {
	for _, c := range []struct {
		in      string
		secrets []string
		want    string
	}{
		{"line one\nline\ttwo  ", nil, "line one line two"},
		{"Bearer\u0085abc123 end", nil, "[redacted] end"},
		{"the key was s3cr3t-key!", []string{"s3cr3t-key"}, "the key was [redacted]!"},
	} {
		if got := cleanMessage(c.in, c.secrets...); got != c.want {
			t.Errorf("cleanMessage(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
