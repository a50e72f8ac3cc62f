package sandbox

// Checks of the emulation against the vendors' own material in
// /work/shared/specs (Vercel's OpenAPI fragments, Clerk's Backend API spec,
// the Query Server's hurl tests). CI has no ../shared: the tests skip there.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghodss/yaml"
)

const specDir = "../../../shared/specs"

func specFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(specDir, rel))
	if err != nil {
		t.Skipf("vendor specs not available (%v): they live in the workspace's shared/specs, not in the repo", err)
	}
	return b
}

func decodeNumbers(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %.200q: %v", b, err)
	}
	return v
}

// schemaCheck is a small OpenAPI 3.0 schema validator: $ref, allOf, oneOf
// and anyOf (both as "at least one branch": the Vercel list union overlaps
// on purpose), type, nullable, enum, required, properties, items,
// additionalProperties:false and minimum. With strict set, an object may
// hold no key its schema does not list: the emulation must not invent
// fields (error envelopes are checked leniently, as Vercel adds keys there).
type schemaCheck struct{ root map[string]any }

func (c schemaCheck) resolve(s map[string]any) map[string]any {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		node := any(c.root)
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			node = node.(map[string]any)[part]
		}
		s = node.(map[string]any)
	}
}

// properties collects the property names a schema allows, through allOf.
func (c schemaCheck) properties(s map[string]any) map[string]bool {
	s = c.resolve(s)
	out := map[string]bool{}
	if props, ok := s["properties"].(map[string]any); ok {
		for k := range props {
			out[k] = true
		}
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			for k := range c.properties(sub.(map[string]any)) {
				out[k] = true
			}
		}
	}
	return out
}

func (c schemaCheck) check(s map[string]any, v any, path string, strict bool) []string {
	s = c.resolve(s)
	if v == nil {
		if s["nullable"] == true {
			return nil
		}
		return []string{path + ": null where the schema does not allow it"}
	}
	var errs []string
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			errs = append(errs, c.check(sub.(map[string]any), v, path, false)...)
		}
	}
	for _, key := range []string{"oneOf", "anyOf"} {
		if branches, ok := s[key].([]any); ok {
			var best []string
			matched := false
			for i, b := range branches {
				e := c.check(b.(map[string]any), v, fmt.Sprintf("%s(%s %d)", path, key, i), strict)
				if len(e) == 0 {
					matched = true
					break
				}
				if best == nil || len(e) < len(best) {
					best = e
				}
			}
			if !matched {
				errs = append(errs, best...)
			}
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		errs = append(errs, fmt.Sprintf("%s: %v not in %v", path, v, enum))
	}
	if min, ok := s["minimum"].(json.Number); ok {
		if n, isNum := v.(json.Number); isNum {
			a, _ := n.Float64()
			b, _ := min.Float64()
			if a < b {
				errs = append(errs, fmt.Sprintf("%s: %v < minimum %v", path, n, min))
			}
		}
	}
	switch s["type"] {
	case "string":
		if _, ok := v.(string); !ok {
			errs = append(errs, fmt.Sprintf("%s: %v is not a string", path, v))
		}
	case "number", "integer":
		n, ok := v.(json.Number)
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: %v is not a number", path, v))
		} else if _, err := n.Int64(); s["type"] == "integer" && err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v is not an integer", path, v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			errs = append(errs, fmt.Sprintf("%s: %v is not a boolean", path, v))
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return append(errs, fmt.Sprintf("%s: not an array", path))
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range arr {
				errs = append(errs, c.check(items, e, fmt.Sprintf("%s[%d]", path, i), strict)...)
			}
		}
	}
	obj, isObj := v.(map[string]any)
	if s["type"] == "object" && !isObj {
		return append(errs, fmt.Sprintf("%s: not an object", path))
	}
	if isObj {
		if req, ok := s["required"].([]any); ok {
			for _, k := range req {
				if _, ok := obj[k.(string)]; !ok {
					errs = append(errs, fmt.Sprintf("%s: required key %v missing", path, k))
				}
			}
		}
		props, _ := s["properties"].(map[string]any)
		for k, val := range obj {
			if p, ok := props[k].(map[string]any); ok {
				errs = append(errs, c.check(p, val, path+"."+k, strict)...)
			}
		}
		allowed := c.properties(s)
		if (strict || s["additionalProperties"] == false) && len(allowed) > 0 {
			for k := range obj {
				if !allowed[k] {
					errs = append(errs, fmt.Sprintf("%s: key %q is not in the schema", path, k))
				}
			}
		}
	}
	return errs
}

