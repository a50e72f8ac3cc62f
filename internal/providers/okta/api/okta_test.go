package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/testkit"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

func newTestClient(t testing.TB, token, base string) *Client {
	t.Helper()
	c, err := New(upstream.Options{BaseURL: base + "/okta", Timeout: 5 * time.Second, MaxRetries: 3,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// walk lists every page, returning the tokens and the error that ended the walk.
func walk(c *Client) ([]Token, error) {
	var all []Token
	for page, err := range c.Tokens(context.Background(), nil) {
		if err != nil {
			return all, err
		}
		all = append(all, page...)
	}
	return all, nil
}

func TestTokensFollowsTheNextLinkToTheEnd(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{Generate: map[string]int{"okta": 393}})
	got, err := walk(newTestClient(t, sb.OktaAPIToken(), u))
	if err != nil {
		t.Fatal(err)
	}
	var want, gotIDs []string
	for _, tok := range sb.OktaTokens() {
		want = append(want, tok.ID)
	}
	for _, tok := range got {
		gotIDs = append(gotIDs, tok.ID)
	}
	if !slices.Equal(gotIDs, want) || len(want) != 400 {
		t.Fatalf("%d tokens, not the sandbox's %d in order", len(gotIDs), len(want))
	}
	var afters []string
	for _, r := range sb.Requests() {
		q, _ := url.ParseQuery(r.RawQuery)
		afters = append(afters, q.Get("after"))
	}
	// exactly 400: the second page is the last, and names no next
	if !slices.Equal(afters, []string{"", want[199]}) {
		t.Fatalf("pages asked with after %q", afters)
	}
}

func TestTokenValues(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb.OktaAPIToken(), u)
	tok, err := c.GetToken(context.Background(), sandbox.OktaTokenOnLeave)
	if err != nil {
		t.Fatal(err)
	}
	day := func(n int) time.Time { return sb.Now().AddDate(0, 0, n) }
	if tok.ID != sandbox.OktaTokenOnLeave || tok.Name != "on-leave script" || *tok.ClientName != "Okta API" || tok.TokenWindow != "P30D" ||
		!tok.Created.Equal(day(-30)) || !tok.ExpiresAt.Equal(day(20)) || !tok.LastUpdated.Equal(day(-30)) ||
		string(tok.NetworkJSON()) != `{"connection":"ZONE","exclude":["`+sandbox.OktaZoneBlocked+`"],"include":["`+sandbox.OktaZoneOffice+`"]}` {
		t.Fatalf("token %+v, network %s", tok, tok.NetworkJSON())
	}
	// no network key
	if tok, err = c.GetToken(context.Background(), sandbox.OktaTokenReporting); err != nil || tok.NetworkJSON() != nil {
		t.Fatalf("%v %v", tok, err)
	}
	// unknown: no token, no error
	if tok, err = c.GetToken(context.Background(), "00Tn0SuchT0k3n4g7xyz"); err != nil || tok != nil {
		t.Fatalf("%v %v", tok, err)
	}
}

func TestOwners(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb.OktaAPIToken(), u)
	ctx := context.Background()
	for _, want := range []struct {
		email         string
		active, deact bool
		canWrite      bool
	}{
		{"grace@example.org", true, false, true},    // SUPER_ADMIN
		{"auditor@example.org", true, false, false}, // READ_ONLY_ADMIN
		{"helpdesk@example.org", true, false, true}, // CUSTOM
		{"former@example.org", false, true, true},   // DEPROVISIONED, ORG_ADMIN
		{"onleave@example.org", false, false, true}, // SUSPENDED, USER_ADMIN
		{"expired@example.org", true, false, false}, // PASSWORD_EXPIRED, no role
	} {
		i := slices.IndexFunc(sb.OktaUsers(), func(u sandbox.OktaUser) bool { return u.Email == want.email })
		id := sb.OktaUsers()[i].ID
		user, err := c.User(ctx, id)
		if err != nil || user.ID != id || *user.Profile.Email != want.email || user.Active() != want.active || user.Deprovisioned() != want.deact {
			t.Fatalf("%s: %+v %v", want.email, user, err)
		}
		roles, err := c.Roles(ctx, id)
		if err != nil || CanWrite(roles) != want.canWrite {
			t.Fatalf("%s: roles %+v %v", want.email, roles, err)
		}
	}
	if user, err := c.User(ctx, "00un0b0dy"); user != nil || err != nil {
		t.Fatalf("an unknown user: %v %v", user, err)
	}
	if _, err := c.Roles(ctx, "00un0b0dy"); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("an unknown user's roles: %v", err)
	}
}

func TestCanWrite(t *testing.T) {
	for _, c := range []struct {
		types []string
		want  bool
	}{
		{nil, false},
		{[]string{"READ_ONLY_ADMIN"}, false},
		{[]string{"READ_ONLY_ADMIN", "READ_ONLY_ADMIN"}, false},
		{[]string{"READ_ONLY_ADMIN", "REPORT_ADMIN"}, true},
		{[]string{"CUSTOM"}, true},
		{[]string{"SUPER_ADMIN"}, true},
		{[]string{""}, true}, // a role of no known type may write
		{[]string{"read_only_admin"}, true},
	} {
		var roles []Role
		for _, typ := range c.types {
			roles = append(roles, Role{Type: typ})
		}
		if got := CanWrite(roles); got != c.want {
			t.Errorf("CanWrite(%q) = %v, want %v", c.types, got, c.want)
		}
	}
}

