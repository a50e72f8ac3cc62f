//go:build specs

package sandbox_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// Okta's document (okta/management-minimal.yaml, specs/README.md "Okta") and its
// wrinkles, each checked so that a vendor fix shows:
//
//   - The document as a whole does not validate, for defects far from the operations
//     the plugin calls (an AccessPolicy default, an AppGroup example, an array
//     without items). The schemas those operations use are validated one by one.
//   - TimeDuration's pattern, ^P(?:$)..., accepts no duration but "P": its own
//     examples (P30D) fail it. A token's tokenWindow is checked against the ISO 8601
//     duration the pattern means instead.
//   - ApiToken names its links `_link`; the examples, Okta and the sandbox send
//     `_links`, which the schema (open to other keys) accepts.
//   - listApiTokens declares no parameters and no 401: the sandbox pages with limit
//     and after, as Okta's other lists do, and answers a bad token 401 with Okta's
//     Error body.
var oktaSchemas = []string{"ApiToken", "Error", "UserGetSingleton", "StandardRole", "CustomRole"}

const isoDuration = `^P(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?$`

func TestSpecOkta(t *testing.T) {
	const spec = "okta/management-minimal.yaml"
	doc, ctx := loadOAS(t, spec)
	if err := doc.Validate(ctx); err == nil {
		t.Fatalf("%s now validates as a whole: check it with newOASCheck, as the others", spec)
	}
	for _, name := range oktaSchemas {
		if err := doc.Components.Schemas[name].Value.Validate(ctx); err != nil {
			t.Fatalf("components.schemas.%s is not a valid schema: %v", name, err)
		}
	}
	duration := doc.Components.Schemas["TimeDuration"].Value
	if duration.VisitJSON("P30D") == nil {
		t.Fatalf("TimeDuration now accepts its own example P30D: drop the replacement of its pattern")
	}
	duration.Pattern = isoDuration
	total := 0

	// The audit estate: every token, owner and role, every write and error.
	t.Run("audit", func(t *testing.T) {
		sb := sandbox.New(sandbox.Config{})
		srv := httptest.NewServer(sb)
		defer srv.Close()
		o := routeOAS(t, spec, doc, srv.URL+"/okta", "SSWS "+sb.OktaAPIToken())
		defer func() { total += o.n }()
		readOnly := "SSWS " + sb.OktaTokenSecret(sandbox.OktaTokenReporting)
		cases := []oasCase{
			{name: "list, Okta's default page", method: "GET", path: "/api/v1/api-tokens", status: 200},
			{name: "list limit=200", method: "GET", path: "/api/v1/api-tokens?limit=200", status: 200},
			{name: "list, the read-only admin", method: "GET", path: "/api/v1/api-tokens", auth: readOnly, status: 200},
		}
		for _, tok := range sb.OktaTokens() {
			cases = append(cases, oasCase{name: "get " + tok.Name, method: "GET", path: "/api/v1/api-tokens/" + tok.ID, status: 200})
		}
		for _, u := range sb.OktaUsers() {
			cases = append(cases, oasCase{name: "user " + u.Email, method: "GET", path: "/api/v1/users/" + u.ID, status: 200},
				oasCase{name: "roles of " + u.Email, method: "GET", path: "/api/v1/users/" + u.ID + "/roles", status: 200})
		}
		cases = append(cases, []oasCase{
			{name: "get missing", method: "GET", path: "/api/v1/api-tokens/00Tn0SuchT0k3n4g7xyz", status: 404},
			{name: "user missing", method: "GET", path: "/api/v1/users/00un0SuchUs3r4g7xyz", status: 404},
			{name: "roles of a missing user", method: "GET", path: "/api/v1/users/00un0SuchUs3r4g7xyz/roles", status: 404},
			{name: "revoke, a read-only admin", method: "DELETE", path: "/api/v1/api-tokens/" + sandbox.OktaTokenHelpdesk, auth: readOnly, status: 403},
			{name: "revoke", method: "DELETE", path: "/api/v1/api-tokens/" + sandbox.OktaTokenHelpdesk, status: 204},
			{name: "revoke again", method: "DELETE", path: "/api/v1/api-tokens/" + sandbox.OktaTokenHelpdesk, status: 404},
			{name: "a token of a deactivated owner", method: "GET", path: "/api/v1/api-tokens",
				auth: "SSWS " + sb.OktaTokenSecret(sandbox.OktaTokenFormer), status: 401, envelope: "Error", undeclared: true},
			{name: "an unknown token", method: "GET", path: "/api/v1/api-tokens", auth: "SSWS wrong", status: 401, envelope: "Error", undeclared: true},
			{name: "limit=0", method: "GET", path: "/api/v1/api-tokens?limit=0", status: 400, envelope: "Error", undeclared: true},
			{name: "revoke the current token", method: "DELETE", path: "/api/v1/api-tokens/current", status: 204},
		}...)
		for _, c := range cases {
			o.run(t, c)
		}
	})

	// Generated tokens, so that the list pages: every page, following its next link.
	t.Run("paging", func(t *testing.T) {
		sb := sandbox.New(sandbox.Config{Generate: map[string]int{"okta": 393}})
		srv := httptest.NewServer(sb)
		defer srv.Close()
		base := srv.URL + "/okta"
		o := routeOAS(t, spec, doc, base, "SSWS "+sb.OktaAPIToken())
		defer func() { total += o.n }()
		seen, path := 0, "/api/v1/api-tokens?limit=150"
		for page := 1; path != "" && page < 10; page++ {
			body := o.run(t, oasCase{name: fmt.Sprintf("page %d", page), method: "GET", path: path, status: 200})
			tokens, _ := body.([]any)
			seen += len(tokens)
			path = nextPath(t, sb, base, path)
		}
		if want := len(sb.OktaTokens()); seen != want {
			t.Errorf("paging saw %d tokens, want %d", seen, want)
		}
	})

	// Okta's rate limit: past it, 429 with X-Rate-Limit-Reset.
	t.Run("rate limit", func(t *testing.T) {
		sb := sandbox.New(sandbox.Config{Options: map[string]string{"okta.rate_limit": "1"}})
		srv := httptest.NewServer(sb)
		defer srv.Close()
		o := routeOAS(t, spec, doc, srv.URL+"/okta", "SSWS "+sb.OktaAPIToken())
		defer func() { total += o.n }()
		o.run(t, oasCase{name: "the first request", method: "GET", path: "/api/v1/api-tokens", status: 200})
		o.run(t, oasCase{name: "past the limit", method: "GET", path: "/api/v1/api-tokens", status: 429})
	})
	t.Logf("okta: %d answers validated against %s", total, spec)
}

