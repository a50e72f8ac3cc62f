package tokens

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/clerk"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/vercel"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// tokensConfig is the connection block. Numbers and flags are read as text so that a
// bad value gets our message (naming the argument and its variable), not a parser's.
type tokensConfig struct {
	VercelAPIToken         *string `hcl:"vercel_api_token"`
	VercelBaseURL          *string `hcl:"vercel_base_url"`
	QueryServerURL         *string `hcl:"query_server_url"`
	QueryServerToken       *string `hcl:"query_server_token"`
	ClerkSecretKey         *string `hcl:"clerk_secret_key"`
	ClerkBaseURL           *string `hcl:"clerk_base_url"`
	AllowSignInTokenCreate *string `hcl:"allow_sign_in_token_create"`
	AllowSignInTokenRevoke *string `hcl:"allow_sign_in_token_revoke"`
	AllowUserTokenCreate   *string `hcl:"allow_user_token_create"`
	AllowUserTokenUpdate   *string `hcl:"allow_user_token_update"`
	AllowUserTokenRevoke   *string `hcl:"allow_user_token_revoke"`
	MaxRetries             *string `hcl:"max_retries"`
	RequestTimeout         *string `hcl:"request_timeout"`
	// Set by the PostgreSQL extension, not by users: the querying role's user mapping
	// (user_mapping.go).
	UserMapping *string `hcl:"user_mapping"`
}

// ConfigInstance returns an empty config for the SDK to fill.
func ConfigInstance() any { return &tokensConfig{} }

// GetConfig is the one place that reads a connection's config.
func GetConfig(conn *plugin.Connection) tokensConfig {
	if conn == nil || conn.Config == nil {
		return tokensConfig{}
	}
	cfg, _ := conn.Config.(tokensConfig)
	return cfg
}

// Defaults, documented in config/tokens.spc and docs/index.md.
const (
	defaultMaxRetries     = 5
	defaultRequestTimeout = 30 * time.Second
	maxMaxRetries         = 20
	maxRequestTimeout     = time.Hour
)

// argument is one connection argument and the environment variable that backs it.
type argument struct {
	name, env string
	kind      argKind // how a value of it may be shown in a message
	mapping   bool    // read from a user mapping (user_mapping.go)
}

type argKind int

const (
	plainArg   argKind = iota // shown, scrubbed of anything secret-shaped
	addressArg                // shown without userinfo, query or fragment
	secretArg                 // never shown
)

var (
	argVercelToken       = argument{name: "vercel_api_token", env: "VERCEL_API_TOKEN", kind: secretArg}
	argVercelBaseURL     = argument{name: "vercel_base_url", env: "VERCEL_BASE_URL", kind: addressArg}
	argQueryServerURL    = argument{name: "query_server_url", env: "QUERY_SERVER_URL", kind: addressArg}
	argQueryServerToken  = argument{name: "query_server_token", env: "QUERY_SERVER_TOKEN", kind: secretArg}
	argClerkKey          = argument{name: "clerk_secret_key", env: "CLERK_SECRET_KEY", kind: secretArg}
	argClerkBaseURL      = argument{name: "clerk_base_url", env: "CLERK_API_URL", kind: addressArg}
	argAllowSignInCreate = argument{name: "allow_sign_in_token_create", kind: plainArg}
	argAllowSignInRevoke = argument{name: "allow_sign_in_token_revoke", kind: plainArg}
	argAllowTokenCreate  = argument{name: "allow_user_token_create", kind: plainArg}
	argAllowTokenUpdate  = argument{name: "allow_user_token_update", kind: plainArg}
	argAllowTokenRevoke  = argument{name: "allow_user_token_revoke", kind: plainArg}
	argMaxRetries        = argument{name: "max_retries", env: "TOKENS_MAX_RETRIES", kind: plainArg}
	argRequestTimeout    = argument{name: "request_timeout", env: "TOKENS_REQUEST_TIMEOUT", kind: plainArg}
)