func mustPath(t *testing.T, v any, path ...string) map[string]any {
	t.Helper()
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("spec has no %v", path)
		}
		v = m[p]
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("spec has no object at %v", path)
	}
	return m
}

func get(t *testing.T, method, url, auth, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestVercelMatchesOpenAPI(t *testing.T) {
	spec := decodeNumbers(t, specFile(t, "vercel/vercel-spec.user-tokens.json")).(map[string]any)
	c := schemaCheck{root: spec}
	responses := func(path, method string) map[string]any {
		return mustPath(t, spec, "paths", path, method, "responses")
	}
	schema200 := func(path, method string) map[string]any {
		return mustPath(t, responses(path, method), "200", "content", "application/json", "schema")
	}
	// The fields the notes call required are exactly the spec's.
	auth := mustPath(t, spec, "components", "schemas", "AuthToken")
	var req []string
	for _, r := range auth["required"].([]any) {
		req = append(req, r.(string))
	}
	sort.Strings(req)
	if strings.Join(req, ",") != "activeAt,createdAt,id,name,type" {
		t.Fatalf("AuthToken.required is %v", req)
	}
	// Every field the sandbox can emit is an AuthToken property.
	props := c.properties(auth)
	for _, k := range []string{"id", "name", "type", "prefix", "suffix", "origin", "scopes", "createdAt", "activeAt", "expiresAt", "revokedAt", "leakedAt", "leakedUrl"} {
		if !props[k] {
			t.Errorf("sandbox emits %s, not in AuthToken", k)
		}
	}

	for _, mode := range []string{"number", "string", "mixed"} {
		sb := New(Config{VercelCursor: mode, VercelTokens: 45})
		srv := httptest.NewServer(sb)
		bearer := "Bearer " + sb.VercelToken()
		until := ""
		for page := 0; ; page++ {
			u := srv.URL + "/vercel/v6/user/tokens?limit=7"
			if until != "" {
				u += "&until=" + strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(until)
			}
			status, body := get(t, "GET", u, bearer, "")
			if status != 200 {
				t.Fatalf("%s page %d: %d %s", mode, page, status, body)
			}
			v := decodeNumbers(t, body)
			if errs := c.check(schema200("/v6/user/tokens", "get"), v, "list", true); len(errs) > 0 {
				t.Fatalf("%s page %d does not match the list schema: %v", mode, page, errs)
			}
			next := v.(map[string]any)["pagination"].(map[string]any)["next"]
			if next == nil {
				break
			}
			until = fmt.Sprint(next)
		}
		for _, id := range []string{"current", sb.VercelTokens()[3].ID} {
			status, body := get(t, "GET", srv.URL+"/vercel/v5/user/tokens/"+id, bearer, "")
			if errs := c.check(schema200("/v5/user/tokens/{tokenId}", "get"), decodeNumbers(t, body), "get", true); status != 200 || len(errs) > 0 {
				t.Fatalf("get %s: %d %v", id, status, errs)
			}
		}
		reqSchema := mustPath(t, spec, "paths", "/v3/user/tokens", "post", "requestBody", "content", "application/json", "schema")
		createBody := `{"name":"spec check","expiresAt":` + strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10) + `}`
		if errs := c.check(reqSchema, decodeNumbers(t, []byte(createBody)), "create request", true); len(errs) > 0 {
			t.Fatal(errs)
		}
		status, body := get(t, "POST", srv.URL+"/vercel/v3/user/tokens", bearer, createBody)
		if errs := c.check(schema200("/v3/user/tokens", "post"), decodeNumbers(t, body), "create", true); status != 200 || len(errs) > 0 {
			t.Fatalf("create: %d %v", status, errs)
		}
		id := decodeNumbers(t, body).(map[string]any)["token"].(map[string]any)["id"].(string)
		status, body = get(t, "DELETE", srv.URL+"/vercel/v3/user/tokens/"+id, bearer, "")
		if errs := c.check(schema200("/v3/user/tokens/{tokenId}", "delete"), decodeNumbers(t, body), "delete", true); status != 200 || len(errs) > 0 {
			t.Fatalf("delete: %d %v", status, errs)
		}

		// Error bodies follow the spec's error components; their statuses are
		// among those each operation declares.
		for _, tc := range []struct {
			method, path, op, url, auth, schema string
			status                              int
		}{
			{"GET", "/v6/user/tokens", "get", "/vercel/v6/user/tokens", "", "VercelForbiddenError", 403},
			{"GET", "/v6/user/tokens", "get", "/vercel/v6/user/tokens?limit=0", bearer, "VercelBadRequestError", 400},
			{"GET", "/v6/user/tokens", "get", "/vercel/v6/user/tokens", "Basic x", "VercelBaseError", 401},
			{"GET", "/v5/user/tokens/{tokenId}", "get", "/vercel/v5/user/tokens/nope", bearer, "VercelNotFoundError", 404},
			{"DELETE", "/v3/user/tokens/{tokenId}", "delete", "/vercel/v3/user/tokens/nope", bearer, "VercelNotFoundError", 404},
			{"POST", "/v3/user/tokens", "post", "/vercel/v3/user/tokens", bearer, "VercelBadRequestError", 400},
		} {
			status, body := get(t, tc.method, srv.URL+tc.url, tc.auth, "")
			if status != tc.status {
				t.Errorf("%s %s: status %d, want %d", tc.method, tc.url, status, tc.status)
			}
			if _, declared := responses(tc.path, tc.op)[strconv.Itoa(status)]; !declared {
				t.Errorf("%s %s answers %d, which the operation does not declare", tc.method, tc.path, status)
			}
			v := decodeNumbers(t, body)
			if tc.schema == "VercelBaseError" {
				v = v.(map[string]any)["error"]
			}
			if errs := c.check(mustPath(t, spec, "components", "schemas", tc.schema), v, tc.url, false); len(errs) > 0 {
				t.Errorf("%s %s: %v", tc.method, tc.url, errs)
			}
		}
		sb.AddFault(Fault{Upstream: UpstreamVercel, Kind: "status", Status: 429, Times: 1})
		_, body = get(t, "GET", srv.URL+"/vercel/v6/user/tokens", bearer, "")
		rl := decodeNumbers(t, body)
		if errs := c.check(mustPath(t, spec, "components", "schemas", "VercelRateLimitError"), rl, "429", false); len(errs) > 0 {
			t.Errorf("429: %v", errs)
		}
		if errs := c.check(mustPath(t, spec, "components", "schemas", "RateLimitNotice"), rl.(map[string]any)["error"].(map[string]any)["limit"], "429.limit", true); len(errs) > 0 {
			t.Errorf("429 limit: %v", errs)
		}
		srv.Close()
	}

	// The empty account's `pagination: {}` (the CLI fixture) does NOT match
	// the schema: the sandbox reproduces the quirk on purpose.
	empty := decodeNumbers(t, []byte(`{"tokens":[],"pagination":{}}`))
	if errs := c.check(schema200("/v6/user/tokens", "get"), empty, "empty", true); len(errs) == 0 {
		t.Error("the schema accepts pagination {}: the quirk note is stale")
	}
}

