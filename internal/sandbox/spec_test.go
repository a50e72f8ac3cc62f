//go:build specs

// The sandbox checked against what the vendors themselves publish (../shared/specs,
// described in its README.md):
//
//   - TestSpecVercel and TestSpecClerk send every request the sandbox emulates for
//     those two providers and validate each answer (status, headers, body) with
//     kin-openapi against the vendor's OpenAPI document.
//   - TestSpecOkta (spec_okta_test.go) does the same for Okta, validating the schemas
//     its operations use where the document as a whole does not validate.
//   - TestSpecQueryServerHurl replays the Query Server's own hurl tests for
//     /_/user/token (the parser is in spec_hurl_test.go).
//
// Run it with
//
//	TOKENS_SPECS=/work/shared/specs go test -tags specs -count=1 -v ./internal/sandbox -run Spec
//
// or `make spec-check`. TOKENS_SPECS names the specs directory. A relative value is
// taken relative to the repository root (so TOKENS_SPECS=../shared/specs works from
// there), not to this package's directory, where go test runs. The vendor files are
// read at test time and never copied into the repository. Without them the test fails.
package sandbox_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// The hurl files of query-server-hurl/user_token, each either replayed (with the
// sandbox it runs on) or out of scope (with the reason). Every file in the directory
// must be in exactly one of the two: a new vendor file fails until it is classified.
var (
	hurlInScope = map[string]sandbox.Config{
		"create.hurl":            {},
		"delete.hurl":            {},
		"update.hurl":            {},
		"validate_is_admin.hurl": {},
		// It expects its two new users at $.data[1] and $.data[2]: only the admin may
		// come before them (specs/README.md, "Row order").
		"list.hurl": {Estate: "clean"},
	}
	hurlOutOfScope = map[string]string{
		"validate_is_no_admin.hurl": "makes a non-admin user and its token with INSERT statements through /_/query and " +
			"captures the token with a SELECT; every later step needs that token (and entries 1-2 carry raw newlines " +
			"in JSON strings, a vendor defect per specs/README.md)",
		"validate_token_creation.hurl": "switches the create_token option off and on through /_/query " +
			"(UPDATE _config_option); the sandbox has no option switches",
		"validate_user_creation_false.hurl": "switches the create_user option off through /_/query and inserts its user " +
			"with SQL (entry 2 also carries raw newlines, a vendor defect per specs/README.md)",
		"validate_user_creation_true.hurl": "switches the create_user option through /_/query, and its POST /_/user/token " +
			"expects 201 for a user that only validate_user_creation_false.hurl's SQL creates",
		"value.hurl": "the /_/user/token/value endpoints return secrets; the sandbox never serves them",
	}
)

const howToRun = "set TOKENS_SPECS to the vendors' specs directory, e.g. " +
	"TOKENS_SPECS=/work/shared/specs go test -tags specs -count=1 ./internal/sandbox (or make spec-check)"

// specsDir is the vendors' specs directory, from TOKENS_SPECS.
func specsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TOKENS_SPECS")
	if dir == "" {
		t.Fatal("TOKENS_SPECS is not set: " + howToRun)
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir) // go test runs in internal/sandbox
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Fatalf("TOKENS_SPECS=%s: no specs directory there (%v): %s", os.Getenv("TOKENS_SPECS"), err, howToRun)
	}
	return dir
}

// --- Vercel and Clerk against their OpenAPI documents ---

// oasCheck validates one provider's answers against its vendor's OpenAPI document.
type oasCheck struct {
	doc    *openapi3.T
	router routers.Router
	base   string // the provider's base URL on the sandbox
	auth   string // the connection's Authorization header
	n      int    // answers validated
}

func newOASCheck(t *testing.T, file, base, auth string) *oasCheck {
	t.Helper()
	doc, ctx := loadOAS(t, file)
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", file, err)
	}
	return routeOAS(t, file, doc, base, auth)
}

// loadOAS reads a vendor's OpenAPI document, unvalidated.
func loadOAS(t *testing.T, file string) (*openapi3.T, context.Context) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(filepath.Join(specsDir(t), file))
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	return doc, loader.Context
}

