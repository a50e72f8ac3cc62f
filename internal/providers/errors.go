package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// ConfigError is a connection argument that is missing or unusable.
type ConfigError struct {
	Connection string
	Argument   Argument
	Value      Value // the offending value, when there is one
	Problem    string
	Mapped     bool // the provider's settings come from the querying role's user mapping
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connection %q: ", e.Connection)
	a, v := e.Argument, e.Value
	named := a.Named()
	if e.Mapped {
		named = a.Name // a mapped provider reads no environment variable
	}
	switch {
	case v.Source != "" && a.Shown == Secret:
		fmt.Fprintf(&b, "%s (from the %s) %s", named, v.Source, e.Problem)
	case v.Source == "config" || v.Source == "user mapping":
		fmt.Fprintf(&b, "%s = %q %s", a.Name, a.shown(v.Text), e.Problem)
	case v.Source == "environment":
		fmt.Fprintf(&b, "%s = %q (from the environment; %s is not set in the connection) %s", a.Env, a.shown(v.Text), a.Name, e.Problem)
	default:
		fmt.Fprintf(&b, "%s %s", named, e.Problem)
	}
	if e.Mapped {
		fmt.Fprintf(&b, "; set %s in the user mapping's config", a.Name)
		return b.String()
	}
	fmt.Fprintf(&b, "; set %s in the connection config", a.Name)
	if a.Env != "" {
		fmt.Fprintf(&b, " or %s in the environment", a.Env)
	}
	return b.String()
}

// NoUpstreamError: a table has no provider configured at all.
type NoUpstreamError struct {
	Connection string
	Table      string
	Need       string
}

func (e *NoUpstreamError) Error() string {
	return fmt.Sprintf("connection %q: %s has no upstream configured: %s", e.Connection, e.Table, e.Need)
}

// UpstreamError is an upstream failure with the advice that fits it: which argument
// to fix, which limit to raise.
type UpstreamError struct {
	Connection string
	Cause      *upstream.Error
	Advice     string
}

func (e *UpstreamError) Error() string {
	msg := fmt.Sprintf("connection %q: %s", e.Connection, e.Cause.Error())
	if e.Advice != "" {
		msg += ". " + e.Advice
	}
	return msg
}

func (e *UpstreamError) Unwrap() error { return e.Cause }

// UsageError is a query the table cannot answer, with the forms it can.
type UsageError struct {
	Table   string
	Message string
}

func (e *UsageError) Error() string { return e.Table + ": " + e.Message }

// Advice names what an upstream error's advice tells the user to check.
type Advice struct {
	Credential Argument
	Address    Argument
	Hint       string // what the credential must be
}

// explain turns a client error into what the user sees. Cancellation passes through
// unchanged so the SDK recognises it.
func (c *Connection) explain(p *Provider, address string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var configErr *ConfigError
	var usageErr *UsageError
	if errors.As(err, &configErr) || errors.As(err, &usageErr) {
		return err // already says what to change
	}
	cause, ok := upstream.As(err)
	if !ok {
		return fmt.Errorf("connection %q: %w", c.Name, err)
	}
	a := p.Advice
	advice := ""
	switch {
	case cause.Kind == upstream.KindStatus && (cause.Status == http.StatusUnauthorized || cause.Status == http.StatusForbidden):
		advice = fmt.Sprintf("Check %s: %s", c.Named(a.Credential), a.Hint)
	case cause.Kind == upstream.KindThrottled:
		advice = fmt.Sprintf("Raise %s (now %d) or lower the %s rate limiter", ArgMaxRetries.Named(), c.MaxRetries, p.LimiterName())
	case cause.Kind == upstream.KindTimeout:
		advice = fmt.Sprintf("Raise %s (now %s) or check %s (now %s)", ArgRequestTimeout.Named(), c.RequestTimeout, c.Named(a.Address), upstream.RedactURL(address))
	case cause.Kind == upstream.KindNetwork, cause.Kind == upstream.KindDecode, cause.Kind == upstream.KindStatus && cause.Status == http.StatusNotFound:
		advice = fmt.Sprintf("Check %s (now %s)", c.Named(a.Address), upstream.RedactURL(address))
	}
	return &UpstreamError{Connection: c.Name, Cause: cause, Advice: advice}
}

// ShortID keeps a user-supplied id readable in a message.
func ShortID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}

// QuoteSQL makes s a SQL string literal, for a query a message suggests.
func QuoteSQL(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