// TestSchemaCheckRejects keeps the validator honest: it must fail bodies
// that break the spec, or the checks above prove nothing.
func TestSchemaCheckRejects(t *testing.T) {
	spec := decodeNumbers(t, specFile(t, "vercel/vercel-spec.user-tokens.json")).(map[string]any)
	c := schemaCheck{root: spec}
	list := mustPath(t, spec, "paths", "/v6/user/tokens", "get", "responses", "200", "content", "application/json", "schema")
	good := `{"id":"a","name":"n","type":"t","createdAt":1,"activeAt":2}`
	for name, body := range map[string]string{
		"missing name":   `{"tokens":[{"id":"a","type":"t","createdAt":1,"activeAt":2}],"pagination":{"count":1,"next":null,"prev":null}}`,
		"unknown key":    `{"tokens":[{"id":"a","name":"n","type":"t","createdAt":1,"activeAt":2,"teamId":"x"}],"pagination":{"count":1,"next":null,"prev":null}}`,
		"boolean next":   `{"tokens":[` + good + `],"pagination":{"count":1,"next":true,"prev":null}}`,
		"null optional":  `{"tokens":[{"id":"a","name":"n","type":"t","createdAt":1,"activeAt":2,"expiresAt":null}],"pagination":{"count":1,"next":null,"prev":null}}`,
		"mixed variants": `{"tokens":[` + good + `],"pagination":{"count":1,"next":"abc","prev":5}}`,
		"bad scope":      `{"tokens":[{"id":"a","name":"n","type":"t","createdAt":1,"activeAt":2,"scopes":[{"type":"team","createdAt":1}]}],"pagination":{"count":1,"next":null,"prev":null}}`,
	} {
		if errs := c.check(list, decodeNumbers(t, []byte(body)), name, true); len(errs) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := `{"tokens":[` + good + `],"pagination":{"count":1,"next":null,"prev":null}}`
	if errs := c.check(list, decodeNumbers(t, []byte(ok)), "ok", true); len(errs) > 0 {
		t.Errorf("minimal page rejected: %v", errs)
	}
}

var clerkSpec struct {
	once sync.Once
	v    map[string]any
	err  error
}

func loadClerkSpec(t *testing.T) map[string]any {
	t.Helper()
	raw := specFile(t, "clerk/bapi-2026-05-12.yml")
	clerkSpec.once.Do(func() {
		j, err := yaml.YAMLToJSON(raw)
		if err != nil {
			clerkSpec.err = err
			return
		}
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.UseNumber()
		clerkSpec.err = dec.Decode(&clerkSpec.v)
	})
	if clerkSpec.err != nil {
		t.Fatalf("parsing the Clerk spec: %v", clerkSpec.err)
	}
	return clerkSpec.v
}

func TestClerkMatchesOpenAPI(t *testing.T) {
	spec := loadClerkSpec(t)
	c := schemaCheck{root: spec}
	sit := mustPath(t, spec, "components", "schemas", "SignInToken")
	errsSchema := mustPath(t, spec, "components", "schemas", "ClerkErrors")
	create := mustPath(t, spec, "paths", "/sign_in_tokens", "post")
	revoke := mustPath(t, spec, "paths", "/sign_in_tokens/{sign_in_token_id}/revoke", "post")
	if sit["additionalProperties"] != false {
		t.Fatal("SignInToken is no longer additionalProperties: false")
	}

	sb := New(Config{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	key := "Bearer " + sb.ClerkSecretKey()
	user := sb.ClerkUserIDs()[0]

	// The create body's properties are exactly what the sandbox accepts.
	body := mustPath(t, create, "requestBody", "content", "application/json", "schema")
	var names []string
	for k := range body["properties"].(map[string]any) {
		names = append(names, k)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "expires_in_seconds,org_id,user_id" {
		t.Fatalf("create properties %v", names)
	}
	min, _ := mustPath(t, body, "properties", "expires_in_seconds")["minimum"].(json.Number).Int64()
	status, _ := get(t, "POST", srv.URL+"/clerk/v1/sign_in_tokens", key, fmt.Sprintf(`{"user_id":%q,"expires_in_seconds":%d}`, user, min-1))
	if status != 422 {
		t.Errorf("expires_in_seconds below the spec minimum: %d", status)
	}

	status, created := get(t, "POST", srv.URL+"/clerk/v1/sign_in_tokens", key,
		fmt.Sprintf(`{"user_id":%q,"org_id":%q,"expires_in_seconds":%d}`, user, sb.ClerkOrgIDs()[0], min))
	if errs := c.check(sit, decodeNumbers(t, created), "create", true); status != 200 || len(errs) > 0 {
		t.Fatalf("create: %d %v %s", status, errs, created)
	}
	id := decodeNumbers(t, created).(map[string]any)["id"].(string)
	status, revoked := get(t, "POST", srv.URL+"/clerk/v1/sign_in_tokens/"+id+"/revoke", key, "")
	if errs := c.check(sit, decodeNumbers(t, revoked), "revoke", true); status != 200 || len(errs) > 0 {
		t.Fatalf("revoke: %d %v", status, errs)
	}

	for _, tc := range []struct {
		op   map[string]any
		url  string
		auth string
		body string
		want int
	}{
		{create, "/clerk/v1/sign_in_tokens", "Bearer " + sb.ClerkPublishableKey(), `{"user_id":"` + user + `"}`, 403},
		{create, "/clerk/v1/sign_in_tokens", key, `{"user_id":"user_nope"}`, 404},
		{create, "/clerk/v1/sign_in_tokens", key, `{}`, 422},
		{create, "/clerk/v1/sign_in_tokens", key, `{"user_id":"` + user + `","org_id":"` + sb.ClerkOrgIDs()[1] + `"}`, 422},
		{revoke, "/clerk/v1/sign_in_tokens/" + id + "/revoke", key, "", 400},
		{revoke, "/clerk/v1/sign_in_tokens/sit_nope/revoke", key, "", 404},
		{nil, "/clerk/v1/sign_in_tokens", "", `{}`, 401},
	} {
		status, b := get(t, "POST", srv.URL+tc.url, tc.auth, tc.body)
		if status != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.url, tc.body, status, tc.want)
		}
		if tc.op != nil {
			if _, declared := tc.op["responses"].(map[string]any)[strconv.Itoa(status)]; !declared {
				t.Errorf("%s answers %d, which the operation does not declare", tc.url, status)
			}
		}
		if errs := c.check(errsSchema, decodeNumbers(t, b), fmt.Sprint(status), true); len(errs) > 0 {
			t.Errorf("%d body: %v", status, errs)
		}
	}
	sb.AddFault(Fault{Upstream: UpstreamClerk, Kind: "status", Status: 429, Times: 1})
	_, b := get(t, "POST", srv.URL+"/clerk/v1/sign_in_tokens", key, `{"user_id":"`+user+`"}`)
	if errs := c.check(errsSchema, decodeNumbers(t, b), "429", true); len(errs) > 0 {
		t.Errorf("429 body: %v", errs)
	}
}

// hurl runner: enough of hurl's format to replay the Query Server's own
// test files against the sandbox. Entries that go through /_/query (raw
// SQL) are skipped, except option switches, which map to
// SetQueryServerOption.

type hurlEntry struct {
	method, url string
	headers     [][2]string
	body        string
	status      int
	wantBody    string
	asserts     []string
}

var hurlRequestLine = regexp.MustCompile(`^(GET|POST|PUT|DELETE|PATCH) (\S+)$`)

func parseHurl(text string) []hurlEntry {
	var out []hurlEntry
	var cur *hurlEntry
	lines := strings.Split(text, "\n")
	section := ""
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\r")
		trim := strings.TrimSpace(line)
		switch {
		case trim == "" || strings.HasPrefix(trim, "#"):
		case hurlRequestLine.MatchString(trim):
			m := hurlRequestLine.FindStringSubmatch(trim)
			out = append(out, hurlEntry{method: m[1], url: m[2]})
			cur, section = &out[len(out)-1], ""
		case cur == nil:
		case strings.HasPrefix(trim, "```"):
			var body []string
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				body = append(body, lines[i])
			}
			cur.body = strings.Join(body, "\n")
		case strings.HasPrefix(trim, "HTTP "):
			cur.status, _ = strconv.Atoi(strings.TrimPrefix(trim, "HTTP "))
			section = "response"
		case trim == "[Asserts]" || trim == "[Captures]":
			section = trim
		case section == "[Asserts]":
			cur.asserts = append(cur.asserts, trim)
		case section == "[Captures]":
		case section == "response":
			cur.wantBody += trim
		case cur.status == 0 && strings.Contains(trim, ":"):
			k, v, _ := strings.Cut(trim, ":")
			cur.headers = append(cur.headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
	}
	return out
}

var jsonPathPart = regexp.MustCompile(`\.([A-Za-z_]+)|\['([^']+)'\]|\[(\d+)\]`)

func evalJSONPath(v any, path string) (any, bool) {
	for _, m := range jsonPathPart.FindAllStringSubmatch(strings.TrimPrefix(path, "$"), -1) {
		switch {
		case m[1] != "" || m[2] != "":
			o, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = o[m[1]+m[2]]; !ok {
				return nil, false
			}
		default:
			arr, ok := v.([]any)
			i, _ := strconv.Atoi(m[3])
			if !ok || i >= len(arr) {
				return nil, false
			}
			v = arr[i]
		}
	}
	return v, true
}

var hurlAssert = regexp.MustCompile(`^jsonpath "([^"]+)" (exists|==|!=)\s*(.*)$`)
var hurlVar = regexp.MustCompile(`\{\{(\w+)\}\}`)
var hurlOption = regexp.MustCompile(`UPDATE _config_option SET value = '(\d)' WHERE name = '(\w+)'`)

func TestQueryServerHurlSuite(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(specDir, "query-server-hurl", "*", "*.hurl"))
	if len(files) == 0 {
		t.Skipf("vendor hurl tests not available under %s (they are workspace data, not in the repo)", specDir)
	}
	skip := map[string]string{
		// It needs a user that only another file's raw SQL inserts.
		"user_token/validate_user_creation_true.hurl": "depends on a user inserted through /_/query by another file",
	}
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			if why, ok := skip[name]; ok {
				t.Skip(why)
			}
			raw, _ := os.ReadFile(f)
			// A fresh server: only the admin, no standalone tokens.
			sb := New(Config{QueryServerUsers: -1})
			sb.query.tokens = nil
			srv := httptest.NewServer(sb)
			defer srv.Close()
			now := time.Now()
			vars := map[string]string{
				"host":       srv.URL + "/query",
				"user_token": "Bearer " + sb.QueryServerAdminToken(),
				"next_month": strconv.FormatInt(now.AddDate(0, 1, 0).UnixMilli(), 10),
				"next_year":  strconv.FormatInt(now.AddDate(1, 0, 0).UnixMilli(), 10),
				"prev_month": strconv.FormatInt(now.AddDate(0, -1, 0).UnixMilli(), 10),
				// What the files capture from raw SQL: an admin's token, or a
				// valid non-admin's (added below).
				"token": sb.QueryServerAdminToken(),
			}
			if strings.Contains(name, "no_admin") {
				sb.mu.Lock()
				st := sb.query
				u := st.addUser(st.mint, "no-admin@example.com", 0, 1, now.Unix(), "")
				vars["token"] = st.addUserToken(st.mint, u, now.Unix(), now.Unix(), now.Unix(), 1, 1).token
				sb.mu.Unlock()
			}
			sub := func(s string) (string, bool) {
				ok := true
				out := hurlVar.ReplaceAllStringFunc(s, func(m string) string {
					v, found := vars[hurlVar.FindStringSubmatch(m)[1]]
					ok = ok && found
					return v
				})
				return out, ok
			}
			ran := 0
			for i, e := range parseHurl(string(raw)) {
				url, _ := sub(e.url)
				if strings.HasSuffix(strings.SplitN(url, "?", 2)[0], "/_/query") {
					if m := hurlOption.FindStringSubmatch(e.body); m != nil {
						sb.SetQueryServerOption(m[2], m[1])
					}
					continue
				}
				body, _ := sub(e.body)
				req, _ := http.NewRequest(e.method, url, strings.NewReader(body))
				for _, h := range e.headers {
					v, _ := sub(h[1])
					req.Header.Set(h[0], v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				ran++
				if resp.StatusCode != e.status {
					t.Fatalf("entry %d %s %s: HTTP %d, want %d (%q)", i, e.method, e.url, resp.StatusCode, e.status, got)
				}
				if e.wantBody != "" && string(got) != e.wantBody {
					t.Errorf("entry %d: body %q, want %q", i, got, e.wantBody)
				}
				for _, a := range e.asserts {
					m := hurlAssert.FindStringSubmatch(a)
					if m == nil {
						t.Fatalf("unsupported assert %q", a)
					}
					val, found := evalJSONPath(decodeNumbers(t, got), m[1])
					want, _ := sub(strings.TrimSpace(m[3]))
					want = strings.Trim(want, `"`)
					switch {
					case m[2] == "exists" && !found,
						m[2] == "==" && (!found || fmt.Sprint(val) != want),
						m[2] == "!=" && found && fmt.Sprint(val) == want:
						t.Errorf("entry %d: %s failed on %s", i, a, got)
					}
				}
			}
			if ran == 0 {
				t.Fatal("nothing ran")
			}
		})
	}
}
