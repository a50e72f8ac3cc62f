package tokens

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
)

// The connection arguments as the docs must show them: argument, environment
// variable, default. Written out; the test checks them against the code too.
var documentedArguments = []struct{ arg, env, def string }{
	{"vercel_api_token", "VERCEL_API_TOKEN", "none"},
	{"vercel_base_url", "VERCEL_BASE_URL", "`https://api.vercel.com`"},
	{"query_server_url", "QUERY_SERVER_URL", "none"},
	{"query_server_token", "QUERY_SERVER_TOKEN", "none"},
	{"gitlab_url", "GITLAB_URL", "`https://gitlab.com`"},
	{"gitlab_token", "GITLAB_TOKEN", "none"},
	{"gitlab_groups", "", "none"},
	{"okta_domain", "OKTA_DOMAIN", "none"},
	{"okta_api_token", "OKTA_API_TOKEN", "none"},
	{"clerk_secret_key", "CLERK_SECRET_KEY", "none"},
	{"clerk_base_url", "CLERK_API_URL", "`https://api.clerk.com/v1`"},
	{"allow_sign_in_token_create", "", "`false`"},
	{"allow_sign_in_token_revoke", "", "`false`"},
	{"allow_user_token_create", "", "`false`"},
	{"allow_user_token_update", "", "`false`"},
	{"allow_user_token_rotate", "", "`false`"},
	{"allow_user_token_revoke", "", "`false`"},
	{"max_retries", "TOKENS_MAX_RETRIES", "`5`"},
	{"request_timeout", "TOKENS_REQUEST_TIMEOUT", "`30`"},
}

// The connection block, docs/index.md's argument table (generated from the registry,
// TestGeneratedDocsAreCurrent) and config/tokens.spc name every argument the plugin
// reads, with its environment variable and default, and nothing else.
func TestConfigDocsNameEveryArgument(t *testing.T) {
	block := newConnectionBlock(registry)
	var code, documented []string
	var body strings.Builder
	for _, a := range block.arguments {
		code = append(code, a.Name+" "+a.Env+" "+cmp.Or(a.Default, "none"))
		if a.List {
			fmt.Fprintf(&body, "%s = [\"x\"]\n", a.Name)
		} else {
			fmt.Fprintf(&body, "%s = \"x\"\n", a.Name)
		}
	}
	for _, d := range documentedArguments {
		documented = append(documented, d.arg+" "+d.env+" "+d.def)
	}
	if !slices.Equal(code, documented) {
		t.Fatalf("the plugin's arguments are\n%v\ndocumentedArguments has\n%v", code, documented)
	}
	// the SDK and then the connection read a block that sets every one of them
	file, diags := hclsyntax.ParseConfig([]byte(body.String()), "every.hcl", hclPos)
	instance := block.newInstance()
	if !diags.HasErrors() {
		diags = gohcl.DecodeBody(file.Body, nil, instance)
	}
	if diags.HasErrors() {
		t.Fatalf("a connection block setting every argument: %v", diags)
	}
	if r := block.read("c", instance); r.err != nil || len(r.server) != len(block.arguments) {
		t.Fatalf("a connection block setting every argument: %d of %d read, %v", len(r.server), len(block.arguments), r.err)
	}
	if providers.ArgMaxRetries.Default != fmt.Sprintf("`%d`", defaultMaxRetries) ||
		providers.ArgRequestTimeout.Default != fmt.Sprintf("`%d`", int(defaultRequestTimeout.Seconds())) {
		t.Fatalf("the documented defaults differ from the code's: %s %s", providers.ArgMaxRetries.Default, providers.ArgRequestTimeout.Default)
	}
	spc := readRepoFile(t, "config/tokens.spc")
	for _, d := range documentedArguments {
		if !regexp.MustCompile(`(?m)^  # ` + d.arg + ` +=`).MatchString(spc) {
			t.Errorf("config/tokens.spc has no commented-out %s", d.arg)
		}
		if d.env != "" && !strings.Contains(spc, d.env) {
			t.Errorf("config/tokens.spc does not name %s", d.env)
		}
	}
}

// The rate limiters config/tokens.spc shows (commented out, to restate in a plugin
// block) are the plugin's own definitions.
func TestConfigDocsShowTheRateLimiters(t *testing.T) {
	spc := readRepoFile(t, "config/tokens.spc")
	start := strings.Index(spc, "# plugin \"local/tokens\" {")
	if start < 0 {
		t.Fatal("config/tokens.spc shows no plugin block")
	}
	var block []string
	for _, line := range strings.Split(spc[start:], "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		block = append(block, strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
	}
	file, diags := hclsyntax.ParseConfig([]byte(strings.Join(block, "\n")), "tokens.spc", hclPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var shown struct {
		Plugins []struct {
			Name     string `hcl:"name,label"`
			Limiters []struct {
				Name       string   `hcl:"name,label"`
				BucketSize int64    `hcl:"bucket_size"`
				FillRate   float64  `hcl:"fill_rate"`
				Scope      []string `hcl:"scope"`
				Where      string   `hcl:"where"`
			} `hcl:"limiter,block"`
		} `hcl:"plugin,block"`
	}
	if diags := gohcl.DecodeBody(file.Body, nil, &shown); diags.HasErrors() {
		t.Fatal(diags)
	}
	var got, want []string
	for _, l := range shown.Plugins[0].Limiters {
		got = append(got, fmt.Sprint(l.Name, l.BucketSize, l.FillRate, l.Scope, l.Where))
	}
	for _, l := range Plugin(context.Background()).RateLimiters {
		want = append(want, fmt.Sprint(l.Name, l.BucketSize, float64(l.FillRate), l.Scope, l.Where))
	}
	if !slices.Equal(got, want) {
		t.Errorf("config/tokens.spc shows\n%v\nthe plugin defines\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("../" + path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var hclPos = hcl.Pos{Line: 1, Column: 1}
