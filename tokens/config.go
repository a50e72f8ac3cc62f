package tokens

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// The plugin's own arguments, after the providers' in the connection block. Flags
// have no environment variable on purpose: creating, changing or revoking credentials
// from SQL must be switched on in the connection config itself, one kind at a time.
var (
	argAllowSignInCreate = allowFlag("allow_sign_in_token_create", "let `sign_in_tokens` create tokens")
	argAllowSignInRevoke = allowFlag("allow_sign_in_token_revoke", "let `sign_in_tokens` revoke tokens")
	argAllowTokenCreate  = allowFlag("allow_user_token_create", "let `user_token_actions` create tokens")
	argAllowTokenUpdate  = allowFlag("allow_user_token_update", "let `user_token_actions` change tokens")
	argAllowTokenRotate  = allowFlag("allow_user_token_rotate", "let `user_token_actions` rotate tokens (a new secret replaces the old)")
	argAllowTokenRevoke  = allowFlag("allow_user_token_revoke", "let `user_token_actions` revoke tokens")

	// userTokenFlags switch each verb of user_token_actions on.
	userTokenFlags = map[string]providers.Argument{"create": argAllowTokenCreate, "update": argAllowTokenUpdate,
		"rotate": argAllowTokenRotate, "revoke": argAllowTokenRevoke}

	flags = []providers.Argument{argAllowSignInCreate, argAllowSignInRevoke, argAllowTokenCreate, argAllowTokenUpdate,
		argAllowTokenRotate, argAllowTokenRevoke}
	ownArguments = slices.Concat(flags, []providers.Argument{providers.ArgMaxRetries, providers.ArgRequestTimeout})
)

func allowFlag(name, meaning string) providers.Argument {
	return providers.Argument{Name: name, Default: "`false`", Meaning: meaning}
}

// Defaults, documented in config/tokens.spc and docs/index.md.
const (
	defaultMaxRetries     = 5
	defaultRequestTimeout = 30 * time.Second
	maxMaxRetries         = 20
	maxRequestTimeout     = time.Hour
)

// connectionBlock is the registry's arguments as a schema: one field per argument,
// each a pointer so that unset differs from empty. Numbers and flags are read as
// text, so that a bad value gets our message (naming the argument and its
// variable), not a parser's.
type connectionBlock struct {
	providers []*providers.Provider
	arguments []providers.Argument
	typ       reflect.Type
}

func newConnectionBlock(reg []*providers.Provider) *connectionBlock {
	b := &connectionBlock{providers: reg}
	for _, p := range reg {
		b.arguments = append(b.arguments, p.Arguments...)
	}
	b.arguments = append(b.arguments, ownArguments...)
	fields := make([]reflect.StructField, len(b.arguments))
	for i, a := range b.arguments {
		typ := reflect.TypeFor[*string]()
		if a.List {
			typ = reflect.TypeFor[*[]string]()
		}
		fields[i] = reflect.StructField{Name: fmt.Sprintf("Arg%d", i), Type: typ, Tag: reflect.StructTag(`hcl:"` + a.Name + `"`)}
	}
	b.typ = reflect.StructOf(fields)
	return b
}

// connectionConfig is a connection's config as the SDK decodes it: the arguments stay
// a body, which the connection block reads when the connection is made (so a
// misspelt argument fails the connection's queries, naming it). A named type, so
// that the PostgreSQL extension can ask it about user mappings (user_mapping.go).
type connectionConfig struct {
	// UserMapping is set by the extension, never by users: the querying role's user
	// mapping's config (wrapper patch 0010).
	UserMapping *string  `hcl:"user_mapping"`
	Arguments   hcl.Body `hcl:",remain"`
	block       *connectionBlock
}

// newInstance is an empty connection config for the SDK to fill.
func (b *connectionBlock) newInstance() any { return &connectionConfig{block: b} }

// configOf is the connectionConfig the SDK decoded (it hands it over by value).
func configOf(config any) (connectionConfig, bool) {
	switch c := config.(type) {
	case connectionConfig:
		return c, true
	case *connectionConfig:
		if c != nil {
			return *c, true
		}
	}
	return connectionConfig{}, false
}

