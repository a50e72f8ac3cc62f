package upstream

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// Fuzz targets of the shared decoding and scrubbing. Seed corpora come from the
// sandbox: its error bodies, its secrets and the values it sends.

// sandboxGet fetches a path from the sandbox as sent (cut-off bodies as far as they came).
func sandboxGet(tb testing.TB, url, auth string) []byte {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// secretCase is a credential to embed, and the parts of it that must not survive
// scrubbing. A shapeless credential (exact) is redacted because the client knows it;
// a shaped one by Scrub's patterns, whoever it belongs to.
type secretCase struct {
	shape string
	embed string
	cores []string
	exact bool
}

// secretCases are real secrets of a sandbox (a Query Server JWT, its shapeless Clerk
// key, Vercel token and Query Server admin token, an Argon2 hash, bearer headers) and a
// few more made in their shapes.
// Secret-shaped test values, built from pieces so that none sits in the repository.
var (
	jwtCase = "eyJhbGciOiJIUzI1NiJ9" + "." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0" + "." + "c2lnbmF0dXJlLXNpZ25hdHVyZQ"
	skCase  = "sk_" + "live_Zx81TqP0aB7mN3cV5kL2jH4gF6dS9aQw1eR2tY3u"
)

func secretCases(sb *sandbox.Sandbox) []secretCase {
	var jwt, argon string
	for _, s := range sb.Secrets() {
		switch {
		case jwt == "" && strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2:
			jwt = s
		case argon == "" && strings.HasPrefix(s, "$argon2"):
			argon = s
		}
	}
	argonCase := func(h string) secretCase {
		parts := strings.Split(h, "$") // "", argon2id, v=19, m=..,t=..,p=.., salt, hash
		return secretCase{"argon2", h, []string{h, "$" + parts[len(parts)-2] + "$" + parts[len(parts)-1], parts[len(parts)-1]}, false}
	}
	bearer := func(prefix, cred string) secretCase {
		return secretCase{"bearer", prefix + cred, []string{cred}, false}
	}
	return []secretCase{
		{"jwt", jwt, []string{jwt}, false},
		{"jwt", jwtCase, []string{jwtCase}, false},
		{"clerk key (shapeless)", sb.ClerkSecretKey(), []string{sb.ClerkSecretKey()}, true},
		{"sk", skCase, []string{skCase}, false},
		{"vercel token (shapeless)", sb.VercelToken(), []string{sb.VercelToken()}, true},
		{"query server admin token (shapeless)", sb.QueryServerAdminToken(), []string{sb.QueryServerAdminToken()}, true},
		{"okta token", sb.OktaAPIToken(), []string{sb.OktaAPIToken()}, false},
		{"okta token", oktaToken, []string{oktaToken}, false},
		{"okta token after SSWS", "SSWS " + oktaToken, []string{oktaToken}, false},
		argonCase(argon),
		argonCase("$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo"),
		bearer("Bearer ", sb.VercelToken()),
		bearer("Bearer ", sb.QueryServerAdminToken()),
		bearer("bearer\t", "opaque-credential-0123456789abcdef"),
		bearer("BEARER  ", "Q3JlZGVudGlhbHMtYXJlLXNlY3JldA=="),
		bearer("Bearer\v", "after-a-vertical-tab-0123456789"),
		bearer("Bearer\x00", "after-a-nul-0123456789"),
		bearer("Bearer\u00a0", "after-a-no-break-space-0123456789"),
		bearer("Bearer\u2003", "after-an-em-space-0123456789"),
		bearer("Bearer\u200b", "after-a-zero-width-space-0123456789"),
		bearer(`Bearer "`, "quoted-0123456789"),
		bearer(`Bearer \"`, "json-escaped-quote-0123456789"),
		bearer(`Bearer\u00a0`, "json-escaped-space-0123456789"),
		bearer("Bearer%20", "url-encoded-space-0123456789"),
		bearer("Bearer\u3164", "after-a-hangul-filler-0123456789"),
	}
}

// FuzzScrub: a secret embedded anywhere in any text does not survive scrubbing, in
// whole or in its secret part (an Argon2 hash's salt and digest, a bearer's
// credential): by shape with Scrub, by value with the credentials a client holds.
func FuzzScrub(f *testing.F) {
	sb := sandbox.New(sandbox.Config{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	for _, path := range []string{"/vercel/v6/user/tokens", "/vercel/v5/user/tokens/nope", "/query/_/user/token",
		"/query/_/nope", "/clerk/v1/sign_in_tokens", "/clerk/v1/nope", "/okta/api/v1/api-tokens", "/okta/api/v1/nope"} {
		f.Add(string(sandboxGet(f, srv.URL+path, "")))
		f.Add(string(sandboxGet(f, srv.URL+path, "Bearer wrong")))
	}
	for _, s := range []string{"", "x", " ", "token: ", "invalid key\\n", `{"message":"`, "Get \"https://api.vercel.com/v6/user/tokens\": EOF",
		"dial tcp 127.0.0.1:443: connect: connection refused", "ünïcödé \xff\xfe", strings.Repeat("ab ", 50),
		// a shape glued to the next secret must not swallow its start
		"vcp_12345678", "eyJhbGciOi.eyJzdWIi.sig", "sk_live_abc", "$argon2id$x", "Bearer x"} {
		f.Add(s)
	}
	cases := secretCases(sb)
	f.Fuzz(func(t *testing.T, s string) {
		failed := map[string]bool{} // one report per shape
		for _, c := range cases {
			for _, at := range []int{0, len(s) / 2, len(s)} {
				in := s[:at] + c.embed + s[at:]
				out, msg := Scrub(in), cleanMessage(in)
				if c.exact {
					out, msg = scrubSecrets(in, "Bearer "+c.embed, c.embed), cleanMessage(in, "Bearer "+c.embed, c.embed)
				}
				for _, core := range c.cores {
					if !failed[c.shape] && !strings.Contains(s, core) && (strings.Contains(out, core) || strings.Contains(msg, core)) {
						failed[c.shape] = true
						t.Errorf("%s secret embedded at byte %d of %q: %q survives Scrub:\n%q\nor cleanMessage:\n%q", c.shape, at, s, core, out, msg)
					}
				}
			}
		}
	})
}

// FuzzNumberText: the lenient JSON scalars never panic, read what they claim to read,
// and never turn a number into a value of another sign.
func FuzzNumberText(f *testing.F) {
	sb := sandbox.New(sandbox.Config{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	var rows struct {
		Data   []map[string]json.RawMessage `json:"data"`
		Tokens []map[string]json.RawMessage `json:"tokens"`
	}
	for _, body := range [][]byte{
		sandboxGet(f, srv.URL+"/query/_/user/token", "Bearer "+sb.QueryServerAdminToken()),
		sandboxGet(f, srv.URL+"/query/_/user", "Bearer "+sb.QueryServerAdminToken()),
		sandboxGet(f, srv.URL+"/vercel/v6/user/tokens?limit=3", "Bearer "+sb.VercelToken()),
	} {
		if err := json.Unmarshal(body, &rows); err != nil {
			f.Fatal(err)
		}
		for _, r := range append(rows.Data, rows.Tokens...) {
			for k, v := range r {
				if k != "token" && k != "password" {
					f.Add([]byte(v))
				}
			}
		}
	}
	for _, s := range []string{"null", "true", "false", "0", "-0", "1.5", "-1.5", "1e3", "1e400", "-9223372036854775808", `"12"`, `" 12 "`, `"\u0031"`, `"1e3"`, `"x"`, `""`, `"`, "", " 7 ",
		"NaN", "Infinity", "0x10", "1_000", "+1", "[1]", "{}", "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		trimmed := bytes.TrimSpace(b)
		reachable := json.Valid(b) // what a JSON decoder can hand them

		var n Number
		errN := n.UnmarshalJSON(bytes.Clone(b))
		if i, err := strconv.ParseInt(string(trimmed), 10, 64); err == nil && (errN != nil || n != (Number{i, true})) {
			t.Fatalf("Number(%q) = %+v, %v; want %d", b, n, errN, i)
		}
		if errN == nil && n.Valid != (string(trimmed) != "null") {
			t.Fatalf("Number(%q) = %+v", b, n)
		}
		if errN == nil && n.Valid && reachable {
			if f, ok := numberIn(trimmed); ok && !sameSign(f, n.Value) {
				t.Fatalf("Number(%s) = %d", b, n.Value)
			}
		}

		var tx Text
		errT := tx.UnmarshalJSON(bytes.Clone(b))
		if errT == nil && len(trimmed) > 0 && trimmed[0] == '"' {
			var want string
			if json.Unmarshal(trimmed, &want) != nil || string(tx) != want {
				t.Fatalf("Text(%q) = %q", b, tx)
			}
		}
		if errT == nil && reachable && !utf8.ValidString(string(tx)) {
			t.Fatalf("Text(%q) = %q is not valid UTF-8", b, tx)
		}

		var m Millis
		errM := m.UnmarshalJSON(bytes.Clone(b))
		if i, err := strconv.ParseInt(string(b), 10, 64); err == nil && i > -1<<53 && i < 1<<53 && (errM != nil || m.UnixMilli() != i) {
			t.Fatalf("Millis(%q) = %v, %v; want %d ms", b, m.Time, errM, i)
		}
		if errM == nil && reachable && string(b) != "null" {
			if f, ok := numberIn(b); ok && !sameSign(f, m.UnixMilli()) {
				t.Fatalf("Millis(%s) = %v (%d ms)", b, m.Time, m.UnixMilli())
			}
		}

		// And through encoding/json, as the clients use them.
		var v struct {
			N  Number  `json:"n"`
			T  Text    `json:"t"`
			M  *Millis `json:"m"`
			NS []Number
		}
		doc := []byte(`{"n":` + string(b) + `,"t":` + string(b) + `,"m":` + string(b) + `,"NS":[` + string(b) + `]}`)
		_ = json.Unmarshal(doc, &v)
		_ = v.M.Ptr()
	})
}

// numberIn is the number a JSON scalar holds, as Number reads it: a number, or a
// string holding one.
func numberIn(b []byte) (float64, bool) {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if json.Unmarshal(b, &s) != nil {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// sameSign: a value read from f is positive, zero or negative as f is (after truncation).
func sameSign(f float64, v int64) bool {
	switch {
	case math.IsNaN(f):
		return false
	case f >= 1:
		return v > 0
	case f <= -1:
		return v < 0
	}
	return v == 0
}
