// Package providers is the seam between the tables and the sources of tokens. A
// provider is one package below this one (internal/providers/<name>) that declares a
// Provider value: its connection arguments, what it records and supports, its rate
// limit, its actions, and how a connection builds its Source. The tables iterate the
// plugin's registry of them; this package knows no provider and nothing of Steampipe.
package providers

import (
	"slices"
	"strings"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// Provider is what one source of tokens declares.
type Provider struct {
	Name  string // the provider column's value, e.g. "vercel"
	Title string // for people, e.g. "Vercel"
	Table string // the table its tokens feed: UserTokens, or a table of its own
	// Arguments are its connection arguments, in the order the docs list them.
	Arguments []Argument
	// Required are the arguments a connection sets to use it (shown when none is set).
	Required []Argument
	// Advice names, in an upstream error's advice, what to check.
	Advice       Advice
	Limiter      Limiter
	Capabilities Capabilities
	// Actions are what user_token_actions can do with its tokens, and Refusals say why
	// a verb it lacks cannot be done (e.g. "update": "Vercel tokens cannot be changed: ...").
	Actions  []ActionForm
	Refusals map[string]string
	// Connect resolves its settings on one connection and builds its client. It never
	// fails: a problem is kept in the Source and reported by the queries it affects.
	Connect func(p *Provider, c *Connection) Source
}

// UserTokens is the table most providers feed.
const UserTokens = "user_tokens"

// Capabilities say what a provider records and supports: the token_providers table
// shows them, and the Powerpipe mod reads them instead of naming providers.
type Capabilities struct {
	RecordsLastUse        bool // last_used_at
	RecordsRevocationTime bool // revoked_at
	DetectsLeaks          bool // leaked_at, leaked_url
	HasReadOnlyTokens     bool // can_write can be false
	LimitsToTeam          bool // team_id: a token can be limited to a team, group or project
	RestrictsNetwork      bool // a token can be limited to where it is used from
	KnowsOwnerActive      bool // owner_active
	KnowsCurrentToken     bool // is_current
	ExtendsExpiryOnUse    bool // expires_at moves forward each time the token is used
}

// Supports reports whether the provider has an action of that verb.
func (p *Provider) Supports(verb string) bool {
	return slices.ContainsFunc(p.Actions, func(f ActionForm) bool { return f.Verb == verb })
}

// Form is the provider's action of that verb, or nil.
func (p *Provider) Form(verb string) *ActionForm {
	if i := slices.IndexFunc(p.Actions, func(f ActionForm) bool { return f.Verb == verb }); i >= 0 {
		return &p.Actions[i]
	}
	return nil
}

// Setup names what a connection sets to use the provider: "a (or A) with b (or B)".
func (p *Provider) Setup() string {
	var names []string
	for _, a := range p.Required {
		names = append(names, a.Named())
	}
	return strings.Join(names, " with ")
}

// Limiter is a provider's default rate limit per connection; users override it by
// its name in a `plugin` block.
type Limiter struct {
	FillRate   float64 // requests per second
	BucketSize int64
}

// LimiterName is the name users override the provider's limiter by.
func (p *Provider) LimiterName() string { return "tokens_" + p.Name }

// Source is one provider on one connection: its resolved settings, its client, and
// the one answer to "is it ready, and if not, why".
type Source interface {
	// Configured: the connection sets any of the provider's arguments.
	Configured() bool
	// Ready is nil when the provider can be called, else what to change.
	Ready() error
	// Address is the base URL it calls, without anything secret ("" when none is set).
	Address() string
}

// Base is what every Source holds; provider packages embed it.
type Base struct {
	Provider *Provider
	Conn     *Connection
	URL      string // the resolved base URL
	Set      bool   // the connection sets any of the provider's arguments
	Err      error  // the configuration problem, or the client that could not be built
}

func (b *Base) Configured() bool { return b.Set }

func (b *Base) Ready() error {
	if b.Err == nil && !b.Set {
		return b.Conn.Missing(b.Provider.Required[0], b.Provider.Table+" needs it for "+b.Provider.Title)
	}
	return b.Err
}

// Address is the base URL the provider is called at, as a message may show it.
func (b *Base) Address() string { return upstream.RedactURL(b.URL) }

// Explain turns an error of the provider's client into what the user sees.
func (b *Base) Explain(err error) error { return b.Conn.explain(b.Provider, b.URL, err) }