// routeOAS checks answers against a loaded document.
func routeOAS(t *testing.T, file string, doc *openapi3.T, base, auth string) *oasCheck {
	t.Helper()
	// The documents' servers are the vendors' hosts (Clerk's with its /v1 prefix): the
	// sandbox's base URL for the provider takes their place, so the router matches the
	// sandbox's URLs the way it would match the vendor's.
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router for %s: %v", file, err)
	}
	return &oasCheck{doc: doc, router: router, base: base, auth: auth}
}

// oasCase is one request and the status the sandbox must answer it with.
type oasCase struct {
	name   string
	method string
	path   string // below the provider's base URL, query included
	body   any    // sent as JSON when not nil
	auth   string // replaces the connection's credential when set
	status int
	// envelope is a components.schemas entry the error body must match, where the
	// operation declares no body for the status (every Vercel 4xx) or does not declare
	// the status at all (undeclared).
	envelope   string
	undeclared bool
}

// run sends c, validates the answer and returns its decoded body.
func (o *oasCheck) run(t *testing.T, c oasCase) (decoded any) {
	t.Run(c.name, func(t *testing.T) {
		req := c.method + " " + c.path
		var body io.Reader
		if c.body != nil {
			b, err := json.Marshal(c.body)
			if err != nil {
				t.Fatal(err)
			}
			body = bytes.NewReader(b)
		}
		r, err := http.NewRequest(c.method, o.base+c.path, body)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", cmp.Or(c.auth, o.auth))
		if c.body != nil {
			r.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatalf("%s: %v", req, err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: reading the answer: %v", req, err)
		}
		if resp.StatusCode != c.status {
			t.Fatalf("%s: HTTP %d, want %d: %.300s", req, resp.StatusCode, c.status, raw)
		}
		if len(raw) > 0 || resp.StatusCode != http.StatusNoContent {
			if err := json.Unmarshal(raw, &decoded); err != nil {
				t.Fatalf("%s: the body is not JSON: %v: %.300s", req, err, raw)
			}
		}
		route, params, err := o.router.FindRoute(r)
		if err != nil {
			t.Fatalf("%s: no operation of the spec matches: %v", req, err)
		}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
			Status:                 resp.StatusCode,
			Header:                 resp.Header,
			Options:                &openapi3filter.Options{IncludeResponseStatus: !c.undeclared, MultiError: true},
		}
		in.SetBodyBytes(raw)
		err = openapi3filter.ValidateResponse(context.Background(), in)
		if err != nil && vercelListVariantsOverlap(route, resp.StatusCode, decoded) {
			t.Logf("%s: accepted although it matches both variants of the list's oneOf (upstream-apis.md, correction 2)", req)
			err = nil
		}
		if err != nil {
			t.Errorf("%s (operation %s): %v", req, route.Operation.OperationID, err)
		}
		if c.envelope != "" {
			s := o.doc.Components.Schemas[c.envelope]
			if s == nil {
				t.Fatalf("the spec has no components.schemas.%s", c.envelope)
			}
			if err := s.Value.VisitJSON(decoded, openapi3.VisitAsResponse(), openapi3.MultiErrors()); err != nil {
				t.Errorf("%s: the error body does not match %s: %v", req, c.envelope, err)
			}
		}
		o.n++
	})
	return decoded
}

// vercelListVariantsOverlap is the one vendor defect the Vercel list's schema has: a
// page whose pagination.next and prev are both null matches both variants of its
// oneOf (string cursors and the numeric Pagination), so a list that fits on one page
// cannot pass (upstream-apis.md, "Corrections", 2). It holds only when the body matches every
// variant on its own, which leaves "more than one match" as the only failure.
func vercelListVariantsOverlap(route *routers.Route, status int, body any) bool {
	if route.Operation.OperationID != "listAuthTokens" || status != http.StatusOK {
		return false
	}
	p, _ := body.(map[string]any)["pagination"].(map[string]any)
	next, hasNext := p["next"]
	prev, hasPrev := p["prev"]
	if !hasNext || !hasPrev || next != nil || prev != nil {
		return false
	}
	variants := route.Operation.Responses.Status(http.StatusOK).Value.Content.Get("application/json").Schema.Value.OneOf
	for _, v := range variants {
		if v.Value.VisitJSON(body, openapi3.VisitAsResponse()) != nil {
			return false
		}
	}
	return len(variants) > 1
}

