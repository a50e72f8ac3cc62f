package tokens

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// User mappings (the PostgreSQL extension, wrapper patch 0009). When the querying role
// has a user mapping with a config, the extension passes the server's config body plus
// one attribute, user_mapping = "<the mapping's config body>". The mapping replaces the
// server's settings provider by provider, as a unit: any role with USAGE on the server
// may create its own mapping, and must never get the server's credential (or the
// server process's environment) sent to an address of its choosing.

// mappedProviders are the arguments a user mapping may set, grouped by provider: a
// mapping that sets any argument of a provider gives all of that provider's settings.
var mappedProviders = []struct {
	args   []argument
	fields func(c *tokensConfig) []**string // the same arguments, in the same order
}{
	{[]argument{argVercelToken, argVercelBaseURL}, func(c *tokensConfig) []**string {
		return []**string{&c.VercelAPIToken, &c.VercelBaseURL}
	}},
	{[]argument{argQueryServerURL, argQueryServerToken}, func(c *tokensConfig) []**string {
		return []**string{&c.QueryServerURL, &c.QueryServerToken}
	}},
	{[]argument{argClerkKey, argClerkBaseURL}, func(c *tokensConfig) []**string {
		return []**string{&c.ClerkSecretKey, &c.ClerkBaseURL}
	}},
}

// ownerArguments are the server owner's alone: what the connection may do and how hard
// it retries. A user mapping that sets one is refused.
func ownerArguments(c *tokensConfig) map[string]*string {
	return map[string]*string{
		argAllowSignInCreate.name: c.AllowSignInTokenCreate, argAllowSignInRevoke.name: c.AllowSignInTokenRevoke,
		argAllowTokenCreate.name: c.AllowUserTokenCreate, argAllowTokenUpdate.name: c.AllowUserTokenUpdate,
		argAllowTokenRevoke.name: c.AllowUserTokenRevoke, argMaxRetries.name: c.MaxRetries,
		argRequestTimeout.name: c.RequestTimeout,
	}
}

// UserMappingError is a user mapping the plugin cannot use: every query of the roles
// it maps fails with it until it is fixed.
type UserMappingError struct {
	Connection string
	Problem    string
}

func (e *UserMappingError) Error() string {
	return fmt.Sprintf("connection %q: the user mapping's config %s; fix it with alter user mapping ... options (set config '...')",
		e.Connection, e.Problem)
}

// mappedArgs are the arguments a user mapping gave (by name).
type mappedArgs map[string]bool

// arg is the argument as this connection reads it: one from a user mapping reads no
// environment variable, and its messages point at the mapping.
func (m mappedArgs) arg(a argument) argument {
	if m[a.name] {
		a.env, a.mapping = "", true
	}
	return a
}

// withUserMapping merges the mapping in cfg.UserMapping, if any, into cfg.
func withUserMapping(connection string, cfg tokensConfig) (tokensConfig, mappedArgs, error) {
	if cfg.UserMapping == nil {
		return cfg, nil, nil
	}
	m, err := parseUserMapping(*cfg.UserMapping)
	if err != nil {
		return cfg, nil, &UserMappingError{Connection: connection, Problem: err.Error()}
	}
	if m.UserMapping != nil {
		return cfg, nil, &UserMappingError{Connection: connection, Problem: "sets user_mapping, which is the extension's own attribute"}
	}
	var owners []string
	for name, v := range ownerArguments(&m) {
		if v != nil {
			owners = append(owners, name)
		}
	}
	if len(owners) > 0 {
		slices.Sort(owners)
		return cfg, nil, &UserMappingError{Connection: connection, Problem: "sets " + strings.Join(owners, ", ") +
			", which only the server's config may set (they are the server owner's)"}
	}
	mapped := mappedArgs{}
	for _, p := range mappedProviders {
		from, to := p.fields(&m), p.fields(&cfg)
		if !slices.ContainsFunc(from, func(f **string) bool { return *f != nil }) {
			continue // the server's settings for this provider, as without a mapping
		}
		for i, a := range p.args {
			*to[i] = *from[i]
			mapped[a.name] = true
		}
	}
	return cfg, mapped, nil
}

// parseUserMapping reads a mapping's config body as the SDK reads a connection's: HCL,
// no variables, no functions. The error names lines and arguments, never a value.
func parseUserMapping(body string) (tokensConfig, error) {
	var m tokensConfig
	file, diags := hclsyntax.ParseConfig([]byte(body), "", hcl.Pos{Line: 1, Column: 1})
	if !diags.HasErrors() {
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: map[string]function.Function{}}
		diags = gohcl.DecodeBody(file.Body, ctx, &m)
	}
	if diags.HasErrors() {
		var problems []string
		for _, d := range diags.Errs() {
			p := d.Error()
			if hd, ok := d.(*hcl.Diagnostic); ok {
				p = hd.Summary + ": " + hd.Detail
				if hd.Subject != nil {
					p = fmt.Sprintf("line %d: %s", hd.Subject.Start.Line, p)
				}
			}
			problems = append(problems, upstream.Scrub(p))
		}
		return m, fmt.Errorf("does not parse: %s", strings.Join(problems, "; "))
	}
	return m, nil
}

// ServerCredentials names the credentials set in the server's own config that a
// connection with this config uses: those of providers its user mapping, if any, does
// not replace. The extension warns each session once about them (wrapper patch 0009):
// any role can read a server's options.
func (c tokensConfig) ServerCredentials() []string {
	var m tokensConfig
	if c.UserMapping != nil {
		var err error
		if m, err = parseUserMapping(*c.UserMapping); err != nil {
			return nil // the connection's queries fail: nothing is used
		}
	}
	var names []string
	for _, p := range mappedProviders {
		from, server := p.fields(&m), p.fields(&c)
		if slices.ContainsFunc(from, func(f **string) bool { return *f != nil }) {
			continue
		}
		for i, a := range p.args {
			if v := *server[i]; a.kind == secretArg && v != nil && strings.TrimSpace(*v) != "" {
				names = append(names, a.name)
			}
		}
	}
	return names
}

// CheckUserMapping reports a user_mapping attribute the plugin would refuse: the
// extension's validator refuses such a mapping at create or alter user mapping (it
// knows no connection yet, so the message names none).
func (c tokensConfig) CheckUserMapping() error {
	_, _, err := withUserMapping("", c)
	var ue *UserMappingError
	if errors.As(err, &ue) {
		return errors.New("the user mapping's config " + ue.Problem)
	}
	return err
}
