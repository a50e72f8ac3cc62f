// Package api is a small client for Vercel's user-token endpoints
// (list v6, get v5, create and delete v3, account v2), tolerant of the API's quirks: two cursor types,
// optional keys absent rather than null, and unknown keys added without notice.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
	"github.com/tidwall/gjson"
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

// New returns a client that authenticates with a personal token; opts.Provider
// defaults to "Vercel".
func New(opts upstream.Options, token string) (*Client, error) {
	if opts.Provider == "" {
		opts.Provider = "Vercel"
	}
	opts.Authorization, opts.Secrets = "Bearer "+token, []string{token}
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

// A Vercel token id is a path-safe word (the API's own examples are 64 hex digits;
// the CLI shows tok_...). Anything else names no token: the table answers it with no
// request at all. "current" is not an id but the calling token's alias.
var tokenID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// ValidTokenID reports whether id can be the id of a Vercel token.
func ValidTokenID(id string) bool { return tokenID.MatchString(id) && id != "current" }

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

// CreateParams are what a new token is made of.
type CreateParams struct {
	Name      string
	ExpiresAt *time.Time // nil: never expires
	TeamID    string     // "": the token acts on the whole account
}

// Created is a new token and its secret, which Vercel shows this once.
type Created struct {
	Token       Token
	BearerToken string
}

// CreateToken mints a token. It is repeated only when Vercel certainly did not act
// (429, 503, a connection never made); otherwise the error's Acted() says whether a
// token may exist whose secret nobody will see.
func (c *Client) CreateToken(ctx context.Context, p CreateParams) (*Created, error) {
	body := map[string]any{"name": p.Name}
	if p.ExpiresAt != nil {
		body["expiresAt"] = p.ExpiresAt.UnixMilli()
	}
	var q url.Values
	if p.TeamID != "" {
		q = url.Values{"teamId": {p.TeamID}}
	}
	resp, err := c.http.Do(ctx, upstream.Request{Method: http.MethodPost, Path: "/v3/user/tokens", Query: q, Body: body, Action: true})
	if err != nil {
		return nil, err
	}
	var out struct {
		Token       *Token `json:"token"`
		BearerToken string `json:"bearerToken"`
	}
	if err := resp.JSON(&out); err != nil {
		return nil, err
	}
	if out.Token == nil || out.Token.ID == "" || out.BearerToken == "" {
		return nil, resp.DecodeError("JSON of an unexpected shape (no token.id or bearerToken)")
	}
	return &Created{Token: *out.Token, BearerToken: out.BearerToken}, nil
}

// ErrNoSuchToken: Vercel has no token with the id given to DeleteToken.
var ErrNoSuchToken = errors.New("no such token")

// DeleteToken revokes a token ("current": the calling one). A success whose answer was
// cut off counts as done; so does a 404 on a retry after an answer was lost, the first
// attempt having done it. A token Vercel does not know is ErrNoSuchToken.
func (c *Client) DeleteToken(ctx context.Context, id string) error {
	segment := upstream.Segment(id)
	if id == "current" {
		segment = "current"
	}
	_, err := c.http.Do(ctx, upstream.Request{Method: http.MethodDelete, Path: "/v3/user/tokens/" + segment, Idempotent: true, Action: true})
	if e, ok := upstream.As(err); ok {
		switch {
		case e.Acted() == upstream.ActedYes:
			return nil
		case upstream.IsNotFound(err) && e.Attempts > 1:
			return nil
		case upstream.IsNotFound(err):
			return ErrNoSuchToken
		}
	}
	return err
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

// ListOptions shape a listing.
type ListOptions struct {
	// PageSize is asked before each request for the size of that page (clamped to
	// 1..MaxPageSize); nil asks for full pages.
	PageSize func() int
	// Ahead is how many pages a fetcher may hold ahead of the consumer, so that
	// requests never wait for rows to be built; 0 fetches a page only when it is asked
	// for (what a LIMIT needs: no request the query does not use).
	Ahead int
	// BeforeNext runs before every request but the first (a rate limiter, or a check
	// that the listing is still wanted); an error ends the listing with that error.
	BeforeNext func(ctx context.Context) error
}

// Tokens walks the account's tokens newest first, one page per step. It stops with an
// error rather than loop when Vercel repeats a cursor or sends an empty page that names
// a next one. Breaking out of the loop stops the fetcher. With Ahead, a page is decoded
// after the request for the next has left, so a page that turns out unreadable has
// cost up to Ahead+1 more requests (reads) before the listing stops with its error.
func (c *Client) Tokens(ctx context.Context, o ListOptions) iter.Seq2[[]Token, error] {
	return func(yield func([]Token, error) bool) {
		p := &pager{c: c, o: o, seen: map[string]bool{}, peek: o.Ahead > 0}
		if o.Ahead <= 0 {
			for p.more() {
				tokens, err := p.fetch(ctx).decode()
				if !yield(tokens, err) || err != nil {
					return
				}
			}
			return
		}
		parent := ctx
		ctx, cancel := context.WithCancel(ctx)
		pages := make(chan fetched, o.Ahead)
		done := make(chan struct{})
		finished := false                   // the fetcher handed over the last page (read after pages closes)
		defer func() { cancel(); <-done }() // the fetcher is gone when the loop is
		go func() {
			defer close(done)
			defer close(pages)
			for p.more() {
				f := p.fetch(ctx)
				select {
				case pages <- f:
				case <-ctx.Done():
					return
				}
				if f.err != nil {
					return
				}
			}
			finished = true
		}()
		// Pages are decoded here, while the fetcher's next request is on its way.
		for f := range pages {
			tokens, err := f.decode()
			if !yield(tokens, err) || err != nil {
				return
			}
		}
		// the fetcher stopped early because the caller's context ended: say so
		if !finished && parent.Err() != nil {
			yield(nil, parent.Err())
		}
	}
}

// pager is the state of one listing: the cursor, and the cursors seen so far.
type pager struct {
	c     *Client
	o     ListOptions
	until string // the previous page's pagination.next, as text
	seen  map[string]bool
	done  bool
	pages int
	peek  bool // leave pages undecoded for the consumer: only with a request to overlap
}

func (p *pager) more() bool { return !p.done }

// fetched is one page as the fetcher leaves it: decoded (the last page, or one that
// ends the listing), or a body of which only the cursor and the count were read.
type fetched struct {
	tokens []Token
	err    error
	resp   *upstream.Response // still to decode, when not nil
	cursor string
	count  int
}

// fetch requests the next page. A page that names a fresh next cursor is left
// undecoded, having been peeked at for its cursor: decoding it here would delay the
// next request, the only thing on a listing's critical path (CHANGELOG, v0.2.0).
func (p *pager) fetch(ctx context.Context) fetched {
	if p.pages > 0 && p.o.BeforeNext != nil {
		if err := p.o.BeforeNext(ctx); err != nil {
			p.done = true
			return fetched{err: err}
		}
	}
	size := MaxPageSize
	if p.o.PageSize != nil {
		size = min(max(p.o.PageSize(), 1), MaxPageSize)
	}
	q := url.Values{"limit": {strconv.Itoa(size)}}
	if p.until != "" {
		q.Set("until", p.until)
	}
	resp, err := p.c.http.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/v6/user/tokens", Query: q, Idempotent: true})
	p.pages++
	if err != nil {
		p.done = true
		return fetched{err: err}
	}
	return p.read(resp)
}

// read takes a page's cursor, from a peek when the pager peeks and the page names a
// fresh one.
func (p *pager) read(resp *upstream.Response) fetched {
	if p.peek {
		peek := gjson.GetManyBytes(resp.Body, "pagination.next", "tokens.#")
		if cursor, ok := cursorText(json.RawMessage(peek[0].Raw)); ok && peek[1].Int() > 0 && p.advance(cursor) {
			return fetched{resp: resp, cursor: cursor, count: int(peek[1].Int())}
		}
	}
	// the last page, one that ends the listing, or keys the peek cannot read (Go
	// matches them in any case): decoded now, for the exact reason
	tokens, cursor, err := decodePage(resp)
	switch {
	case err != nil:
	case cursor == "":
		p.done = true
	case len(tokens) == 0:
		err = resp.ProtocolError("page %d is empty but names a next page; stopping rather than looping", p.pages)
	case !p.advance(cursor):
		err = resp.ProtocolError("page %d repeats an earlier pagination cursor; stopping rather than looping", p.pages)
	}
	if err != nil {
		p.done = true
		return fetched{err: err}
	}
	return fetched{tokens: tokens}
}

// advance moves the listing to a next cursor, unless there is none or it was seen.
func (p *pager) advance(cursor string) bool {
	if cursor == "" || p.seen[cursor] || cursor == p.until {
		return false
	}
	p.seen[cursor] = true
	p.until = cursor
	return true
}

// decode finishes a fetched page; the full decode must agree with the peek the
// next request was made from.
func (f fetched) decode() ([]Token, error) {
	if f.resp == nil {
		return f.tokens, f.err
	}
	tokens, cursor, err := decodePage(f.resp)
	if err == nil && (cursor != f.cursor || len(tokens) != f.count) {
		return nil, f.resp.DecodeError("JSON of an unexpected shape (pagination or tokens given twice)")
	}
	return tokens, err
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