func TestSpecVercel(t *testing.T) {
	const spec = "vercel/vercel-spec.user-tokens.json"
	specsDir(t) // one failure, not one per subtest, when the specs are missing
	total := 0

	// The audit estate: every hand-made token (one page), and every write and error.
	t.Run("audit", func(t *testing.T) {
		sb := sandbox.New(sandbox.Config{})
		srv := httptest.NewServer(sb)
		defer srv.Close()
		o := newOASCheck(t, spec, srv.URL+"/vercel", "Bearer "+sb.VercelToken())
		defer func() { total += o.n }()

		cases := []oasCase{
			{name: "list one page", method: "GET", path: "/v6/user/tokens", status: 200},
			{name: "list limit=100", method: "GET", path: "/v6/user/tokens?limit=100", status: 200},
			{name: "get current", method: "GET", path: "/v5/user/tokens/current", status: 200},
		}
		for _, tok := range sb.VercelTokens() {
			cases = append(cases, oasCase{name: "get " + tok.Name, method: "GET", path: "/v5/user/tokens/" + url.PathEscape(tok.ID), status: 200})
		}
		future := time.Now().Add(48 * time.Hour).UnixMilli()
		cases = append(cases, []oasCase{
			{name: "get missing", method: "GET", path: "/v5/user/tokens/tok_missing", status: 404, envelope: "VercelNotFoundError"},
			{name: "create", method: "POST", path: "/v3/user/tokens", body: map[string]any{"name": "spec check"}, status: 200},
			{name: "create expiring", method: "POST", path: "/v3/user/tokens", body: map[string]any{"name": "spec expiring", "expiresAt": future}, status: 200},
			{name: "create for a team", method: "POST", path: "/v3/user/tokens?teamId=" + sandbox.TeamPlatform, body: map[string]any{"name": "spec team"}, status: 200},
			{name: "create without name", method: "POST", path: "/v3/user/tokens", body: map[string]any{}, status: 400, envelope: "VercelBadRequestError"},
			{name: "create expired", method: "POST", path: "/v3/user/tokens", body: map[string]any{"name": "x", "expiresAt": 1000}, status: 400, envelope: "VercelBadRequestError"},
			{name: "create for another team", method: "POST", path: "/v3/user/tokens?teamId=team_notMine", body: map[string]any{"name": "x"}, status: 403, envelope: "VercelForbiddenError"},
			{name: "delete", method: "DELETE", path: "/v3/user/tokens/tok_0ldM0n1t0r1ng4Lp8Kq", status: 200},
			{name: "delete again", method: "DELETE", path: "/v3/user/tokens/tok_0ldM0n1t0r1ng4Lp8Kq", status: 404, envelope: "VercelNotFoundError"},
			{name: "list limit=0", method: "GET", path: "/v6/user/tokens?limit=0", status: 400, envelope: "VercelBadRequestError"},
			{name: "list limit=101", method: "GET", path: "/v6/user/tokens?limit=101", status: 400, envelope: "VercelBadRequestError"},
			{name: "list limit=2.5", method: "GET", path: "/v6/user/tokens?limit=2.5", status: 400, envelope: "VercelBadRequestError"},
			{name: "list bad cursor", method: "GET", path: "/v6/user/tokens?until=not-a-cursor", status: 400, envelope: "VercelBadRequestError"},
			{name: "unknown credential", method: "GET", path: "/v6/user/tokens", auth: "Bearer wrong", status: 403, envelope: "VercelForbiddenError"},
			{name: "not a bearer credential", method: "GET", path: "/v5/user/tokens/current", auth: "Basic d3Jvbmc=", status: 401},
		}...)
		for _, c := range cases {
			o.run(t, c)
		}
	})

	// Generated tokens, so that the list pages: first, middle and last pages with
	// each kind of cursor the sandbox sends.
	for _, mode := range []string{"number", "string", "mixed"} {
		t.Run("paging "+mode, func(t *testing.T) {
			sb := sandbox.New(sandbox.Config{Generate: map[string]int{"vercel": 300}, Options: map[string]string{"vercel.cursor": mode}})
			srv := httptest.NewServer(sb)
			defer srv.Close()
			o := newOASCheck(t, spec, srv.URL+"/vercel", "Bearer "+sb.VercelToken())
			defer func() { total += o.n }()

			o.run(t, oasCase{name: "first page, default limit", method: "GET", path: "/v6/user/tokens", status: 200})
			o.run(t, oasCase{name: "first page, limit=1", method: "GET", path: "/v6/user/tokens?limit=1", status: 200})
			seen, q := 0, url.Values{"limit": {"100"}}
			for page := 1; ; page++ {
				body := o.run(t, oasCase{name: fmt.Sprintf("page %d, limit=100", page), method: "GET", path: "/v6/user/tokens?" + q.Encode(), status: 200})
				b, _ := body.(map[string]any)
				tokens, _ := b["tokens"].([]any)
				seen += len(tokens)
				next := b["pagination"].(map[string]any)["next"]
				if next == nil || page > 10 {
					break
				}
				q.Set("until", fmt.Sprint(jsonScalar(next)))
			}
			if want := len(sb.VercelTokens()); seen != want {
				t.Errorf("paging saw %d tokens, want %d", seen, want)
			}
			// Cursors past the last token: an empty page.
			o.run(t, oasCase{name: "numeric cursor past the end", method: "GET", path: "/v6/user/tokens?until=1", status: 200})
			end := base64.StdEncoding.EncodeToString([]byte("pos:" + strconv.Itoa(len(sb.VercelTokens()))))
			o.run(t, oasCase{name: "string cursor past the end", method: "GET", path: "/v6/user/tokens?" + url.Values{"until": {end}}.Encode(), status: 200})
		})
	}
	t.Logf("vercel: %d answers validated against %s", total, spec)
}

