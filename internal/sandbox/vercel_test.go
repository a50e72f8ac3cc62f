package sandbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

type vercelPage struct {
	Tokens     []map[string]json.RawMessage `json:"tokens"`
	Pagination map[string]json.RawMessage   `json:"pagination"`
}

// cursorParam turns a pagination.next value back into the until parameter,
// verbatim: a number's digits, a string's contents.
func cursorParam(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	return string(raw)
}

func jsonKind(raw json.RawMessage) string {
	switch {
	case len(raw) == 0:
		return "absent"
	case string(raw) == "null":
		return "null"
	case raw[0] == '"':
		return "string"
	case raw[0] == '{':
		return "object"
	case raw[0] == '[':
		return "array"
	case raw[0] == 't' || raw[0] == 'f':
		return "bool"
	}
	return "number"
}

// walkVercel lists every page and returns the ids in order plus the JSON
// kind of each page's next.
// A page may hold up to maxPage tokens (0: the limit).
func walkVercel(t testing.TB, base, auth string, limit, maxPage int) (ids []string, kinds []string) {
	t.Helper()
	until := ""
	for page := 0; page < 10000; page++ {
		q := url.Values{}
		if limit > 0 {
			q.Set("limit", strconv.Itoa(limit))
		}
		if until != "" {
			q.Set("until", until)
		}
		r := call(t, http.MethodGet, base+"/vercel/v6/user/tokens?"+q.Encode(), auth, "")
		wantStatus(t, r, http.StatusOK)
		var p vercelPage
		r.json(t, &p)
		var count int
		if err := json.Unmarshal(p.Pagination["count"], &count); err != nil {
			t.Fatalf("page %d: count %s: %v", page, p.Pagination["count"], err)
		}
		if count != len(p.Tokens) {
			t.Fatalf("page %d: count %d but %d tokens", page, count, len(p.Tokens))
		}
		max := limit
		if max == 0 {
			max = 20
		}
		if maxPage > 0 {
			max = maxPage
		}
		if len(p.Tokens) > max {
			t.Fatalf("page %d: %d tokens, limit %d", page, len(p.Tokens), max)
		}
		for _, tok := range p.Tokens {
			var id string
			_ = json.Unmarshal(tok["id"], &id)
			ids = append(ids, id)
		}
		next := p.Pagination["next"]
		kinds = append(kinds, jsonKind(next))
		if jsonKind(next) == "null" {
			return ids, kinds
		}
		until = cursorParam(t, next)
	}
	t.Fatal("pagination never ended")
	return nil, nil
}

func TestVercelPaginationWalksEveryTokenOnce(t *testing.T) {
	for _, mode := range []string{"number", "string", "mixed"} {
		for _, limit := range []int{1, 7, 0, 100} {
			t.Run(fmt.Sprintf("%s/limit=%d", mode, limit), func(t *testing.T) {
				sb, srv := start(t, sandbox.Config{VercelCursor: mode, VercelTokens: 57})
				ids, kinds := walkVercel(t, srv.URL, bearerOf(sb.VercelToken()), limit, 0)
				want := sb.VercelTokens()
				if len(ids) != len(want) {
					t.Fatalf("walked %d tokens, want %d", len(ids), len(want))
				}
				seen := map[string]bool{}
				for i, id := range ids {
					if seen[id] {
						t.Fatalf("token %s listed twice", id)
					}
					seen[id] = true
					if id != want[i].ID {
						t.Fatalf("position %d: %s, want %s (newest first)", i, id, want[i].ID)
					}
				}
				for i, k := range kinds[:len(kinds)-1] {
					want := map[string]string{"number": "number", "string": "string"}[mode]
					if mode == "mixed" {
						want = []string{"number", "string"}[i%2]
					}
					if k != want {
						t.Fatalf("page %d: next is a %s, want %s (%v)", i, k, want, kinds)
					}
				}
				if kinds[len(kinds)-1] != "null" {
					t.Fatalf("last page's next is %s, want null", kinds[len(kinds)-1])
				}
			})
		}
	}
}

