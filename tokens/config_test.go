package tokens

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// A credential-shaped text and a password, built from pieces so that no
// secret-shaped literal sits in the repository; the scan below proves neither
// reaches a message.
var (
	pastedToken = "vcp" + "_abcdefghijklmnop123"
	urlPassword = "pw" + "-9Xq2Lm"
)

// configCases are the bad configurations users meet, and what the error must name.
// docs/reliability.md lists them (TestReliabilityDocIsTheTests).
var configCases = []struct {
	name   string
	table  string // "" means user_tokens
	config string
	env    map[string]string
	want   []string
}{
	{"an argument misspelt", "", `vercel_api_tokn = "` + pastedToken + `"`, nil, []string{`the connection config does not parse: line 1: Unsupported argument: An argument named "vercel_api_tokn" is not expected here. Did you mean "vercel_api_token"?`}},
	{"an argument misspelt, asked of token_providers", "token_providers", `vercel_api_tokn = "` + pastedToken + `"`, nil, []string{`the connection config does not parse: line 1: Unsupported argument: An argument named "vercel_api_tokn" is not expected here. Did you mean "vercel_api_token"?`}},
	{"nothing configured", "", ``, nil, []string{"user_tokens has no upstream configured", "vercel_api_token (or VERCEL_API_TOKEN)", "query_server_url (or QUERY_SERVER_URL)",
		"okta_domain (or OKTA_DOMAIN) with okta_api_token (or OKTA_API_TOKEN) for Okta"}},
	{"only Clerk configured", "", `clerk_secret_key = "sk_x"`, nil, []string{"no upstream configured"}},
	{"Query Server URL without its token", "", `query_server_url = "https://q.example.com"`, nil, []string{"query_server_token (or QUERY_SERVER_TOKEN) is not set", "query_server_url is set (config)"}},
	{"Query Server token without its URL", "", `query_server_token = "x"`, nil, []string{"query_server_url (or QUERY_SERVER_URL) is not set"}},
	{"Query Server token without its URL, from the environment", "", ``, map[string]string{"QUERY_SERVER_TOKEN": "x"}, []string{"query_server_url (or QUERY_SERVER_URL) is not set", "query_server_token is set (environment)"}},
	{"Okta domain without its token", "", `okta_domain = "https://acme.okta.com"`, nil, []string{"okta_api_token (or OKTA_API_TOKEN) is not set", "okta_domain is set (config)"}},
	{"Okta token without its domain, from the environment", "", ``, map[string]string{"OKTA_API_TOKEN": "x"}, []string{"okta_domain (or OKTA_DOMAIN) is not set", "okta_api_token is set (environment)", "e.g. https://acme.okta.com"}},
	{"the Okta Admin Console's address", "", `okta_domain = "https://acme-admin.okta.com"` + "\n" + `okta_api_token = "x"`, nil,
		[]string{`okta_domain = "https://acme-admin.okta.com" is the Admin Console's address; the API answers at the org's: https://acme.okta.com`, "OKTA_DOMAIN"}},
	{"an Okta domain without https://", "", `okta_domain = "acme.okta.com"` + "\n" + `okta_api_token = "x"`, nil, []string{`okta_domain = "acme.okta.com"`, "must start with https://"}},
	{"Vercel base URL without a token", "", `vercel_base_url = "https://api.example.com"`, nil, []string{"vercel_api_token (or VERCEL_API_TOKEN) is not set"}},
	{"malformed URL", "", `vercel_api_token = "x"` + "\n" + `vercel_base_url = "ftp://example.com"`, nil, []string{`vercel_base_url = "ftp://example.com"`, "not a usable URL", "must start with https://", "VERCEL_BASE_URL"}},
	{"plain http to a remote host", "", `vercel_api_token = "x"` + "\n" + `vercel_base_url = "http://api.example.com"`, nil, []string{`vercel_base_url = "http://api.example.com"`, "plain http:// is allowed only for a loopback host"}},
	{"malformed URL, from the environment", "", `vercel_api_token = "x"`, map[string]string{"VERCEL_BASE_URL": "example.com/api"}, []string{`VERCEL_BASE_URL = "example.com/api" (from the environment`, "vercel_base_url"}},
	{"URL with credentials in it", "", `query_server_url = "https://admin:` + urlPassword + `@q.example.com"` + "\n" + `query_server_token = "x"`, nil, []string{`query_server_url = "https://[redacted]@q.example.com"`, "must not contain credentials"}},
	{"URL with a token in its query", "", `vercel_api_token = "x"` + "\n" + `vercel_base_url = "https://api.example.com/?token=` + urlPassword + `"`, nil, []string{`vercel_base_url = "https://api.example.com/?[redacted]"`, "must not contain a query"}},
	{"a token pasted into a URL argument", "", `vercel_api_token = "x"` + "\n" + `vercel_base_url = "` + pastedToken + `"`, nil, []string{"[redacted]", "not a usable URL"}},
	{"max_retries not a number", "", `vercel_api_token = "x"` + "\n" + `max_retries = "lots"`, nil, []string{`max_retries = "lots"`, "whole number", "TOKENS_MAX_RETRIES"}},
	{"max_retries out of range", "", `vercel_api_token = "x"` + "\n" + `max_retries = 50`, nil, []string{`max_retries = "50"`, "from 0 to 20"}},
	{"max_retries not a number, from the environment", "", `vercel_api_token = "x"`, map[string]string{"TOKENS_MAX_RETRIES": "3.5"}, []string{`TOKENS_MAX_RETRIES = "3.5"`, "max_retries"}},
	{"request_timeout negative", "", `vercel_api_token = "x"` + "\n" + `request_timeout = -1`, nil, []string{`request_timeout = "-1"`, "seconds greater than 0", "TOKENS_REQUEST_TIMEOUT"}},
	{"request_timeout not a number, from the environment", "", `vercel_api_token = "x"`, map[string]string{"TOKENS_REQUEST_TIMEOUT": "soon"}, []string{`TOKENS_REQUEST_TIMEOUT = "soon"`}},
	{"Clerk key missing", "sign_in_tokens", `allow_sign_in_token_create = true`, nil, []string{"clerk_secret_key (or CLERK_SECRET_KEY) is not set"}},
	{"Clerk publishable key instead of a secret key", "sign_in_tokens", `clerk_secret_key = "pk_x"`, nil, []string{"publishable keys (pk_...) cannot call the Backend API", "CLERK_SECRET_KEY"}},
	{"malformed Clerk URL, from the environment", "sign_in_tokens", `clerk_secret_key = "sk_x"`, map[string]string{"CLERK_API_URL": "api.clerk.com"}, []string{`CLERK_API_URL = "api.clerk.com"`, "clerk_base_url"}},
	{"allow flag not a boolean", "sign_in_tokens", `clerk_secret_key = "sk_x"` + "\n" + `allow_sign_in_token_create = "yes"`, nil, []string{`allow_sign_in_token_create = "yes" must be true or false`}},
	{"allow flag off", "sign_in_tokens", `clerk_secret_key = "sk_x"`, nil, []string{"would create a sign-in token", "allow_sign_in_token_create = true"}},
	{"user token action flag off", "user_token_actions", `vercel_api_token = "x"`, nil, []string{"would revoke a Vercel token", "allow_user_token_revoke = true"}},
	{"user token action flag not a boolean", "user_token_actions", `vercel_api_token = "x"` + "\n" + `allow_user_token_revoke = "maybe"`, nil, []string{`allow_user_token_revoke = "maybe" must be true or false`}},
}