// decode reads a body of arguments: the values it sets (an empty string counts as
// unset) and the names it has at all. The error names lines and arguments, never a
// value.
func (b *connectionBlock) decode(body hcl.Body, source string) (map[string]providers.Value, map[string]bool, error) {
	values, present := map[string]providers.Value{}, map[string]bool{}
	if body == nil {
		return values, present, nil
	}
	v := reflect.New(b.typ)
	if diags := gohcl.DecodeBody(body, noFunctions(), v.Interface()); diags.HasErrors() {
		first := 1 // the SDK parses a connection's config from line 0; a message counts from 1
		if sb, ok := body.(*hclsyntax.Body); ok && sb.SrcRange.Start.Line == 0 {
			first = 0
		}
		return nil, nil, errors.New("does not parse: " + describe(diags, first))
	}
	for i, a := range b.arguments {
		f := v.Elem().Field(i)
		if f.IsNil() {
			continue
		}
		present[a.Name] = true
		switch x := f.Interface().(type) {
		case *string:
			if t := strings.TrimSpace(*x); t != "" {
				values[a.Name] = providers.Value{Text: t, Source: source}
			}
		case *[]string:
			var list []string
			for _, s := range *x {
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
			if len(list) > 0 {
				values[a.Name] = providers.Value{Text: strings.Join(list, ", "), List: list, Source: source}
			}
		}
	}
	return values, present, nil
}

// describe is HCL's diagnostics as one line: line, summary and detail of each, lines
// counted from 1 in a body that starts at line first.
func describe(diags hcl.Diagnostics, first int) string {
	var problems []string
	for _, d := range diags.Errs() {
		p := d.Error()
		if hd, ok := d.(*hcl.Diagnostic); ok {
			p = hd.Summary + ": " + hd.Detail
			if hd.Subject != nil {
				p = fmt.Sprintf("line %d: %s", hd.Subject.Start.Line+1-first, p)
			}
		}
		problems = append(problems, upstream.Scrub(p))
	}
	return strings.Join(problems, "; ")
}

// configRead is what a connection's config and the querying role's user mapping say.
type configRead struct {
	server  map[string]providers.Value // the connection's config
	mapping map[string]providers.Value // the user mapping's
	mapped  map[string]bool            // providers whose settings come from the mapping alone
	err     error                      // a config or mapping the plugin cannot use: stops every query
}

// read reads a connection's config (plugin.Connection.Config, the one place it is
// read), with the user mapping it carries.
func (b *connectionBlock) read(connection string, config any) configRead {
	r := configRead{server: map[string]providers.Value{}}
	c, ok := configOf(config)
	if !ok {
		return r
	}
	server, _, err := b.decode(c.Arguments, "config")
	if err != nil {
		r.err = &ConfigBodyError{Connection: connection, Problem: err.Error()}
		return r
	}
	r.server = server
	r.mapping, r.mapped, err = b.userMapping(c.UserMapping)
	if err != nil {
		r.err = &ConfigBodyError{Connection: connection, Mapping: true, Problem: err.Error()}
	}
	return r
}

// ConfigBodyError is a config the plugin cannot read: the connection's, or the user
// mapping's the PostgreSQL extension passed. Every query fails with it until fixed.
type ConfigBodyError struct {
	Connection string
	Mapping    bool
	Problem    string
}

func (e *ConfigBodyError) Error() string {
	if e.Mapping {
		return fmt.Sprintf("connection %q: the user mapping's config %s; fix it with alter user mapping ... options (set config '...')",
			e.Connection, e.Problem)
	}
	return fmt.Sprintf("connection %q: the connection config %s", e.Connection, e.Problem)
}

// resolver applies the precedence: the connection config wins over the environment.
func resolver(config map[string]providers.Value) func(providers.Argument) providers.Value {
	return func(a providers.Argument) providers.Value {
		if v, ok := config[a.Name]; ok {
			return v
		}
		if a.Env != "" && !a.List {
			if v, ok := os.LookupEnv(a.Env); ok && strings.TrimSpace(v) != "" {
				return providers.Value{Text: strings.TrimSpace(v), Source: "environment"}
			}
		}
		return providers.Value{}
	}
}

// settings are the plugin's own settings on a connection: how requests are made and
// which actions are allowed. A problem is kept, and reported by the queries it affects.
type settings struct {
	connection     string
	maxRetries     int
	requestTimeout time.Duration
	allowed        map[string]bool // by flag name
	err            error           // a bad max_retries or request_timeout: stops every query
	flagsErr       error           // a flag that is not a boolean: stops every action
}

func loadSettings(connection string, lookup func(providers.Argument) providers.Value) *settings {
	s := &settings{connection: connection, allowed: map[string]bool{}}
	bad := func(a providers.Argument, v providers.Value, format string, args ...any) error {
		return &providers.ConfigError{Connection: connection, Argument: a, Value: v, Problem: fmt.Sprintf(format, args...)}
	}
	for _, a := range flags {
		if v := lookup(a); v.Set() {
			b, err := strconv.ParseBool(v.Text)
			if err != nil && s.flagsErr == nil {
				s.flagsErr = bad(a, v, "must be true or false")
			}
			s.allowed[a.Name] = b
		}
	}
	s.maxRetries = defaultMaxRetries
	if v := lookup(providers.ArgMaxRetries); v.Set() {
		n, err := strconv.Atoi(v.Text)
		if err != nil || n < 0 || n > maxMaxRetries {
			s.err = bad(providers.ArgMaxRetries, v, "must be a whole number from 0 to %d", maxMaxRetries)
		} else {
			s.maxRetries = n
		}
	}
	s.requestTimeout = defaultRequestTimeout
	if v := lookup(providers.ArgRequestTimeout); v.Set() {
		f, err := strconv.ParseFloat(v.Text, 64)
		if err != nil || f <= 0 || time.Duration(f*float64(time.Second)) > maxRequestTimeout {
			if s.err == nil {
				s.err = bad(providers.ArgRequestTimeout, v, "must be a number of seconds greater than 0 and at most %d", int(maxRequestTimeout.Seconds()))
			}
		} else {
			s.requestTimeout = time.Duration(f * float64(time.Second))
		}
	}
	return s
}