var nextLink = regexp.MustCompile(`<([^>]*)>;\s*rel="next"`)

// nextPath asks the sandbox again for the page at path and returns the path of its
// rel="next" link below base, "" when it has none.
func nextPath(t *testing.T, sb *sandbox.Sandbox, base, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "SSWS "+sb.OktaAPIToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, l := range resp.Header.Values("Link") {
		if m := nextLink.FindStringSubmatch(l); m != nil {
			u, err := url.Parse(m[1])
			if err != nil || !strings.HasPrefix(m[1], base+"/api/v1/api-tokens?") || u.Query().Get("after") == "" {
				t.Fatalf("next link %q: %v", m[1], err)
			}
			return strings.TrimPrefix(m[1], base)
		}
	}
	return ""
}

// The ISO 8601 duration pattern the test puts in TimeDuration's place accepts the
// durations of Okta's examples and refuses what is not one.
func TestISODurationPattern(t *testing.T) {
	s := &openapi3.Schema{Type: &openapi3.Types{"string"}, Pattern: isoDuration}
	for v, ok := range map[string]bool{"P30D": true, "PT5M": true, "P1Y2M3DT4H5M6S": true, "30D": false, "P30": false, "P5S": false} {
		if got := s.VisitJSON(v) == nil; got != ok {
			t.Errorf("%q: accepted %v, want %v", v, got, ok)
		}
	}
}
