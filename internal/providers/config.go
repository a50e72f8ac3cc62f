package providers

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// Argument is one connection argument and the environment variable behind it.
type Argument struct {
	Name    string
	Env     string // "" when it has none
	Shown   Shown  // how a value of it may appear in a message
	List    bool   // a list of strings rather than one
	Default string // as the docs show it, "" for none
	Meaning string // one line for the docs' argument table
}

// Shown is how a value of an argument may appear in a message.
type Shown int

const (
	Plain   Shown = iota // shown, scrubbed of anything secret-shaped
	Address              // shown without userinfo, query or fragment
	Secret               // never shown
)

// Named reads "name (or ENV)".
func (a Argument) Named() string {
	if a.Env == "" {
		return a.Name
	}
	return a.Name + " (or " + a.Env + ")"
}

// shown is how a value of the argument appears in a message: an address without
// what may be secret in it, anything else scrubbed of secret-shaped text; short.
func (a Argument) shown(s string) string {
	if a.Shown == Address {
		s = upstream.RedactURL(s)
	} else {
		s = upstream.Scrub(s)
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// Value is an argument's resolved value and where it came from.
type Value struct {
	Text   string
	List   []string // for a list argument
	Source string   // "" when unset, else "config", "environment" or "user mapping"
}

// Set reports whether the argument has a value.
func (v Value) Set() bool { return v.Source != "" }

// The connection-wide arguments every client honours.
var (
	ArgMaxRetries = Argument{Name: "max_retries", Env: "TOKENS_MAX_RETRIES", Default: "`5`",
		Meaning: "retries of a throttled (429) or failed (5xx) request, 0 to 20"}
	ArgRequestTimeout = Argument{Name: "request_timeout", Env: "TOKENS_REQUEST_TIMEOUT", Default: "`30`",
		Meaning: "seconds a request may take, answer included"}
)

// Connection is what a provider gets from the connection it serves.
type Connection struct {
	Name           string
	MaxRetries     int
	RequestTimeout time.Duration
	Logger         hclog.Logger
	// Lookup resolves an argument: the connection config wins over the environment;
	// for a mapped provider, the user mapping alone.
	Lookup func(Argument) Value
	// Mapped: the provider's settings come from the querying role's user mapping (the
	// PostgreSQL extension), so messages point there, never at the environment.
	Mapped bool
}

// Named is how a message names an argument: with its environment variable, unless
// the provider is mapped.
func (c *Connection) Named(a Argument) string {
	if c.Mapped {
		return a.Name
	}
	return a.Named()
}

// Value resolves one of the provider's arguments.
func (c *Connection) Value(a Argument) Value {
	if c.Lookup == nil {
		return Value{}
	}
	return c.Lookup(a)
}

// AnySet reports whether any of the arguments has a value.
func (c *Connection) AnySet(args ...Argument) bool {
	for _, a := range args {
		if c.Value(a).Set() {
			return true
		}
	}
	return false
}

// ClientOptions are the request settings every client of this connection shares.
func (c *Connection) ClientOptions(baseURL, logName string) upstream.Options {
	logger := c.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return upstream.Options{BaseURL: baseURL, MaxRetries: c.MaxRetries, Timeout: c.RequestTimeout, Logger: logger.Named(logName)}
}

// Bad is a value of an argument that cannot be used.
func (c *Connection) Bad(a Argument, v Value, format string, args ...any) error {
	return &ConfigError{Connection: c.Name, Argument: a, Value: v, Problem: fmt.Sprintf(format, args...), Mapped: c.Mapped}
}

// Missing is an argument that must be set because of another.
func (c *Connection) Missing(a Argument, because string) error {
	return &ConfigError{Connection: c.Name, Argument: a, Problem: "is not set, but " + because, Mapped: c.Mapped}
}

// URL resolves an address argument: def when it is unset, else the checked address.
func (c *Connection) URL(a Argument, def string) (string, error) {
	v := c.Value(a)
	if !v.Set() {
		return def, nil
	}
	u, err := upstream.ParseBaseURL(v.Text)
	if err != nil {
		return "", c.Bad(a, v, "is not a usable URL: %s", err)
	}
	return u.String(), nil
}
