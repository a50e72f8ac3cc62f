package tokens

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/clerk"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/vercel"
)

// The connection arguments as the docs must show them: argument, environment
// variable, default. Written out; the test checks them against the code too.
var documentedArguments = []struct{ arg, env, def string }{
	{"vercel_api_token", "VERCEL_API_TOKEN", "none"},
	{"vercel_base_url", "VERCEL_BASE_URL", "`https://api.vercel.com`"},
	{"query_server_url", "QUERY_SERVER_URL", "none"},
	{"query_server_token", "QUERY_SERVER_TOKEN", "none"},
	{"clerk_secret_key", "CLERK_SECRET_KEY", "none"},
	{"clerk_base_url", "CLERK_API_URL", "`https://api.clerk.com/v1`"},
	{"allow_sign_in_token_create", "", "`false`"},
	{"allow_sign_in_token_revoke", "", "`false`"},
	{"allow_user_token_create", "", "`false`"},
	{"allow_user_token_update", "", "`false`"},
	{"allow_user_token_revoke", "", "`false`"},
	{"max_retries", "TOKENS_MAX_RETRIES", "`5`"},
	{"request_timeout", "TOKENS_REQUEST_TIMEOUT", "`30`"},
}

// docs/index.md's argument table and config/tokens.spc name every argument the
// plugin reads, with its environment variable and default, and nothing else.
func TestConfigDocsNameEveryArgument(t *testing.T) {
	code := map[string]argument{}
	for _, a := range []argument{argVercelToken, argVercelBaseURL, argQueryServerURL, argQueryServerToken, argClerkKey,
		argClerkBaseURL, argAllowSignInCreate, argAllowSignInRevoke, argAllowTokenCreate, argAllowTokenUpdate,
		argAllowTokenRevoke, argMaxRetries, argRequestTimeout} {
		code[a.name] = a
	}
	var hclNames []string
	for f := range reflect.TypeFor[tokensConfig]().Fields() {
		if name := f.Tag.Get("hcl"); name != "user_mapping" { // the extension's, not a user's (user_mapping.go)
			hclNames = append(hclNames, name)
		}
	}
	var documented []string
	for _, d := range documentedArguments {
		documented = append(documented, d.arg)
		if a, ok := code[d.arg]; !ok || a.env != d.env {
			t.Errorf("%s: the code's environment variable is %q, documented %q", d.arg, a.env, d.env)
		}
	}
	if !slices.Equal(hclNames, documented) {
		t.Fatalf("the connection block has %v; documentedArguments has %v", hclNames, documented)
	}
	codeDefaults := map[string]string{
		"vercel_base_url": "`" + vercel.DefaultBaseURL + "`", "clerk_base_url": "`" + clerk.DefaultBaseURL + "`",
		"max_retries": fmt.Sprintf("`%d`", defaultMaxRetries), "request_timeout": fmt.Sprintf("`%d`", int(defaultRequestTimeout.Seconds())),
	}
	index := readRepoFile(t, "docs/index.md")
	spc := readRepoFile(t, "config/tokens.spc")
	rows := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (`[A-Z_]+`|none) \\| ([^|]+) \\|").FindAllStringSubmatch(index, -1)
	var inIndex []string
	for _, r := range rows {
		inIndex = append(inIndex, r[1])
	}
	if !slices.Equal(inIndex, documented) {
		t.Errorf("docs/index.md's table lists %v, want %v", inIndex, documented)
	}
	for i, d := range documentedArguments {
		env := "none"
		if d.env != "" {
			env = "`" + d.env + "`"
		}
		if i < len(rows) && (rows[i][2] != env || strings.TrimSpace(rows[i][3]) != d.def) {
			t.Errorf("docs/index.md: %s | %s | %s, want %s | %s", d.arg, rows[i][2], rows[i][3], env, d.def)
		}
		if want, ok := codeDefaults[d.arg]; ok && want != d.def {
			t.Errorf("%s: the code's default is %s, documented %s", d.arg, want, d.def)
		}
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