// named reads "name (or ENV)".
func (a argument) named() string {
	if a.env == "" {
		return a.name
	}
	return a.name + " (or " + a.env + ")"
}

// value is an argument's resolved value and where it came from.
type value struct {
	text   string
	source string // "" when unset, else "config" or "environment"
}

func (v value) set() bool { return v.source != "" }

// resolve applies the precedence: the connection config wins over the environment.
// An empty string counts as unset in both.
func resolve(cfg *string, a argument) value {
	if cfg != nil && strings.TrimSpace(*cfg) != "" {
		return value{strings.TrimSpace(*cfg), "config"}
	}
	if a.env != "" {
		if v, ok := os.LookupEnv(a.env); ok && strings.TrimSpace(v) != "" {
			return value{strings.TrimSpace(v), "environment"}
		}
	}
	return value{}
}

// settings is a connection's configuration, resolved and checked. Problems are kept
// per upstream so that a bad Clerk setting never breaks a user_tokens query.
type settings struct {
	connection string

	vercelToken   string
	vercelBaseURL string
	vercelErr     error

	queryServerURL   string
	queryServerToken string
	queryServerErr   error

	clerkKey     string
	clerkBaseURL string
	clerkErr     error

	// what the connection allows the action tables to do
	allowSignInCreate, allowSignInRevoke                 bool
	allowTokenCreate, allowTokenUpdate, allowTokenRevoke bool
	flagsErr                                             error

	maxRetries     int
	requestTimeout time.Duration
	commonErr      error
}

func (s *settings) vercelConfigured() bool { return s.vercelToken != "" || s.vercelErr != nil }
func (s *settings) queryServerConfigured() bool {
	return s.queryServerURL != "" || s.queryServerErr != nil
}