// jsonScalar prints a decoded cursor the way it came: a ms timestamp without an exponent.
func jsonScalar(v any) any {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return v
}

func TestSpecClerk(t *testing.T) {
	const spec = "clerk/bapi-2026-05-12.yml"
	sb := sandbox.New(sandbox.Config{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	o := newOASCheck(t, spec, srv.URL+"/clerk/v1", "Bearer "+sb.ClerkSecretKey())
	users, orgs := sandbox.ClerkUsers, sandbox.ClerkOrgs

	created := o.run(t, oasCase{name: "create", method: "POST", path: "/sign_in_tokens", body: map[string]any{"user_id": users[0]}, status: 200})
	id, _ := created.(map[string]any)["id"].(string)
	if id == "" {
		t.Fatalf("create answered no id: %v", created)
	}
	for _, c := range []oasCase{
		{name: "create with org and lifetime", method: "POST", path: "/sign_in_tokens",
			body: map[string]any{"user_id": users[0], "org_id": orgs[0], "expires_in_seconds": 3600}, status: 200},
		{name: "create with null org and lifetime", method: "POST", path: "/sign_in_tokens",
			body: map[string]any{"user_id": users[1], "org_id": nil, "expires_in_seconds": nil}, status: 200},
		{name: "create without user_id", method: "POST", path: "/sign_in_tokens", body: map[string]any{}, status: 422},
		{name: "create with an unknown parameter", method: "POST", path: "/sign_in_tokens",
			body: map[string]any{"user_id": users[0], "lifetime": 60}, status: 422},
		{name: "create in an org the user is not in", method: "POST", path: "/sign_in_tokens",
			body: map[string]any{"user_id": users[0], "org_id": orgs[1]}, status: 422},
		{name: "create with lifetime 0", method: "POST", path: "/sign_in_tokens",
			body: map[string]any{"user_id": users[0], "expires_in_seconds": 0}, status: 422},
		{name: "create for a missing user", method: "POST", path: "/sign_in_tokens", body: map[string]any{"user_id": "user_missing"}, status: 404},
		{name: "revoke", method: "POST", path: "/sign_in_tokens/" + url.PathEscape(id) + "/revoke", status: 200},
		{name: "revoke again", method: "POST", path: "/sign_in_tokens/" + url.PathEscape(id) + "/revoke", status: 400},
		{name: "revoke missing", method: "POST", path: "/sign_in_tokens/sit_missing/revoke", status: 404},
		// Neither operation declares 401, Clerk's answer to a bad key elsewhere
		// (upstream-apis.md, "Corrections", 4): its body is still ClerkErrors.
		{name: "create with a wrong key", method: "POST", path: "/sign_in_tokens", body: map[string]any{"user_id": users[0]},
			auth: "Bearer sk_wrong", status: 401, envelope: "ClerkErrors", undeclared: true},
	} {
		o.run(t, c)
	}
	t.Logf("clerk: %d answers validated against %s", o.n, spec)
}

// --- Query Server: the vendor's hurl tests replayed ---

func TestSpecQueryServerHurl(t *testing.T) {
	dir := filepath.Join(specsDir(t), "query-server-hurl", "user_token")
	files, err := filepath.Glob(filepath.Join(dir, "*.hurl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no hurl files in %s (%v)", dir, err)
	}
	var names, classified []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for name := range hurlInScope {
		classified = append(classified, name)
	}
	for name := range hurlOutOfScope {
		classified = append(classified, name)
	}
	slices.Sort(classified)
	if !slices.Equal(names, classified) {
		t.Fatalf("the hurl files in %s are %v; the test classifies %v: add each new file to hurlInScope or hurlOutOfScope",
			dir, names, classified)
	}

	entries, overHTTP := 0, 0
	for _, name := range names {
		cfg, ok := hurlInScope[name]
		if !ok {
			continue
		}
		t.Run(strings.TrimSuffix(name, ".hurl"), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := parseHurl(string(src))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			sb := sandbox.New(cfg)
			srv := httptest.NewServer(sb)
			defer srv.Close()
			now := time.Now()
			r := &hurlReplay{sb: sb, host: srv.URL + "/query", uuids: map[string]string{}, vars: map[string]string{
				"host":       srv.URL + "/query",
				"user_token": "Bearer " + sb.QueryServerAdminToken(),
				// As the vendor's Makefile computes them: date +%s%3N, shifted.
				"next_month": strconv.FormatInt(now.AddDate(0, 1, 0).UnixMilli(), 10),
				"next_year":  strconv.FormatInt(now.AddDate(1, 0, 0).UnixMilli(), 10),
				"prev_month": strconv.FormatInt(now.AddDate(0, -1, 0).UnixMilli(), 10),
			}}
			for i, e := range parsed {
				if err := r.play(e); err != nil {
					t.Errorf("%s entry %d (line %d, %s %s): %v", name, i+1, e.line, e.method, e.url, err)
				}
			}
			entries, overHTTP = entries+len(parsed), overHTTP+r.sent
		})
	}
	t.Logf("query server: %d hurl files replayed, %d entries (%d over HTTP, the rest mapped to the Go API); %d files out of scope",
		len(hurlInScope), entries, overHTTP, len(hurlOutOfScope))
}

// hurlReplay plays one file's entries against a sandbox, in order.
type hurlReplay struct {
	sb    *sandbox.Sandbox
	host  string
	vars  map[string]string
	uuids map[string]string // email -> uuid of each user the file created
	sent  int               // entries played over HTTP
}

// The SQL the vendor's files send through /_/query that maps to the sandbox's Go API.
var (
	sqlUserUUID       = `\(SELECT uuid FROM _config_user WHERE email = '[^']*'\)`
	sqlEmail          = regexp.MustCompile(`email = '([^']*)'`)
	sqlSelectToken    = regexp.MustCompile(`^SELECT \* FROM _config_user_token WHERE user_uuid = \(SELECT uuid FROM _config_user WHERE email = '([^']*)'\)$`)
	sqlDeleteTokensOf = regexp.MustCompile(`^DELETE FROM _config_user_token WHERE user_uuid (= ` + sqlUserUUID +
		`|IN \(` + sqlUserUUID + `(, ` + sqlUserUUID + `)*\))$`)
	sqlDeleteUser = regexp.MustCompile(`^DELETE FROM _config_user WHERE email = '([^']*)';?$`)
)

// errNotMapped marks a step the sandbox cannot play: its file belongs out of scope.
var errNotMapped = errors.New("the sandbox cannot play this step; if that is expected, move the file to hurlOutOfScope")

func (r *hurlReplay) play(e hurlEntry) error {
	target, err := expand(e.url, r.vars)
	if err != nil {
		return err
	}
	body, err := expand(e.body, r.vars)
	if err != nil {
		return err
	}
	path, ok := strings.CutPrefix(target, r.host)
	if !ok {
		return fmt.Errorf("%s is not below {{host}}: %w", target, errNotMapped)
	}
	var status int
	var answer []byte
	switch {
	case e.method == "POST" && path == "/_/user":
		status, err = r.addUser(body, e.status)
	case e.method == "DELETE" && path == "/_/user":
		status, err = r.deleteUser(body, e.status)
	case e.method == "POST" && path == "/_/query":
		status, answer, err = r.query(body, e.status)
	default:
		status, answer, err = r.send(e, target, body)
	}
	if err != nil {
		return err
	}
	return r.check(e, status, answer)
}

// addUser stands for POST /_/user. The sandbox's AddQueryServerUser makes an active
// user and the token the server's insert trigger makes (write 1, never expiring).
// Only an active admin is mapped: the server's INSERT swaps the admin and active
// values (gc-victor/query controllers/user.rs), which matters only when they differ.
//
// A mapped step answers the status it expects, or is refused as unmapped: what the
// replay checks for it is the state the later steps read, not its status.
func (r *hurlReplay) addUser(body string, want int) (int, error) {
	var in struct {
		Email         string
		Admin, Active *bool
	}
	if err := json.Unmarshal([]byte(body), &in); err != nil || in.Email == "" {
		return 0, fmt.Errorf("POST /_/user body %q (%v): %w", body, err, errNotMapped)
	}
	if (in.Admin != nil && !*in.Admin) || (in.Active != nil && !*in.Active) || want != http.StatusCreated {
		return 0, fmt.Errorf("POST /_/user for anything but an active admin answered 201: %w", errNotMapped)
	}
	if r.user(in.Email) != nil {
		return 0, fmt.Errorf("POST /_/user: %s exists already (the server would ignore it): %w", in.Email, errNotMapped)
	}
	r.uuids[in.Email] = r.sb.AddQueryServerUser(in.Email, true)
	return http.StatusCreated, nil
}

// deleteUser stands for DELETE /_/user, which runs DELETE FROM _config_user WHERE
// email = ?; the user's token goes with it (ON DELETE CASCADE).
func (r *hurlReplay) deleteUser(body string, want int) (int, error) {
	var in struct{ Email string }
	if err := json.Unmarshal([]byte(body), &in); err != nil || in.Email == "" || want != http.StatusOK {
		return 0, fmt.Errorf("DELETE /_/user body %q (%v), expecting %d: %w", body, err, want, errNotMapped)
	}
	return r.removeUser(in.Email)
}

func (r *hurlReplay) removeUser(email string) (int, error) {
	if r.user(email) == nil {
		return http.StatusBadRequest, nil // validate_user_email: "The email (x) don't exist"
	}
	r.sb.DeleteQueryServerUser(email)
	if err := r.tokenGone(email); err != nil {
		return 0, err
	}
	return http.StatusOK, nil
}

// query stands for the few statements the files send through POST /_/query.
func (r *hurlReplay) query(body string, want int) (int, []byte, error) {
	var in struct {
		DBName string `json:"db_name"`
		Query  string `json:"query"`
	}
	if err := json.Unmarshal([]byte(body), &in); err != nil || in.DBName != "query_config.sql" || want != http.StatusOK {
		return 0, nil, fmt.Errorf("POST /_/query body %q (%v), expecting %d: %w", body, err, want, errNotMapped)
	}
	switch q := in.Query; {
	case sqlSelectToken.MatchString(q):
		b, err := json.Marshal(map[string]any{"data": r.tokenRows(sqlSelectToken.FindStringSubmatch(q)[1])})
		return http.StatusOK, b, err
	case sqlDeleteTokensOf.MatchString(q):
		// After the user's deletion the subquery is NULL and the statement a no-op: the
		// cascade took the token already. Check that it did.
		for _, m := range sqlEmail.FindAllStringSubmatch(q, -1) {
			if r.user(m[1]) != nil {
				return 0, nil, fmt.Errorf("%q while %s still exists (only the no-op after its deletion is mapped): %w", q, m[1], errNotMapped)
			}
			if err := r.tokenGone(m[1]); err != nil {
				return 0, nil, err
			}
		}
		return http.StatusOK, nil, nil
	case sqlDeleteUser.MatchString(q):
		// The statement DELETE /_/user runs (gc-victor/query controllers/user.rs),
		// without its check that the user exists: deleting nobody is a no-op.
		if email := sqlDeleteUser.FindStringSubmatch(q)[1]; r.user(email) != nil {
			if _, err := r.removeUser(email); err != nil {
				return 0, nil, err
			}
		}
		return http.StatusOK, nil, nil
	}
	return 0, nil, fmt.Errorf("POST /_/query %q: %w", in.Query, errNotMapped)
}

func (r *hurlReplay) user(email string) *sandbox.QueryServerUser {
	for _, u := range r.sb.QueryServerUsers() {
		if u.Email == email {
			return &u
		}
	}
	return nil
}

// tokenRows is SELECT * FROM _config_user_token for one user, each row in the shape
// GET /_/user/token answers (queryserver.go): booleans as 0/1.
func (r *hurlReplay) tokenRows(email string) []map[string]any {
	rows := []map[string]any{}
	u := r.user(email)
	if u == nil {
		return rows
	}
	for _, t := range r.sb.QueryServerUserTokens() {
		if t.UserUUID == u.UUID {
			rows = append(rows, map[string]any{"id": t.ID, "user_uuid": t.UserUUID, "token": t.Token,
				"expiration_date": t.ExpirationDate, "active": boolInt(t.Active), "write": boolInt(t.Write),
				"created_at": t.CreatedAt, "updated_at": t.UpdatedAt})
		}
	}
	return rows
}

// tokenGone checks that no token row is left for a user the file created.
func (r *hurlReplay) tokenGone(email string) error {
	uuid := r.uuids[email]
	for _, t := range r.sb.QueryServerUserTokens() {
		if uuid != "" && t.UserUUID == uuid {
			return fmt.Errorf("the token of deleted user %s (id %d) is still there: the cascade did not happen", email, t.ID)
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// send plays an entry over HTTP against the sandbox.
func (r *hurlReplay) send(e hurlEntry, target, body string) (int, []byte, error) {
	var rb io.Reader
	if e.body != "" {
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequest(e.method, target, rb)
	if err != nil {
		return 0, nil, err
	}
	if e.body != "" {
		req.Header.Set("Content-Type", "application/json") // as hurl sends a ```json body
	}
	for _, h := range e.headers {
		v, err := expand(h[1], r.vars)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set(h[0], v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	r.sent++
	answer, err := io.ReadAll(resp.Body)
	return resp.StatusCode, answer, err
}

// check compares an answer with the entry's status, body, asserts and captures.
func (r *hurlReplay) check(e hurlEntry, status int, answer []byte) error {
	if status != e.status {
		return fmt.Errorf("HTTP %d, want %d (body %.200q)", status, e.status, answer)
	}
	var errs []error
	if e.expect != "" && !jsonEqual(answer, []byte(e.expect)) {
		errs = append(errs, fmt.Errorf("body %.300s, want %s", answer, e.expect))
	}
	if len(e.asserts) == 0 && len(e.captures) == 0 {
		return errors.Join(errs...)
	}
	var doc any
	if err := json.Unmarshal(answer, &doc); err != nil {
		return errors.Join(append(errs, fmt.Errorf("body %.200q is not JSON: %v", answer, err))...)
	}
	for _, a := range e.asserts {
		v, err := expand(a.value, r.vars)
		if err == nil {
			a.value = v
			err = a.check(doc)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range e.captures {
		nodes, err := jsonQuery(doc, c.path)
		if err == nil && len(nodes) == 0 {
			err = fmt.Errorf("capture %s: nothing at %q", c.name, c.path)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if s, ok := nodes[0].(string); ok {
			r.vars[c.name] = s
		} else {
			r.vars[c.name] = jsonText(nodes[0])
		}
	}
	return errors.Join(errs...)
}
