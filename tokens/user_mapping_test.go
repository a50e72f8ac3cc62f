package tokens

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	vercelapi "github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/vercel/api"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/zclconf/go-cty/cty"
)

// The PostgreSQL extension passes a role's user mapping as one more attribute of the
// connection config (wrapper patch 0010): these tests build that config as it does.

// withMapping is a server config body plus the user_mapping attribute holding mapping.
func withMapping(server, mapping string) string {
	f := hclwrite.NewEmptyFile()
	f.Body().SetAttributeValue("user_mapping", cty.StringVal(mapping))
	return server + "\n" + string(f.Bytes())
}

// decodedConfig is a config body as the SDK (or the extension's validator) decodes it.
func decodedConfig(t *testing.T, body string) connectionConfig {
	t.Helper()
	instance := newConnectionBlock(registry).newInstance()
	file, diags := hclsyntax.ParseConfig([]byte(body), "test.hcl", hclPos)
	if !diags.HasErrors() {
		diags = gohcl.DecodeBody(file.Body, noFunctions(), instance)
	}
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return *instance.(*connectionConfig)
}

// hclBody writes name = "value" lines, quoted as HCL quotes them.
func hclBody(kv ...string) string {
	f := hclwrite.NewEmptyFile()
	for i := 0; i+1 < len(kv); i += 2 {
		f.Body().SetAttributeValue(kv[i], cty.StringVal(kv[i+1]))
	}
	return string(f.Bytes())
}

// mappingEnv is a server sandbox (the audit estate, 11 Vercel tokens) and a second
// account a mapping may point at (the clean estate: 1 Vercel token, other credentials).
type mappingEnv struct {
	t              *testing.T
	server, other  *sandbox.Sandbox
	serverURL, url string
	serverConfig   string
}

func newMappingEnv(t *testing.T) *mappingEnv {
	t.Helper()
	for _, name := range configEnv {
		t.Setenv(name, "")
	}
	m := &mappingEnv{t: t}
	e := newEnv(t, sandbox.Config{})
	m.server, m.serverURL = e.sb, e.url
	o := newEnv(t, sandbox.Config{Estate: "clean", Seed: 2})
	m.other, m.url = o.sb, o.url
	m.serverConfig = string(m.server.ConnectionConfig(m.serverURL, map[string]string{"request_timeout": "5", "allow_user_token_revoke": "true"}))
	if m.other.VercelToken() == m.server.VercelToken() || m.other.QueryServerAdminToken() == m.server.QueryServerAdminToken() {
		t.Fatal("the two sandboxes share credentials")
	}
	return m
}

// run queries a new connection whose config is the server's with mapping.
func (m *mappingEnv) run(mapping string, q query) ([]row, error) {
	m.t.Helper()
	e := &env{t: m.t, sb: m.server, url: m.serverURL}
	conn := e.connect(withMapping(m.serverConfig, mapping))
	return runOn(m.t, conn, q, m.server, m.other)
}

func idsOf(rows []row) []string {
	var ids []string
	for _, r := range rows {
		ids = append(ids, r["id"].(string))
	}
	slices.Sort(ids)
	return ids
}