// loadSettings resolves and checks a connection's configuration. It never fails as a
// whole: each problem is stored where it matters and reported by the query it affects.
func loadSettings(connection string, cfg tokensConfig) *settings {
	s := &settings{connection: connection}
	// A user mapping's providers: their arguments read no environment variable. (The
	// locals shadow the package's arguments only for the providers' settings below.)
	cfg, mapped, mappingErr := withUserMapping(connection, cfg)
	argVercelToken, argVercelBaseURL := mapped.arg(argVercelToken), mapped.arg(argVercelBaseURL)
	argQueryServerURL, argQueryServerToken := mapped.arg(argQueryServerURL), mapped.arg(argQueryServerToken)
	argClerkKey, argClerkBaseURL := mapped.arg(argClerkKey), mapped.arg(argClerkBaseURL)
	bad := func(a argument, v value, format string, args ...any) error {
		return &ConfigError{Connection: connection, Argument: a, Value: v, Problem: fmt.Sprintf(format, args...)}
	}
	missing := func(a argument, because string) error {
		return &ConfigError{Connection: connection, Argument: a, Problem: "is not set, but " + because}
	}

	// Vercel: used when a token is set; a base URL alone is a mistake worth naming.
	vToken, vURL := resolve(cfg.VercelAPIToken, argVercelToken), resolve(cfg.VercelBaseURL, argVercelBaseURL)
	switch {
	case vToken.set():
		s.vercelToken = vToken.text
		s.vercelBaseURL, s.vercelErr = checkURL(vURL, argVercelBaseURL, vercel.DefaultBaseURL, bad)
	case vURL.set():
		s.vercelErr = missing(argVercelToken, argVercelBaseURL.name+" is set ("+vURL.source+")")
	}

	// Query Server: both the URL and an admin token, or neither.
	qURL, qToken := resolve(cfg.QueryServerURL, argQueryServerURL), resolve(cfg.QueryServerToken, argQueryServerToken)
	switch {
	case qURL.set() && qToken.set():
		s.queryServerToken = qToken.text
		s.queryServerURL, s.queryServerErr = checkURL(qURL, argQueryServerURL, "", bad)
	case qURL.set():
		s.queryServerErr = missing(argQueryServerToken, argQueryServerURL.name+" is set ("+qURL.source+"); give an admin user token of that server")
	case qToken.set():
		s.queryServerErr = missing(argQueryServerURL, argQueryServerToken.name+" is set ("+qToken.source+"); give the server's address, e.g. https://query.example.com")
	}

	// Clerk: a secret key, never a publishable one.
	cKey, cURL := resolve(cfg.ClerkSecretKey, argClerkKey), resolve(cfg.ClerkBaseURL, argClerkBaseURL)
	switch {
	case cKey.set() && !strings.HasPrefix(cKey.text, "sk_"):
		s.clerkErr = &ConfigError{Connection: connection, Argument: argClerkKey, Problem: "must be a Clerk secret key (sk_live_... or sk_test_...); publishable keys (pk_...) cannot call the Backend API"}
	case cKey.set():
		s.clerkKey = cKey.text
		s.clerkBaseURL, s.clerkErr = checkURL(cURL, argClerkBaseURL, clerk.DefaultBaseURL, bad)
	default:
		s.clerkErr = missing(argClerkKey, "sign_in_tokens needs an instance secret key (sk_live_... or sk_test_...)")
	}

	// Flags have no environment variable on purpose: minting or revoking credentials
	// from SQL must be switched on in the connection config itself.
	for _, f := range []struct {
		v   *string
		arg argument
		to  *bool
	}{
		{cfg.AllowSignInTokenCreate, argAllowSignInCreate, &s.allowSignInCreate},
		{cfg.AllowSignInTokenRevoke, argAllowSignInRevoke, &s.allowSignInRevoke},
		{cfg.AllowUserTokenCreate, argAllowTokenCreate, &s.allowTokenCreate},
		{cfg.AllowUserTokenUpdate, argAllowTokenUpdate, &s.allowTokenUpdate},
		{cfg.AllowUserTokenRevoke, argAllowTokenRevoke, &s.allowTokenRevoke},
	} {
		var err error
		*f.to, err = checkBool(resolve(f.v, f.arg), f.arg, bad)
		s.flagsErr = firstErr(s.flagsErr, err)
	}

	s.maxRetries = defaultMaxRetries
	if v := resolve(cfg.MaxRetries, argMaxRetries); v.set() {
		n, err := strconv.Atoi(v.text)
		if err != nil || n < 0 || n > maxMaxRetries {
			s.commonErr = bad(argMaxRetries, v, "must be a whole number from 0 to %d", maxMaxRetries)
		} else {
			s.maxRetries = n
		}
	}
	s.requestTimeout = defaultRequestTimeout
	if v := resolve(cfg.RequestTimeout, argRequestTimeout); v.set() {
		f, err := strconv.ParseFloat(v.text, 64)
		if err != nil || f <= 0 || time.Duration(f*float64(time.Second)) > maxRequestTimeout {
			s.commonErr = firstErr(s.commonErr, bad(argRequestTimeout, v, "must be a number of seconds greater than 0 and at most %d", int(maxRequestTimeout.Seconds())))
		} else {
			s.requestTimeout = time.Duration(f * float64(time.Second))
		}
	}
	s.commonErr = firstErr(mappingErr, s.commonErr) // fails every query of the role
	return s
}

type badFunc func(a argument, v value, format string, args ...any) error

func checkURL(v value, a argument, def string, bad badFunc) (string, error) {
	if !v.set() {
		return def, nil
	}
	u, err := upstream.ParseBaseURL(v.text)
	if err != nil {
		return "", bad(a, v, "is not a usable URL: %s", err)
	}
	return u.String(), nil
}

func checkBool(v value, a argument, bad badFunc) (bool, error) {
	if !v.set() {
		return false, nil
	}
	b, err := strconv.ParseBool(v.text)
	if err != nil {
		return false, bad(a, v, "must be true or false")
	}
	return b, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