// configEnv are the environment variables of every argument, which tests clear.
var configEnv = func() []string {
	var names []string
	for _, a := range newConnectionBlock(registry).arguments {
		if a.Env != "" {
			names = append(names, a.Env)
		}
	}
	return names
}()

func TestConfigurationErrors(t *testing.T) {
	for _, name := range configEnv {
		t.Setenv(name, "")
	}
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			e := newEnvWith(t, sandbox.Config{}, func(*sandbox.Sandbox, string) string { return tc.config })
			q := query{table: "user_tokens", columns: []string{"id"}}
			switch tc.table {
			case "sign_in_tokens":
				q = sit(map[string]any{"user_id": "user_x"}, "url")
			case "user_token_actions":
				q = uta(map[string]any{"action": "revoke", "provider": "vercel", "id": "tok_x"}, "id")
			case "token_providers":
				q = query{table: "token_providers", columns: []string{"provider", "configured", "config_error"}}
			}
			_, err := e.run(q)
			assertErrorMentions(t, err, append(tc.want, `connection "`+e.conn+`"`)...)
			if strings.Count(err.Error(), "connection \"") != 1 {
				t.Fatalf("the problem is reported more than once: %v", err)
			}
			for _, secret := range []string{pastedToken, urlPassword} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error quotes a secret: %v", err)
				}
			}
		})
	}
}

func TestConfigWinsOverEnvironment(t *testing.T) {
	for _, name := range configEnv {
		t.Setenv(name, "")
	}
	t.Setenv("VERCEL_API_TOKEN", "wrong-token-from-env")
	e := newEnvWith(t, sandbox.Config{}, func(sb *sandbox.Sandbox, url string) string {
		return `vercel_api_token = "` + sb.VercelToken() + `"` + "\n" + `vercel_base_url = "` + url + `/vercel"`
	})
	if _, err := e.run(query{table: "user_tokens", columns: []string{"id"}}); err != nil {
		t.Fatalf("the config's token should win: %v", err)
	}
	// and the environment is used when the config is silent
	t.Setenv("VERCEL_API_TOKEN", e.sb.VercelToken())
	t.Setenv("VERCEL_BASE_URL", e.url+"/vercel")
	rows, err := runOn(t, e.connect(``), query{table: "user_tokens", columns: []string{"id"}}, e.sb)
	if err != nil || len(rows) != 11 {
		t.Fatalf("environment credentials: %d rows, %v", len(rows), err)
	}
}