func TestUserMappingReplacesAProviderAsAUnit(t *testing.T) {
	m := newMappingEnv(t)
	vercel := query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel"}}
	qs := query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "query_server"}}

	t.Run("its own Vercel token and URL", func(t *testing.T) {
		m.server.ResetRequests()
		m.other.ResetRequests()
		rows, err := m.run(hclBody("vercel_api_token", m.other.VercelToken(), "vercel_base_url", m.url+"/vercel"), vercel)
		if err != nil || !slices.Equal(idsOf(rows), []string{sandbox.CurrentVercelTokenID}) {
			t.Fatalf("rows %v, %v; want the other account's one token", rows, err)
		}
		if n, o := m.server.Count(sandbox.ProviderVercel, "", ""), m.other.Count(sandbox.ProviderVercel, "", ""); n != 0 || o != 1 {
			t.Fatalf("Vercel requests: %d at the server's sandbox, %d at the mapping's; want 0 and 1", n, o)
		}
		// the providers the mapping leaves alone are the server's
		rows, err = m.run(hclBody("vercel_api_token", m.other.VercelToken(), "vercel_base_url", m.url+"/vercel"), qs)
		if err != nil || len(rows) != 6 || m.server.Count(sandbox.ProviderQueryServer, "", "") != 1 {
			t.Fatalf("Query Server through the server's config: %d rows, %v", len(rows), err)
		}
	})

	t.Run("a URL without a token never gets the server's token", func(t *testing.T) {
		m.server.ResetRequests()
		m.other.ResetRequests()
		_, err := m.run(hclBody("vercel_base_url", m.url+"/vercel"), vercel)
		assertErrorMentions(t, err, "vercel_api_token is not set, but vercel_base_url is set", "set vercel_api_token in the user mapping's config")
		if strings.Contains(err.Error(), "VERCEL_API_TOKEN") {
			t.Fatalf("the error points at the environment, which a mapped provider never reads: %v", err)
		}
		if n := len(m.other.Requests()) + len(m.server.Requests()); n != 0 {
			t.Fatalf("%d requests; want none: %v %v", n, m.other.Requests(), m.server.Requests())
		}
	})

	t.Run("nor the server process's environment", func(t *testing.T) {
		m.server.ResetRequests()
		m.other.ResetRequests()
		t.Setenv("VERCEL_API_TOKEN", m.server.VercelToken())
		t.Setenv("VERCEL_BASE_URL", m.serverURL+"/vercel")
		e := &env{t: t, sb: m.server}
		conn := e.connect(withMapping(`request_timeout = 5`, hclBody("vercel_base_url", m.url+"/vercel")))
		_, err := runOn(t, conn, vercel, m.server, m.other)
		assertErrorMentions(t, err, "vercel_api_token is not set")
		if n := len(m.other.Requests()) + len(m.server.Requests()); n != 0 {
			t.Fatalf("%d requests; want none", n)
		}
		// without a mapping, the environment is used as before
		rows, err := runOn(t, e.connect(`request_timeout = 5`), vercel, m.server, m.other)
		if err != nil || len(rows) != 11 {
			t.Fatalf("the environment without a mapping: %d rows, %v", len(rows), err)
		}
	})

	t.Run("an empty token turns the server's provider off for the role", func(t *testing.T) {
		m.server.ResetRequests()
		// an upstream without credentials contributes no rows, as without a mapping
		rows, err := m.run(hclBody("vercel_api_token", ""), vercel)
		if err != nil || len(rows) != 0 || m.server.Count(sandbox.ProviderVercel, "", "") != 0 {
			t.Fatalf("rows %v, %v, %d Vercel requests; want none", rows, err, m.server.Count(sandbox.ProviderVercel, "", ""))
		}
	})

	t.Run("a Query Server token without its URL", func(t *testing.T) {
		m.server.ResetRequests()
		_, err := m.run(hclBody("query_server_token", m.other.QueryServerAdminToken()), qs)
		assertErrorMentions(t, err, "query_server_url is not set, but query_server_token is set", "in the user mapping's config")
		if n := m.server.Count(sandbox.ProviderQueryServer, "", ""); n != 0 {
			t.Fatalf("%d Query Server requests; want none", n)
		}
	})

	t.Run("its own Clerk key and URL", func(t *testing.T) {
		m.server.ResetRequests()
		m.other.ResetRequests()
		rows, err := m.run(hclBody("clerk_secret_key", m.other.ClerkSecretKey(), "clerk_base_url", m.url+"/clerk/v1", "vercel_api_token", ""),
			sit(map[string]any{"user_id": sandbox.ClerkUsers[0]}, "url"))
		// the server's config does not allow creating sign-in tokens: the flag is the owner's
		assertErrorMentions(t, err, "would create a sign-in token", "allow_sign_in_token_create = true")
		if len(rows) != 0 || len(m.other.Requests())+len(m.server.Requests()) != 0 {
			t.Fatalf("rows %v, requests %v %v", rows, m.other.Requests(), m.server.Requests())
		}
	})
}

// mappingSecret stands for a credential in a mapping that is refused: no error quotes it.
var mappingSecret = "s3cr3t-" + "value-in-a-mapping"

