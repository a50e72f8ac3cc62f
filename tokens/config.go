package tokens

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
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

// connectionBlock is the connection block's schema, built from the registry: one
// field per argument, each a pointer so that unset differs from empty. Numbers and
// flags are read as text, so that a bad value gets our message (naming the argument
// and its variable), not a parser's.
type connectionBlock struct {
	arguments []providers.Argument
	typ       reflect.Type
}

func newConnectionBlock(reg []*providers.Provider) *connectionBlock {
	b := &connectionBlock{}
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

// newInstance is an empty connection block for the SDK to fill.
func (b *connectionBlock) newInstance() any { return reflect.New(b.typ).Interface() }

// values reads what a connection's config (plugin.Connection.Config, the one place
// it is read) sets. An empty string counts as unset.
func (b *connectionBlock) values(config any) map[string]providers.Value {
	out := map[string]providers.Value{}
	if config == nil {
		return out
	}
	v := reflect.ValueOf(config)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Type() != b.typ {
		return out
	}
	for i, a := range b.arguments {
		f := v.Field(i)
		if f.IsNil() {
			continue
		}
		switch x := f.Interface().(type) {
		case *string:
			if t := strings.TrimSpace(*x); t != "" {
				out[a.Name] = providers.Value{Text: t, Source: "config"}
			}
		case *[]string:
			var list []string
			for _, s := range *x {
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
			if len(list) > 0 {
				out[a.Name] = providers.Value{Text: strings.Join(list, ", "), List: list, Source: "config"}
			}
		}
	}
	return out
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
