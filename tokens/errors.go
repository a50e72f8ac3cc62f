package tokens

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// ConfigError is a connection argument that is missing or unusable.
type ConfigError struct {
	Connection string
	Argument   argument
	Value      value // the offending value, when there is one (never a secret argument)
	Problem    string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connection %q: ", e.Connection)
	switch e.Value.source {
	case "config":
		fmt.Fprintf(&b, "%s = %q %s", e.Argument.name, shown(e.Value.text), e.Problem)
	case "environment":
		fmt.Fprintf(&b, "%s = %q (from the environment; %s is not set in the connection) %s", e.Argument.env, shown(e.Value.text), e.Argument.name, e.Problem)
	default:
		fmt.Fprintf(&b, "%s %s", e.Argument.named(), e.Problem)
	}
	fmt.Fprintf(&b, "; set %s in the connection config", e.Argument.name)
	if e.Argument.env != "" {
		fmt.Fprintf(&b, " or %s in the environment", e.Argument.env)
	}
	return b.String()
}

// shown is how a user-supplied value appears in a message: scrubbed of anything
// secret-shaped (a token pasted into the URL argument, say) and kept short.
func shown(s string) string {
	s = upstream.Scrub(s)
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
		advice = fmt.Sprintf("Raise %s (now %s) or check %s (now %s)", argRequestTimeout.named(), s.requestTimeout, args.baseURL.named(), baseURL)
	case cause.Kind == upstream.KindNetwork, cause.Kind == upstream.KindDecode, cause.Kind == upstream.KindStatus && cause.Status == http.StatusNotFound:
		advice = fmt.Sprintf("Check %s (now %s)", args.baseURL.named(), baseURL)
	}
	return &UpstreamError{Connection: s.connection, Cause: cause, Advice: advice}
}

// errorSettle is how long a list waits before failing fast. The SDK (v5.14.1,
// plugin/query_data.go, streamRows) reads a list's error and the end of its rows
// from two channels in one select; when a list fails before streamRows first
// waits there, both are ready and the select may take the end, dropping the error:
// the query then returns no rows and no error (1 in 2,400 fast failures under load,
// measured). Once streamRows is waiting, the error always arrives first.
const errorSettle = 25 * time.Millisecond

// settled returns err, but not sooner than errorSettle after start.
func settled(start time.Time, err error) error {
	if err != nil {
		if wait := errorSettle - time.Since(start); wait > 0 {
			time.Sleep(wait)
		}
	}
	return err
}