// userMappingCases are the user mappings the plugin refuses: every query of the role
// fails with the error, which names no value. docs/reliability.md lists them
// (TestReliabilityDocIsTheTests).
var userMappingCases = []struct {
	name, mapping string
	want          []string
}{
	{"an allow flag", "allow_user_token_revoke = true", []string{"the user mapping's config sets allow_user_token_revoke, which only the server's config may set"}},
	{"retry settings", "max_retries = 0\nrequest_timeout = 1", []string{"sets max_retries, request_timeout, which only the server's config may set"}},
	{"a user mapping in a mapping", hclBody("user_mapping", "x = 1"), []string{"sets user_mapping, which is the extension's own attribute"}},
	{"an argument misspelt", hclBody("vercel_api_tokn", mappingSecret), []string{"does not parse: line 1: Unsupported argument: An argument named \"vercel_api_tokn\" is not expected here."}},
	{"a string not closed", `vercel_api_token = "` + mappingSecret, []string{"does not parse: line 1: Unterminated template string"}},
	{"a value of the wrong type", "vercel_api_token = [\"" + mappingSecret + "\"]", []string{"does not parse: line 1: Unsuitable value type: Unsuitable value: string required"}},
}

func TestUserMappingRefusals(t *testing.T) {
	m := newMappingEnv(t)
	q := query{table: "user_tokens", columns: []string{"id"}}
	for _, tc := range userMappingCases {
		t.Run(tc.name, func(t *testing.T) {
			m.server.ResetRequests()
			_, err := m.run(tc.mapping, q)
			assertErrorMentions(t, err, append(tc.want, `connection "tokens_t`, "fix it with alter user mapping")...)
			if strings.Contains(err.Error(), mappingSecret) || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the error quotes the mapping's value: %v", err)
			}
			if n := len(m.server.Requests()); n != 0 {
				t.Fatalf("%d requests with a mapping that is refused", n)
			}
		})
	}
}

func renderUserMappingCases() string {
	var b strings.Builder
	b.WriteString("| the user mapping's config | the error says |\n|---|---|\n")
	for _, c := range userMappingCases {
		var says []string
		for _, w := range c.want {
			says = append(says, "`"+strings.ReplaceAll(w, "|", `\|`)+"`")
		}
		fmt.Fprintf(&b, "| %s | %s |\n", c.name, strings.Join(says, ", "))
	}
	return b.String()
}

// The extension changes a connection's config when another role, with other
// credentials, queries it (SET ROLE in one session): the SDK then drops that
// connection's cached rows, so no role is served another's.
func TestAChangedMappingIsNeverServedFromTheCache(t *testing.T) {
	m := newMappingEnv(t)
	e := &env{t: t, sb: m.server}
	roleA := withMapping(m.serverConfig, hclBody("vercel_api_token", m.server.VercelToken(), "vercel_base_url", m.serverURL+"/vercel"))
	roleB := withMapping(m.serverConfig, hclBody("vercel_api_token", m.other.VercelToken(), "vercel_base_url", m.url+"/vercel"))
	conn := e.connect(roleA)
	update := func(config string) {
		t.Helper()
		configMu.Lock()
		defer configMu.Unlock()
		res, err := server.UpdateConnectionConfigs(&proto.UpdateConnectionConfigsRequest{Changed: []*proto.ConnectionConfig{{
			Connection: conn, Plugin: "tokens", PluginShortName: "tokens", PluginInstance: "tokens", Config: config}}})
		if err != nil || res.FailedConnections[conn] != "" {
			t.Fatalf("update: %v %v", err, res.FailedConnections)
		}
	}
	q := query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel"}, cache: true, local: true}
	current := roleA
	for i, step := range []struct {
		config        string
		ids           int
		server, other int // Vercel requests at each sandbox so far
	}{
		{roleA, 11, 1, 0},
		{roleA, 11, 1, 0}, // the cache answers
		{roleB, 1, 1, 1},
		{roleB, 1, 1, 1}, // the cache answers
		{roleA, 11, 2, 1},
	} {
		if current != step.config { // the extension changes a config only when it differs
			update(step.config)
			current = step.config
		}
		rows, err := runOn(t, conn, q, m.server, m.other)
		if err != nil || len(rows) != step.ids {
			t.Fatalf("step %d: %d rows, %v; want %d", i+1, len(rows), err, step.ids)
		}
		if s, o := m.server.Count(sandbox.ProviderVercel, "", ""), m.other.Count(sandbox.ProviderVercel, "", ""); s != step.server || o != step.other {
			t.Fatalf("step %d: Vercel requests %d and %d, want %d and %d", i+1, s, o, step.server, step.other)
		}
	}
}

