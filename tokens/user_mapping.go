package tokens

import (
	"errors"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// User mappings (the PostgreSQL extension, wrapper patch 0010). When the querying role
// has a user mapping with a config, the extension passes the server's config body plus
// one attribute, user_mapping = "<the mapping's config body>". The mapping replaces the
// server's settings provider by provider, as a unit: any role with USAGE on the server
// may create its own mapping, and must never get the server's credential (or the
// server process's environment) sent to an address of its choosing. The plugin's own
// arguments (the allow flags, retries, timeouts) are the server owner's alone.
// Evidence: docs/upstream/fdw-user-mappings-ignored.md.

// userMapping reads a user_mapping attribute: the values it sets, and the providers
// it replaces (those it names any argument of, even empty: an empty token switches the
// server's provider off for the role).
func (b *connectionBlock) userMapping(body *string) (map[string]providers.Value, map[string]bool, error) {
	if body == nil {
		return nil, nil, nil
	}
	file, diags := hclsyntax.ParseConfig([]byte(*body), "", hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return nil, nil, errors.New("does not parse: " + describe(diags, 1))
	}
	var m connectionConfig // decoded as a connection's, to name a nested user_mapping
	if diags := gohcl.DecodeBody(file.Body, noFunctions(), &m); diags.HasErrors() {
		return nil, nil, errors.New("does not parse: " + describe(diags, 1))
	}
	if m.UserMapping != nil {
		return nil, nil, errors.New("sets user_mapping, which is the extension's own attribute")
	}
	values, present, err := b.decode(m.Arguments, "user mapping")
	if err != nil {
		return nil, nil, err
	}
	var owners []string
	for _, a := range ownArguments {
		if present[a.Name] {
			owners = append(owners, a.Name)
		}
	}
	if len(owners) > 0 {
		slices.Sort(owners)
		return nil, nil, errors.New("sets " + strings.Join(owners, ", ") + ", which only the server's config may set (they are the server owner's)")
	}
	mapped := map[string]bool{}
	for _, p := range b.providers {
		mapped[p.Name] = slices.ContainsFunc(p.Arguments, func(a providers.Argument) bool { return present[a.Name] })
	}
	return values, mapped, nil
}

// mappedLookup resolves a mapped provider's arguments: the mapping's values alone,
// no environment variable.
func mappedLookup(values map[string]providers.Value) func(providers.Argument) providers.Value {
	return func(a providers.Argument) providers.Value { return values[a.Name] }
}

// noFunctions is the evaluation context the SDK decodes a connection's config with:
// no variables, no functions.
func noFunctions() *hcl.EvalContext {
	return &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: map[string]function.Function{}}
}

// ServerCredentials names the credentials set in the server's own config that a
// connection with this config uses: those of providers its user mapping, if any, does
// not replace. The extension warns each session once about them (wrapper patch 0010):
// any role can read a server's options.
func (c connectionConfig) ServerCredentials() []string {
	if c.block == nil {
		return nil
	}
	server, _, err := c.block.decode(c.Arguments, "config")
	_, mapped, mappingErr := c.block.userMapping(c.UserMapping)
	if err != nil || mappingErr != nil {
		return nil // the connection's queries fail: nothing is used
	}
	var names []string
	for _, p := range c.block.providers {
		if mapped[p.Name] {
			continue
		}
		for _, a := range p.Arguments {
			if a.Shown == providers.Secret && server[a.Name].Set() {
				names = append(names, a.Name)
			}
		}
	}
	return names
}

// CheckUserMapping reports a user_mapping attribute the plugin would refuse: the
// extension's validator refuses such a mapping at create or alter user mapping (it
// knows no connection yet, so the message names none).
func (c connectionConfig) CheckUserMapping() error {
	if c.block == nil {
		return nil
	}
	if _, _, err := c.block.userMapping(c.UserMapping); err != nil {
		return errors.New("the user mapping's config " + err.Error())
	}
	return nil
}
