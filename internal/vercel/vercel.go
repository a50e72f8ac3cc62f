// Package vercel is a small client for Vercel's user-token endpoints
// (list v6, get v5, account v2), tolerant of the API's quirks: two cursor types,
// optional keys absent rather than null, and unknown keys added without notice.
package vercel

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

const (
	// DefaultBaseURL is Vercel's only API host.
	DefaultBaseURL = "https://api.vercel.com"
	// MaxPageSize is the largest `limit` the token list accepts.
	MaxPageSize = 100
)

// Token is an AuthToken. Optional fields are nil when Vercel leaves them out.
type Token struct {
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Type      string           `json:"type"`
	Prefix    *string          `json:"prefix"`
	Suffix    *string          `json:"suffix"`
	Origin    *string          `json:"origin"`
	Scopes    json.RawMessage  `json:"scopes"`
	CreatedAt *upstream.Millis `json:"createdAt"`
	ActiveAt  *upstream.Millis `json:"activeAt"`
	ExpiresAt *upstream.Millis `json:"expiresAt"`
	RevokedAt *upstream.Millis `json:"revokedAt"`
	LeakedAt  *upstream.Millis `json:"leakedAt"`
	LeakedURL *string          `json:"leakedUrl"`
}

// TeamID is the team the token is limited to: the first scope of type "team".
func (t *Token) TeamID() *string {
	var scopes []struct {
		Type   string `json:"type"`
		TeamID string `json:"teamId"`
	}
	if json.Unmarshal(t.Scopes, &scopes) != nil {
		return nil
	}
	for _, s := range scopes {
		if s.Type == "team" && s.TeamID != "" {
			id := s.TeamID
			return &id
		}
	}
	return nil
}

// ScopesJSON returns the scopes as Vercel sent them, or nil when absent or null.
func (t *Token) ScopesJSON() json.RawMessage {
	if len(t.Scopes) == 0 || string(t.Scopes) == "null" {
		return nil
	}
	return t.Scopes
}

// User is the account a token belongs to.
type User struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	Username      string `json:"username"`
	DefaultTeamID string `json:"defaultTeamId"`
}

// Client calls Vercel.
type Client struct{ http *upstream.Client }

// New returns a client; opts.Provider defaults to "Vercel".
func New(opts upstream.Options) (*Client, error) {
	if opts.Provider == "" {
		opts.Provider = "Vercel"
	}
	opts.ParseError = parseError
	c, err := upstream.New(opts)
	if err != nil {
		return nil, err
	}
	return &Client{http: c}, nil
}

// parseError reads Vercel's {"error":{"code","message"}} envelope, or plain text.
func parseError(body []byte) (string, string) {
	var env struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error != nil {
		return env.Error.Code, env.Error.Message
	}
	return "", upstream.PlainMessage(body)
}

// addressable ids can be fetched with one GET. Anything else (a slash, a dot segment,
// "current", which names the calling token rather than an id) is found by listing.
var addressable = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// Addressable reports whether GetToken can look id up directly.
func Addressable(id string) bool { return addressable.MatchString(id) && id != "current" }

// GetToken fetches one token. A token Vercel does not know is (nil, nil).
func (c *Client) GetToken(ctx context.Context, id string) (*Token, error) {
	return c.getToken(ctx, upstream.Segment(id))
}

// CurrentToken fetches the token this client authenticates with.
func (c *Client) CurrentToken(ctx context.Context) (*Token, error) {
	return c.getToken(ctx, "current")
}

func (c *Client) getToken(ctx context.Context, segment string) (*Token, error) {
	resp, err := c.http.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/v5/user/tokens/" + segment, Idempotent: true})
	if upstream.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var body struct {
		Token *Token `json:"token"`
	}
	if err := resp.JSON(&body); err != nil {
		return nil, err
	}
	if body.Token == nil || body.Token.ID == "" {
		return nil, resp.DecodeError("JSON of an unexpected shape (no token.id)")
	}
	return body.Token, nil
}