// ServerCredentials is what the extension's warning names: the credentials of the
// server's own config that a connection uses, never a value.
func TestServerCredentialsNamesTheArgumentsInUse(t *testing.T) {
	server := hclBody("vercel_api_token", "v", "vercel_base_url", "https://v.example.com", "query_server_url", "https://q.example.com",
		"query_server_token", "q", "clerk_base_url", "https://c.example.com", "max_retries", "1")
	for _, tc := range []struct {
		name, config string
		want         []string
	}{
		{"no mapping", server, []string{"vercel_api_token", "query_server_token"}},
		{"a mapping that replaces Vercel", withMapping(server, hclBody("vercel_base_url", "https://mine.example.com")), []string{"query_server_token"}},
		{"a mapping that replaces both", withMapping(server, hclBody("vercel_api_token", "", "query_server_url", "https://q2.example.com")), nil},
		{"a mapping that does not parse", withMapping(server, "nonsense"), nil},
		{"no credentials", hclBody("max_retries", "1", "vercel_api_token", " "), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decodedConfig(t, tc.config).ServerCredentials(); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// A provider from a mapping takes nothing from the server: a token alone goes to the
// provider's own address, not to the server's vercel_base_url (checked on the
// settings: a request there would leave this machine).
func TestAMappedTokenAloneGoesToTheProvidersAddress(t *testing.T) {
	for _, name := range configEnv {
		t.Setenv(name, "")
	}
	t.Setenv("VERCEL_BASE_URL", "https://env.example.com")
	c := testConnection(t, withMapping(hclBody("vercel_api_token", "server-token", "vercel_base_url", "https://server.example.com"),
		hclBody("vercel_api_token", "mapped-token")))
	src := c.sources["vercel"]
	if !src.Configured() || src.Ready() != nil || src.Address() != vercelapi.DefaultBaseURL {
		t.Fatalf("configured %v, address %q, %v; want the mapped token at %s", src.Configured(), src.Address(), src.Ready(), vercelapi.DefaultBaseURL)
	}
}

// CheckUserMapping is what the extension's validator refuses a mapping with at create
// or alter user mapping, before any connection exists: the plugin's words, no value.
func TestCheckUserMappingRefusesWhatQueriesWould(t *testing.T) {
	secret := mappingSecret
	for _, tc := range []struct{ mapping, want string }{
		{"allow_sign_in_token_create = true\nmax_retries = 1", "the user mapping's config sets allow_sign_in_token_create, max_retries, which only the server's config may set (they are the server owner's)"},
		{hclBody("user_mapping", ""), "the user mapping's config sets user_mapping, which is the extension's own attribute"},
		{hclBody("clerk_secret_kee", secret), `the user mapping's config does not parse: line 1: Unsupported argument: An argument named "clerk_secret_kee" is not expected here. Did you mean "clerk_secret_key"?`},
		{hclBody("vercel_api_token", secret, "clerk_base_url", "https://c.example.com"), ""},
	} {
		m := tc.mapping
		err := connectionConfig{UserMapping: &m, block: newConnectionBlock(registry)}.CheckUserMapping()
		if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && got != tc.want) {
			t.Errorf("mapping %q:\n got %v\nwant %s", strings.ReplaceAll(tc.mapping, secret, "<secret>"), strings.ReplaceAll(got, secret, "<secret>"), tc.want)
		}
	}
	if err := (connectionConfig{block: newConnectionBlock(registry)}).CheckUserMapping(); err != nil {
		t.Fatalf("no mapping: %v", err)
	}
}