func TestAProviderWithoutCredentialsContributesNoRows(t *testing.T) {
	for _, name := range configEnv {
		t.Setenv(name, "")
	}
	e := newEnvWith(t, sandbox.Config{}, func(sb *sandbox.Sandbox, url string) string {
		return `vercel_api_token = "` + sb.VercelToken() + `"` + "\n" + `vercel_base_url = "` + url + `/vercel"`
	})
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"provider"}})
	if len(rows) != 11 || e.sb.Count(sandbox.ProviderQueryServer, "", "") != 0 {
		t.Fatalf("%d rows", len(rows))
	}
}

func TestCredentialErrorsNameTheArgument(t *testing.T) {
	cases := []struct {
		name   string
		config func(sb *sandbox.Sandbox, url string) string
		want   []string
	}{
		{"a wrong Vercel token", func(sb *sandbox.Sandbox, url string) string {
			return `vercel_api_token = "wrong-token"` + "\n" + `vercel_base_url = "` + url + `/vercel"`
		}, []string{"Vercel", "403", "forbidden", "Not authorized", "Check vercel_api_token (or VERCEL_API_TOKEN)"}},
		{"a Query Server token that is not an admin's", func(sb *sandbox.Sandbox, url string) string {
			var dev string
			for _, t := range sb.QueryServerUserTokens() {
				if t.ID == 2 {
					dev = t.Token
				}
			}
			return `query_server_url = "` + url + `/query"` + "\n" + `query_server_token = "` + dev + `"`
		}, []string{"Query Server", "401", "Check query_server_token (or QUERY_SERVER_TOKEN)", "active admin user"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, sandbox.Config{}, tc.config)
			_, err := e.run(query{table: "user_tokens", columns: []string{"id"}})
			assertErrorMentions(t, err, append(tc.want, e.conn)...)
		})
	}
}

// The SDK hands errors to users as text; here the values themselves are checked.
func TestSettingsErrorsAreTyped(t *testing.T) {
	for _, name := range configEnv {
		t.Setenv(name, "")
	}
	c := testConnection(t, `vercel_base_url = "nope"`+"\n"+`vercel_api_token = "x"`+"\n"+`max_retries = "99"`+"\n"+`clerk_secret_key = "pk_x"`)
	var ce *providers.ConfigError
	if err := c.sources["vercel"].Ready(); !errors.As(err, &ce) || ce.Argument.Name != "vercel_base_url" || ce.Value.Source != "config" {
		t.Fatalf("vercel: %#v", err)
	}
	if !errors.As(c.settings.err, &ce) || ce.Argument.Name != "max_retries" {
		t.Fatalf("common: %#v", c.settings.err)
	}
	if err := c.sources["clerk"].Ready(); !errors.As(err, &ce) || ce.Argument.Name != "clerk_secret_key" || !strings.Contains(ce.Error(), "publishable keys") {
		t.Fatalf("clerk: %#v", err)
	}
	var ne *providers.NoUpstreamError
	h := &house{providers: registry}
	if err := h.userTokensProblem(testConnection(t, ``)); !errors.As(err, &ne) {
		t.Fatalf("nothing configured: %#v", err)
	}
	ok := testConnection(t, `vercel_api_token = "x"`+"\n"+`max_retries = "0"`+"\n"+`request_timeout = "0.25"`)
	v := ok.sources["vercel"]
	if v.Ready() != nil || ok.settings.err != nil || ok.settings.maxRetries != 0 || ok.settings.requestTimeout != 250*time.Millisecond || v.Address() != "https://api.vercel.com" {
		t.Fatalf("valid settings: %+v %v %v", ok.settings, v.Ready(), v.Address())
	}
}

// testConnection is a connection of the plugin with the given config body, as the SDK
// would decode it, outside any query.
func testConnection(t *testing.T, config string) *connection {
	t.Helper()
	h := &house{providers: registry, block: newConnectionBlock(registry)}
	block := h.block.newInstance()
	file, diags := hclsyntax.ParseConfig([]byte(config), "test.hcl", hclPos)
	if !diags.HasErrors() {
		diags = gohcl.DecodeBody(file.Body, nil, block)
	}
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return h.newConnection("c", h.block.read("c", block), hclog.NewNullLogger())
}