// User fetches the account behind the token.
func (c *Client) User(ctx context.Context) (*User, error) {
	resp, err := c.http.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/v2/user", Idempotent: true})
	if err != nil {
		return nil, err
	}
	var body struct {
		User *User `json:"user"`
	}
	if err := resp.JSON(&body); err != nil {
		return nil, err
	}
	if body.User == nil {
		return nil, resp.DecodeError("JSON of an unexpected shape (no user)")
	}
	return body.User, nil
}

// Pager walks the token list newest first, one page per Next.
type Pager struct {
	c     *Client
	limit int
	until string // the previous page's pagination.next, as text
	seen  map[string]bool
	done  bool
	pages int
}

// Tokens starts a listing with the given page size (1..MaxPageSize).
func (c *Client) Tokens(pageSize int) *Pager {
	return &Pager{c: c, limit: min(max(pageSize, 1), MaxPageSize), seen: map[string]bool{}}
}

// More reports whether another page may exist.
func (p *Pager) More() bool { return !p.done }

// Pages is how many pages were fetched.
func (p *Pager) Pages() int { return p.pages }

// SetPageSize changes the size of the following pages.
func (p *Pager) SetPageSize(n int) { p.limit = min(max(n, 1), MaxPageSize) }

// Next fetches the next page. It fails rather than loop when Vercel repeats a cursor
// or sends an empty page that claims to have a successor.
func (p *Pager) Next(ctx context.Context) ([]Token, error) {
	q := url.Values{"limit": {strconv.Itoa(p.limit)}}
	if p.until != "" {
		q.Set("until", p.until)
	}
	resp, err := p.c.http.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/v6/user/tokens", Query: q, Idempotent: true})
	if err != nil {
		return nil, err
	}
	p.pages++
	tokens, cursor, err := decodePage(resp)
	if err != nil {
		return nil, err
	}
	switch {
	case cursor == "":
		p.done = true
	case len(tokens) == 0:
		p.done = true
		return nil, resp.ProtocolError("page %d is empty but names a next page; stopping rather than looping", p.pages)
	case p.seen[cursor] || cursor == p.until:
		p.done = true
		return nil, resp.ProtocolError("page %d repeats an earlier pagination cursor; stopping rather than looping", p.pages)
	}
	p.seen[cursor] = true
	p.until = cursor
	return tokens, nil
}

// decodePage reads one list page: its tokens, and the next cursor as text ("" at the end).
func decodePage(resp *upstream.Response) ([]Token, string, error) {
	var body struct {
		Tokens     *[]Token `json:"tokens"`
		Pagination *struct {
			Next json.RawMessage `json:"next"`
		} `json:"pagination"`
	}
	if err := resp.JSON(&body); err != nil {
		return nil, "", err
	}
	if body.Tokens == nil {
		return nil, "", resp.DecodeError("JSON of an unexpected shape (no tokens array)")
	}
	for i := range *body.Tokens {
		if (*body.Tokens)[i].ID == "" {
			return nil, "", resp.DecodeError("JSON of an unexpected shape (tokens[%d] has no id)", i)
		}
	}
	var next json.RawMessage
	if body.Pagination != nil {
		next = body.Pagination.Next
	}
	cursor, ok := cursorText(next)
	if !ok {
		return nil, "", resp.DecodeError("JSON of an unexpected shape (pagination.next is neither a number, a string nor null)")
	}
	return *body.Tokens, cursor, nil
}

// cursorText renders pagination.next for the next request's `until`: a number as its
// digits, a string as itself; null, missing or empty means there is no next page.
func cursorText(raw json.RawMessage) (string, bool) {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "" || s == "null" || s == `""` || s == "false":
		return "", true
	case s[0] == '"':
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return "", false
		}
		return v, true
	case s[0] == '-' || (s[0] >= '0' && s[0] <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		if n.String() == "0" {
			return "", true
		}
		return n.String(), true
	}
	return "", false
}
