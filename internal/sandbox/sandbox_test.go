package sandbox_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

func TestRequestLogAndCount(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	call(t, http.MethodGet, srv.URL+"/vercel/v6/user/tokens?limit=5", bearerOf(sb.VercelToken()), "")
	call(t, http.MethodGet, srv.URL+"/vercel/v5/user/tokens/current", bearerOf(sb.VercelToken()), "")
	call(t, http.MethodGet, srv.URL+"/query/_/user/token", "", "")
	call(t, http.MethodPost, srv.URL+"/clerk/v1/sign_in_tokens", bearerOf(sb.ClerkSecretKey()), `{}`)
	call(t, http.MethodGet, srv.URL+"/_sandbox/state", "", "")
	call(t, http.MethodGet, srv.URL+"/elsewhere", "", "")

	log := sb.Requests()
	if len(log) != 4 {
		t.Fatalf("%d entries, want 4 (control API and unknown prefixes are not upstream requests): %+v", len(log), log)
	}
	want := []sandbox.Request{
		{Upstream: "vercel", Method: "GET", Path: "/v6/user/tokens", RawQuery: "limit=5", Status: 200},
		{Upstream: "vercel", Method: "GET", Path: "/v5/user/tokens/current", Status: 200},
		{Upstream: "query_server", Method: "GET", Path: "/_/user/token", Status: 401},
		{Upstream: "clerk", Method: "POST", Path: "/v1/sign_in_tokens", Status: 422},
	}
	for i, w := range want {
		g := log[i]
		if g.Upstream != w.Upstream || g.Method != w.Method || g.Path != w.Path || g.RawQuery != w.RawQuery || g.Status != w.Status || g.Fault != "" {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
		if g.Start.IsZero() || g.Duration <= 0 {
			t.Errorf("entry %d has no timing", i)
		}
	}
	for _, tc := range []struct {
		up, method, prefix string
		want               int
	}{
		{"", "", "", 4}, {"vercel", "", "", 2}, {"vercel", "GET", "/v5/", 1}, {"", "POST", "", 1},
		{"clerk", "", "/sign_in_tokens", 1}, {"clerk", "", "/v1/sign_in", 1}, {"query_server", "get", "/_/user", 1},
	} {
		if got := sb.Count(tc.up, tc.method, tc.prefix); got != tc.want {
			t.Errorf("Count(%q,%q,%q) = %d, want %d", tc.up, tc.method, tc.prefix, got, tc.want)
		}
	}
	sb.ResetRequests()
	if sb.Count("", "", "") != 0 {
		t.Fatal("ResetRequests kept entries")
	}
}

func TestLatency(t *testing.T) {
	sb, srv := start(t, sandbox.Config{Latency: 60 * time.Millisecond})
	begin := time.Now()
	call(t, http.MethodGet, srv.URL+"/vercel/v2/user", bearerOf(sb.VercelToken()), "")
	if time.Since(begin) < 60*time.Millisecond || sb.Requests()[0].Duration < 60*time.Millisecond {
		t.Fatal("latency not applied")
	}
	begin = time.Now()
	call(t, http.MethodGet, srv.URL+"/_sandbox/state", "", "")
	if time.Since(begin) >= 60*time.Millisecond {
		t.Fatal("latency applied to the control API")
	}
}

func TestDeterministicForASeed(t *testing.T) {
	a, b := sandbox.New(sandbox.Config{Seed: 7}), sandbox.New(sandbox.Config{Seed: 7})
	c := sandbox.New(sandbox.Config{Seed: 8})
	snapshot := func(s *sandbox.Sandbox) []any {
		return []any{s.VercelToken(), s.VercelAccount(), s.VercelTokens(), s.CurrentVercelTokenID(),
			s.QueryServerAdminToken(), s.QueryServerUserToken(), s.QueryServerUsers(), s.QueryServerUserTokens(),
			s.ClerkSecretKey(), s.ClerkUserIDs(), s.ClerkOrgIDs(), s.Secrets()}
	}
	if !reflect.DeepEqual(snapshot(a), snapshot(b)) {
		t.Fatal("same seed, different data")
	}
	sa, sc := snapshot(a), snapshot(c)
	for i := range sa {
		if reflect.DeepEqual(sa[i], sc[i]) {
			t.Errorf("item %d is the same for seeds 7 and 8", i)
		}
	}
	// Sizes do not shift other upstreams' data.
	d := sandbox.New(sandbox.Config{Seed: 7, VercelTokens: 3})
	if d.ClerkSecretKey() != a.ClerkSecretKey() || d.QueryServerAdminToken() != a.QueryServerAdminToken() {
		t.Error("VercelTokens changed Clerk or Query Server data")
	}
	// Even bodies are identical (Query Server key order aside).
	_, sa1 := startWith(t, a)
	_, sb1 := startWith(t, b)
	ra := call(t, http.MethodGet, sa1.URL+"/vercel/v6/user/tokens?limit=100", bearerOf(a.VercelToken()), "")
	rb := call(t, http.MethodGet, sb1.URL+"/vercel/v6/user/tokens?limit=100", bearerOf(b.VercelToken()), "")
	if string(ra.body) != string(rb.body) {
		t.Fatal("list bodies differ")
	}
}

func startWith(t *testing.T, sb *sandbox.Sandbox) (*sandbox.Sandbox, *httpServer) {
	srv := newHTTPServer(sb)
	t.Cleanup(srv.Close)
	return sb, srv
}

// TestSecretsCoverEverything collects every credential-looking value the
// sandbox hands out, through its API and over HTTP, and checks each is in
// Secrets(); and that no secret appears where none belongs.
func TestSecretsCoverEverything(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	secrets := map[string]bool{}
	for _, s := range sb.Secrets() {
		secrets[s] = true
	}
	need := func(what, v string) {
		t.Helper()
		if v == "" || !secrets[v] {
			t.Errorf("%s %q missing from Secrets()", what, v)
		}
	}
	for _, v := range []string{sb.VercelToken(), sb.QueryServerAdminToken(), sb.QueryServerUserToken(), sb.ClerkSecretKey()} {
		need("credential", v)
		need("bearer header", "Bearer "+v)
	}
	// Every secret column the Query Server returns.
	admin := bearerOf(sb.QueryServerAdminToken())
	for _, p := range []string{"/_/user/token", "/_/token", "/_/user"} {
		var rows struct{ Data []map[string]any }
		call(t, http.MethodGet, srv.URL+"/query"+p, admin, "").json(t, &rows)
		for _, row := range rows.Data {
			for _, k := range []string{"token", "password"} {
				if v, ok := row[k].(string); ok {
					need(p+" "+k, v)
					if k == "token" {
						need("bearer header", "Bearer "+v)
					}
				}
			}
		}
	}
	for _, u := range sb.QueryServerUsers() {
		need("password", sb.QueryServerPassword(u.Email))
	}

	// Minted at run time: a Vercel token, a Query Server user, a sign-in token.
	var created struct{ BearerToken string }
	call(t, http.MethodPost, srv.URL+"/vercel/v3/user/tokens", bearerOf(sb.VercelToken()), `{"name":"x"}`).json(t, &created)
	call(t, http.MethodPost, srv.URL+"/query/_/user", admin, `{"email":"n@example.com","password":"hunter2-but-longer"}`)
	var sit struct{ Token, URL string }
	call(t, http.MethodPost, srv.URL+"/clerk/v1/sign_in_tokens", bearerOf(sb.ClerkSecretKey()), `{"user_id":"`+sb.ClerkUserIDs()[0]+`"}`).json(t, &sit)
	var value struct{ Data []struct{ Token string } }
	call(t, http.MethodGet, srv.URL+"/query/_/user/token/value?email=n@example.com", admin, "").json(t, &value)
	call(t, http.MethodPut, srv.URL+"/query/_/token", admin, `{"name":"kiosk","write":true}`)
	var toks struct{ Data []map[string]any }
	call(t, http.MethodGet, srv.URL+"/query/_/token", admin, "").json(t, &toks)

	secrets = map[string]bool{}
	for _, s := range sb.Secrets() {
		secrets[s] = true
	}
	need("vercel bearerToken", created.BearerToken)
	need("query server password", "hunter2-but-longer")
	need("query server new user token", value.Data[0].Token)
	need("clerk sign-in token", sit.Token)
	need("clerk sign-in url", sit.URL)
	for _, row := range toks.Data {
		need("re-minted token", row["token"].(string))
	}

	// Vercel never returns a secret outside create; the log and state never do.
	sb.Reset()
	for _, s := range []string{created.BearerToken, sit.Token} {
		if !slices.Contains(sb.Secrets(), s) {
			t.Error("Reset forgot a minted secret")
		}
	}
	list := call(t, http.MethodGet, srv.URL+"/vercel/v6/user/tokens?limit=100", bearerOf(sb.VercelToken()), "")
	logJSON, _ := json.Marshal(sb.Requests())
	state := call(t, http.MethodGet, srv.URL+"/_sandbox/state", "", "")
	for _, s := range sb.Secrets() {
		if len(s) < 8 {
			t.Errorf("suspiciously short secret %q", s)
			continue
		}
		for name, body := range map[string][]byte{"vercel list": list.body, "request log": logJSON, "state": state.body} {
			if strings.Contains(string(body), s) {
				t.Errorf("secret found in %s", name)
			}
		}
	}
}

func TestControlAPI(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	ctl := srv.URL + "/_sandbox"
	r := call(t, http.MethodPost, ctl+"/faults", "", `{"upstream":"vercel","kind":"hang","delay":"30ms","path":"/v2/user","times":1}`)
	wantStatus(t, r, http.StatusOK)
	if string(r.body) != "{\"id\":1}\n" {
		t.Fatalf("body %q", r.body)
	}
	wantStatus(t, call(t, http.MethodPost, ctl+"/faults", "", `{"upstream":"vercel","kind":"bogus"}`), http.StatusBadRequest)
	wantStatus(t, call(t, http.MethodPost, ctl+"/faults", "", `{"upstream":"vercel","kind":"hang","delay":"soon"}`), http.StatusBadRequest)
	wantStatus(t, call(t, http.MethodPost, ctl+"/faults", "", `{"upstream":"vercel","kind":"status","status":500,"colour":1}`), http.StatusBadRequest)

	begin := time.Now()
	call(t, http.MethodGet, srv.URL+"/vercel/v2/user", bearerOf(sb.VercelToken()), "")
	if time.Since(begin) < 30*time.Millisecond {
		t.Fatal("fault from the control API not applied")
	}
	var reqs []sandbox.Request
	call(t, http.MethodGet, ctl+"/requests", "", "").json(t, &reqs)
	if len(reqs) != 1 || reqs[0].Fault != "hang" || reqs[0].Duration < 30*time.Millisecond {
		t.Fatalf("requests %+v", reqs)
	}
	var raw []map[string]any
	call(t, http.MethodGet, ctl+"/requests", "", "").json(t, &raw)
	if _, ok := raw[0]["duration"].(string); !ok {
		t.Fatalf("duration is not a Go duration string: %v", raw[0])
	}

	var st sandbox.State
	call(t, http.MethodGet, ctl+"/state", "", "").json(t, &st)
	if st.VercelAccountEmail != sb.VercelAccount().Email || st.CurrentVercelTokenID != sb.CurrentVercelTokenID() ||
		!reflect.DeepEqual(st.ClerkUserIDs, sb.ClerkUserIDs()) || !reflect.DeepEqual(st.ClerkOrgIDs, sb.ClerkOrgIDs()) ||
		st.VercelTokens != 30 || st.QueryServerUsers != 6 || st.Requests != 1 || st.Faults != 1 {
		t.Fatalf("state %+v", st)
	}
	var secrets []string
	call(t, http.MethodGet, ctl+"/secrets", "", "").json(t, &secrets)
	if !reflect.DeepEqual(secrets, sb.Secrets()) {
		t.Fatal("secrets differ")
	}

	// Accept a sign-in token the way a user following the url would.
	var sit struct{ ID string }
	call(t, http.MethodPost, srv.URL+"/clerk/v1/sign_in_tokens", bearerOf(sb.ClerkSecretKey()), `{"user_id":"`+sb.ClerkUserIDs()[0]+`"}`).json(t, &sit)
	wantStatus(t, call(t, http.MethodPost, ctl+"/clerk/sign_in_tokens/"+sit.ID+"/accept", "", ""), http.StatusNoContent)
	wantStatus(t, call(t, http.MethodPost, ctl+"/clerk/sign_in_tokens/"+sit.ID+"/accept", "", ""), http.StatusNotFound)

	wantStatus(t, call(t, http.MethodDelete, ctl+"/requests", "", ""), http.StatusNoContent)
	wantStatus(t, call(t, http.MethodDelete, ctl+"/faults", "", ""), http.StatusNoContent)
	if sb.Count("", "", "") != 0 {
		t.Fatal("log not cleared")
	}
	call(t, http.MethodPost, srv.URL+"/vercel/v3/user/tokens", bearerOf(sb.VercelToken()), `{"name":"x"}`)
	sb.AddFault(sandbox.Fault{Upstream: "clerk", Kind: "reset"})
	wantStatus(t, call(t, http.MethodPost, ctl+"/reset", "", ""), http.StatusNoContent)
	if len(sb.VercelTokens()) != 30 || sb.Count("", "", "") != 0 || len(sb.ClerkSignInTokens()) != 0 || sb.State().Faults != 0 {
		t.Fatal("reset did not restore the seeded state")
	}
	wantStatus(t, call(t, http.MethodGet, ctl+"/nope", "", ""), http.StatusNotFound)
	wantStatus(t, call(t, http.MethodGet, ctl+"/faults", "", ""), http.StatusNotFound)
}

// TestNoSecretLiteralsInSource guards the project rule that no credential
// is committed: the sandbox's own sources hold no secret-shaped literal.
func TestNoSecretLiteralsInSource(t *testing.T) {
	pattern := regexp.MustCompile(`sk_(test|live)_[A-Za-z0-9]{16,}|vcp_[A-Za-z0-9]{16,}|eyJ[A-Za-z0-9_-]{16,}\.eyJ|\$argon2id\$v=19\$[^"\s]*\$[A-Za-z0-9+/]{16,}`)
	files, _ := filepath.Glob("*.go")
	more, _ := filepath.Glob("../../cmd/tokens-sandbox/*.go")
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := pattern.Find(b); m != nil {
			t.Errorf("%s holds a secret-shaped literal %q", f, m)
		}
	}
	// And the pattern does catch what the sandbox generates.
	sb := sandbox.New(sandbox.Config{})
	for _, s := range []string{sb.VercelToken(), sb.ClerkSecretKey(), sb.QueryServerAdminToken()} {
		if !pattern.MatchString(s) {
			t.Errorf("pattern misses %q", s)
		}
	}
}