func TestVercelStringCursorIsOpaque(t *testing.T) {
	sb, srv := start(t, sandbox.Config{VercelCursor: "string"})
	r := call(t, http.MethodGet, srv.URL+"/vercel/v6/user/tokens?limit=2", bearerOf(sb.VercelToken()), "")
	var p vercelPage
	r.json(t, &p)
	next := cursorParam(t, p.Pagination["next"])
	if _, err := strconv.ParseFloat(next, 64); err == nil {
		t.Fatalf("string cursor %q is a number in quotes", next)
	}
	// Unescaped "+" arrives as a space: a client must escape the cursor.
	if strings.ContainsAny(next, "+/=") {
		bad := call(t, http.MethodGet, srv.URL+"/vercel/v6/user/tokens?until="+next, bearerOf(sb.VercelToken()), "")
		if bad.status == http.StatusOK && strings.Contains(next, "+") {
			t.Fatalf("unescaped cursor %q accepted", next)
		}
	}
}

func TestVercelAuth(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	list := srv.URL + "/vercel/v6/user/tokens"
	const forbidden = `{"error":{"code":"forbidden","message":"Not authorized","invalidToken":true}}`
	for name, auth := range map[string]string{
		"missing": "", "unknown": "Bearer nope", "empty": "Bearer ", "lowercase scheme, bad token": "bearer x",
	} {
		r := call(t, http.MethodGet, list, auth, "")
		wantStatus(t, r, http.StatusForbidden)
		if string(r.body) != forbidden {
			t.Errorf("%s: body %s", name, r.body)
		}
		if r.header.Get("X-RateLimit-Reset") == "" {
			t.Errorf("%s: no rate-limit headers on an error", name)
		}
	}
	r := call(t, http.MethodGet, list, "Basic "+sb.VercelToken(), "")
	wantStatus(t, r, http.StatusUnauthorized)

	r = call(t, http.MethodGet, list, bearerOf(sb.VercelToken()), "")
	wantStatus(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	limit, _ := strconv.Atoi(r.header.Get("X-RateLimit-Limit"))
	remaining, err := strconv.Atoi(r.header.Get("X-RateLimit-Remaining"))
	reset, _ := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
	now := time.Now().Unix()
	if limit <= 0 || err != nil || remaining >= limit || reset < now || reset > now+3600 {
		t.Errorf("rate-limit headers limit=%d remaining=%d reset=%d (now %d): reset must be epoch seconds",
			limit, remaining, reset, now)
	}

	// Revoking the current token (as a test may) makes it fail like any bad token.
	toks := sb.VercelTokens()
	for i := range toks {
		if toks[i].ID == sb.CurrentVercelTokenID() {
			toks[i].RevokedAt = time.Now().Add(-time.Minute).UnixMilli()
		}
	}
	sb.SetVercelTokens(toks)
	wantStatus(t, call(t, http.MethodGet, list, bearerOf(sb.VercelToken()), ""), http.StatusForbidden)
}

func TestVercelLimitBounds(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	for _, v := range []string{"0", "101", "-1", "abc", "2.5", ""} {
		r := call(t, http.MethodGet, srv.URL+"/vercel/v6/user/tokens?limit="+v, bearerOf(sb.VercelToken()), "")
		wantStatus(t, r, http.StatusBadRequest)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		r.json(t, &e)
		if e.Error.Code != "bad_request" || e.Error.Message == "" {
			t.Errorf("limit=%q: body %s", v, r.body)
		}
	}
	for _, v := range []string{"1", "100"} {
		wantStatus(t, call(t, http.MethodGet, srv.URL+"/vercel/v6/user/tokens?limit="+v, bearerOf(sb.VercelToken()), ""), http.StatusOK)
	}
	wantStatus(t, call(t, http.MethodGet, srv.URL+"/vercel/v6/user/tokens?until=%21%21", bearerOf(sb.VercelToken()), ""), http.StatusBadRequest)
}

func TestVercelEmptyAccount(t *testing.T) {
	sb, srv := start(t, sandbox.Config{VercelTokens: -1})
	r := call(t, http.MethodGet, srv.URL+"/vercel/v6/user/tokens", bearerOf(sb.VercelToken()), "")
	wantStatus(t, r, http.StatusOK)
	if string(r.body) != `{"tokens":[],"pagination":{}}` {
		t.Fatalf("body %s", r.body)
	}
	// The token still authenticates and describes itself.
	wantStatus(t, call(t, http.MethodGet, srv.URL+"/vercel/v5/user/tokens/current", bearerOf(sb.VercelToken()), ""), http.StatusOK)
}

func TestVercelGetToken(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	auth := bearerOf(sb.VercelToken())
	r := call(t, http.MethodGet, srv.URL+"/vercel/v5/user/tokens/current", auth, "")
	wantStatus(t, r, http.StatusOK)
	var got struct{ Token sandbox.VercelToken }
	r.json(t, &got)
	if got.Token.ID != sb.CurrentVercelTokenID() {
		t.Fatalf("current is %s, want %s", got.Token.ID, sb.CurrentVercelTokenID())
	}
	if len(got.Token.Scopes) == 0 || got.Token.Scopes[0].Type != "user" || got.Token.Prefix != "vcp_" {
		t.Fatalf("current token is not a full-account personal token: %+v", got.Token)
	}

	other := sb.VercelTokens()[5]
	r = call(t, http.MethodGet, srv.URL+"/vercel/v5/user/tokens/"+other.ID, auth, "")
	wantStatus(t, r, http.StatusOK)
	r.json(t, &got)
	if got.Token.ID != other.ID || got.Token.CreatedAt != other.CreatedAt {
		t.Fatalf("got %+v, want %+v", got.Token, other)
	}

	// Ids that could escape into other routes must stay one segment.
	for _, id := range []string{"nope", "a/b", "?x=1", "#frag", "%", "..", "../../v2/user", "current/x", other.ID + "/"} {
		r := call(t, http.MethodGet, srv.URL+"/vercel/v5/user/tokens/"+url.PathEscape(id), auth, "")
		wantStatus(t, r, http.StatusNotFound)
		if !strings.Contains(string(r.body), `"code":"not_found"`) {
			t.Errorf("id %q: body %s", id, r.body)
		}
	}
	for _, raw := range []string{"a/b", "..", "x/../../../v2/user"} {
		wantStatus(t, call(t, http.MethodGet, srv.URL+"/vercel/v5/user/tokens/"+raw, auth, ""), http.StatusNotFound)
	}
}

func TestVercelUser(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	r := call(t, http.MethodGet, srv.URL+"/vercel/v2/user", bearerOf(sb.VercelToken()), "")
	wantStatus(t, r, http.StatusOK)
	var got struct{ User sandbox.VercelUser }
	r.json(t, &got)
	if got.User != sb.VercelAccount() || got.User.Email == "" || got.User.DefaultTeamID == "" {
		t.Fatalf("got %+v, want %+v", got.User, sb.VercelAccount())
	}
}

func TestVercelCreateAndDelete(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	auth := bearerOf(sb.VercelToken())
	r := call(t, http.MethodPost, srv.URL+"/vercel/v3/user/tokens", auth, `{"name":"new one"}`)
	wantStatus(t, r, http.StatusOK)
	var created struct {
		Token       sandbox.VercelToken
		BearerToken string
	}
	r.json(t, &created)
	if created.BearerToken == "" || created.Token.Suffix != created.BearerToken[len(created.BearerToken)-6:] {
		t.Fatalf("created %+v", created)
	}
	if sb.VercelTokens()[0].ID != created.Token.ID {
		t.Fatal("a new token is not listed first")
	}
	secrets := strings.Join(sb.Secrets(), "\n")
	if !strings.Contains(secrets, created.BearerToken) {
		t.Fatal("minted bearer token missing from Secrets()")
	}
	newAuth := bearerOf(created.BearerToken)
	wantStatus(t, call(t, http.MethodGet, srv.URL+"/vercel/v5/user/tokens/current", newAuth, ""), http.StatusOK)

	for _, body := range []string{`{}`, `{"name":1}`, `{"name":"x","extra":1}`, `[]`, `{"name":"x","expiresAt":1}`} {
		wantStatus(t, call(t, http.MethodPost, srv.URL+"/vercel/v3/user/tokens", auth, body), http.StatusBadRequest)
	}

	r = call(t, http.MethodDelete, srv.URL+"/vercel/v3/user/tokens/"+created.Token.ID, auth, "")
	wantStatus(t, r, http.StatusOK)
	if string(r.body) != `{"tokenId":"`+created.Token.ID+`"}` {
		t.Fatalf("delete body %s", r.body)
	}
	wantStatus(t, call(t, http.MethodGet, srv.URL+"/vercel/v5/user/tokens/current", newAuth, ""), http.StatusForbidden)
	wantStatus(t, call(t, http.MethodDelete, srv.URL+"/vercel/v3/user/tokens/"+created.Token.ID, auth, ""), http.StatusNotFound)
}

// TestVercelDataCoverage checks the generated data holds every case the
// plugin must render.
func TestVercelDataCoverage(t *testing.T) {
	sb := sandbox.New(sandbox.Config{})
	toks := sb.VercelTokens()
	if len(toks) != 30 {
		t.Fatalf("%d tokens, want 30", len(toks))
	}
	now := time.Now().UnixMilli()
	const day = int64(24 * time.Hour / time.Millisecond)
	has := map[string]bool{}
	teams := map[string]bool{}
	created := map[int64]bool{}
	for _, tk := range toks {
		if len(tk.ID) != 64 || strings.Trim(tk.ID, "0123456789abcdef") != "" {
			t.Errorf("id %q is not 64 hex", tk.ID)
		}
		if created[tk.CreatedAt] {
			t.Errorf("duplicate createdAt %d", tk.CreatedAt)
		}
		created[tk.CreatedAt] = true
		if tk.ActiveAt < tk.CreatedAt || tk.CreatedAt > now {
			t.Errorf("%s: createdAt %d activeAt %d", tk.Name, tk.CreatedAt, tk.ActiveAt)
		}
		switch {
		case tk.ExpiresAt == 0:
			has["no expiry"] = true
		case tk.ExpiresAt < now:
			has["expired"] = true
		case tk.ExpiresAt < now+7*day:
			has["expiring within 7 days"] = true
		}
		if tk.RevokedAt != 0 {
			has["revoked"] = true
		}
		if tk.LeakedAt != 0 && tk.LeakedURL != "" {
			has["leaked"] = true
		}
		if tk.Prefix == "" && tk.Suffix == "" && tk.Origin == "" && tk.Scopes == nil {
			has["bare"] = true
		}
		if now-tk.ActiveAt > 90*day {
			has["inactive 90 days"] = true
		}
		for _, sc := range tk.Scopes {
			if sc.Type == "team" && sc.TeamID != "" {
				teams[sc.TeamID] = true
			}
			if sc.Type == "user" && sc.Sudo != nil {
				has["sudo"] = true
			}
		}
		if tk.ID == sb.CurrentVercelTokenID() {
			has["current"] = true
		}
	}
	for _, k := range []string{"no expiry", "expired", "expiring within 7 days", "revoked", "leaked", "bare", "inactive 90 days", "sudo", "current"} {
		if !has[k] {
			t.Errorf("no %s token", k)
		}
	}
	if len(teams) < 2 || len(teams) > 3 {
		t.Errorf("%d distinct teams, want 2-3", len(teams))
	}
}

// TestVercelOptionalKeysAbsent: optional fields are left out, never null.
func TestVercelOptionalKeysAbsent(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	r := call(t, http.MethodGet, srv.URL+"/vercel/v6/user/tokens?limit=100", bearerOf(sb.VercelToken()), "")
	var p vercelPage
	r.json(t, &p)
	for _, tok := range p.Tokens {
		for k, v := range tok {
			if string(v) == "null" {
				t.Errorf("token key %s is null", k)
			}
		}
	}
}

func TestVercelManyTokensAreFast(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 100,000 tokens")
	}
	start := time.Now()
	sb := sandbox.New(sandbox.Config{VercelTokens: 100000})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("New took %v", d)
	}
	toks := sb.VercelTokens()
	if len(toks) != 100000 {
		t.Fatalf("%d tokens", len(toks))
	}
	for i := 1; i < len(toks); i++ {
		if toks[i].CreatedAt >= toks[i-1].CreatedAt {
			t.Fatalf("createdAt not strictly decreasing at %d", i)
		}
	}
}
