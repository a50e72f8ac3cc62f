package tokens

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
	Argument   argument
	Value      value // the offending value, when there is one
	Problem    string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connection %q: ", e.Connection)
	switch {
	case e.Value.source != "" && e.Argument.kind == secretArg:
		fmt.Fprintf(&b, "%s (from the %s) %s", e.Argument.named(), e.Value.source, e.Problem)
	case e.Value.source == "config":
		fmt.Fprintf(&b, "%s = %q %s", e.Argument.name, e.Argument.shown(e.Value.text), e.Problem)
	case e.Value.source == "environment":
		fmt.Fprintf(&b, "%s = %q (from the environment; %s is not set in the connection) %s", e.Argument.env, e.Argument.shown(e.Value.text), e.Argument.name, e.Problem)
	default:
		fmt.Fprintf(&b, "%s %s", e.Argument.named(), e.Problem)
	}
	if e.Argument.mapping {
		fmt.Fprintf(&b, "; set %s in the user mapping's config", e.Argument.name)
		return b.String()
	}
	fmt.Fprintf(&b, "; set %s in the connection config", e.Argument.name)
	if e.Argument.env != "" {
		fmt.Fprintf(&b, " or %s in the environment", e.Argument.env)
	}
	return b.String()
}

// shown is how a value of the argument appears in a message: an address without
// what may be secret in it, anything else scrubbed of secret-shaped text; short.
func (a argument) shown(s string) string {
	if a.kind == addressArg {
		s = upstream.RedactURL(s)
	} else {
		s = upstream.Scrub(s)
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// NoUpstreamError: a table has no upstream configured at all.
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

// upstreamArgs are the arguments behind one upstream, for advice.
type upstreamArgs struct {
	credential argument
	baseURL    argument
	limiter    string
	credHint   string
}

var (
	vercelArgs = upstreamArgs{argVercelToken, argVercelBaseURL, limiterVercel,
		"it must be a classic personal token with full account scope (https://vercel.com/account/tokens)"}
	queryServerArgs = upstreamArgs{argQueryServerToken, argQueryServerURL, limiterQueryServer,
		"it must be the token of an active admin user that has not expired (the server answers 401 with no detail)"}
	clerkArgs = upstreamArgs{argClerkKey, argClerkBaseURL, limiterClerk,
		"it must be the instance's secret key (sk_live_... or sk_test_...) from the Clerk dashboard"}
)

// explain turns a client error into what the user sees. Cancellation passes through
// unchanged so the SDK recognises it.
func (s *settings) explain(args upstreamArgs, baseURL string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	cause, ok := upstream.As(err)
	if !ok {
		return fmt.Errorf("connection %q: %w", s.connection, err)
	}
	advice := ""
	switch {
	case cause.Kind == upstream.KindStatus && (cause.Status == http.StatusUnauthorized || cause.Status == http.StatusForbidden):
		advice = fmt.Sprintf("Check %s: %s", args.credential.named(), args.credHint)
	case cause.Kind == upstream.KindThrottled:
		advice = fmt.Sprintf("Raise %s (now %d) or lower the %s rate limiter", argMaxRetries.named(), s.maxRetries, args.limiter)
	case cause.Kind == upstream.KindTimeout:
		advice = fmt.Sprintf("Raise %s (now %s) or check %s (now %s)", argRequestTimeout.named(), s.requestTimeout, args.baseURL.named(), upstream.RedactURL(baseURL))
	case cause.Kind == upstream.KindNetwork, cause.Kind == upstream.KindDecode, cause.Kind == upstream.KindStatus && cause.Status == http.StatusNotFound:
		advice = fmt.Sprintf("Check %s (now %s)", args.baseURL.named(), upstream.RedactURL(baseURL))
	}
	return &UpstreamError{Connection: s.connection, Cause: cause, Advice: advice}
}