func TestRevoke(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb.OktaAPIToken(), u)
	ctx := context.Background()
	if err := c.RevokeToken(ctx, sandbox.OktaTokenHelpdesk); err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeToken(ctx, sandbox.OktaTokenHelpdesk); !errors.Is(err, ErrNoSuchToken) {
		t.Fatalf("revoking it again: %v", err)
	}
	// a 404 on the repeat of a revoke whose answer was lost: the first attempt did it
	sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderOkta, Method: "DELETE", Kind: "acted_then_status", Status: 502, Times: 1})
	if err := c.RevokeToken(ctx, sandbox.OktaTokenFormer); err != nil {
		t.Fatal(err)
	}
	if sb.OktaTokenSecret(sandbox.OktaTokenFormer) != "" || sb.Count(sandbox.ProviderOkta, "DELETE", "/api/v1/api-tokens/"+sandbox.OktaTokenFormer) != 2 {
		t.Fatalf("requests %v", sb.Requests())
	}
	if err := c.RevokeToken(ctx, "current"); err != nil {
		t.Fatal(err)
	}
	_, err := walk(c)
	if e := testkit.AsUpstream(t, err); e.Status != 401 || e.Code != "E0000011" || e.Message != "Invalid token provided" {
		t.Fatalf("after revoking its own token: %v", err)
	}
}

func TestErrorsNameOktasCodeAndNeverTheToken(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb.OktaAPIToken(), u)
	sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderOkta, Kind: "status", Status: 403})
	_, err := walk(c)
	if e := testkit.AsUpstream(t, err); e.Error() != "Okta: GET /api/v1/api-tokens: 403 Forbidden E0000006: You do not have permission to perform the requested action" {
		t.Fatalf("%v", err)
	}
	testkit.AssertNoSecret(t, sb, err.Error())
	// a wrong token is refused as Okta refuses it
	sb.ClearFaults()
	_, err = walk(newTestClient(t, "00"+strings.Repeat("x", 40), u))
	if e := testkit.AsUpstream(t, err); e.Status != http.StatusUnauthorized || e.Code != "E0000011" {
		t.Fatalf("%v", err)
	}
}

// A 429 without Retry-After is waited out until X-Rate-Limit-Reset.
func TestThrottledUntilTheReset(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderOkta, Kind: "status", Status: 429, Times: 1})
	start := time.Now()
	got, err := walk(newTestClient(t, sb.OktaAPIToken(), u))
	if err != nil || len(got) != 7 {
		t.Fatalf("%d tokens, %v", len(got), err)
	}
	reqs := sb.Requests()
	if len(reqs) != 2 || reqs[1].Start.Before(start.Truncate(time.Second).Add(time.Second)) {
		t.Fatalf("the retry did not wait for the reset: %v", reqs)
	}
}

func TestNextQuery(t *testing.T) {
	for _, c := range []struct {
		name  string
		links []string
		want  string // the next page's query; "-" none; "error: ..." a refusal
	}{
		{"none", nil, "-"},
		{"self only", []string{`<https://acme.okta.com/api/v1/api-tokens?limit=200>; rel="self"`}, "-"},
		{"two headers", []string{`<https://acme.okta.com/api/v1/api-tokens?limit=200>; rel="self"`,
			`<https://acme.okta.com/api/v1/api-tokens?after=00Tb&limit=200>; rel="next"`}, "after=00Tb&limit=200"},
		{"one header, two links", []string{`<https://acme.okta.com/api/v1/api-tokens?limit=20>; rel="self", <https://acme.okta.com/api/v1/api-tokens?after=00Tc&limit=20>; rel="next"`},
			"after=00Tc&limit=20"},
		{"unquoted, upper case, several rels", []string{`</api/v1/api-tokens?after=x>; type="a;b,c"; REL="prev NEXT"`}, "after=x"},
		{"another host: only the query is taken", []string{`<https://evil.example.com/api/v1/api-tokens?after=y>; rel=next`}, "after=y"},
		{"a path prefix kept in the org's address", []string{`<https://proxy.example.com/okta/api/v1/api-tokens/?after=z>; rel=next`}, "after=z"},
		{"another list", []string{`<https://acme.okta.com/api/v1/users?after=x>; rel="next"`}, "error: the Link header's next page is another list than the tokens'"},
		{"a query that does not parse", []string{`<https://acme.okta.com/api/v1/api-tokens?after=%zz>; rel="next"`}, "error: the Link header's next page has a query that does not parse"},
		{"not a link", []string{`rel="next"`, `garbage`}, "-"},
	} {
		q, err := NextQuery(c.links)
		got := "-"
		switch {
		case err != nil:
			got = "error: " + err.Error()
		case q != nil:
			got = q.Encode()
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// The org's address may hold a path (a proxy's): every request keeps it.
func TestAPathInTheOrgsAddressIsKept(t *testing.T) {
	sb := sandbox.New(sandbox.Config{Generate: map[string]int{"okta": 250}})
	mux := http.NewServeMux()
	mux.Handle("/proxy/", http.StripPrefix("/proxy", sb))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	got, err := walk(newTestClient(t, sb.OktaAPIToken(), srv.URL+"/proxy"))
	if err != nil || len(got) != 257 || len(sb.Requests()) != 2 {
		t.Fatalf("%d tokens in %d requests: %v", len(got), len(sb.Requests()), err)
	}
}
