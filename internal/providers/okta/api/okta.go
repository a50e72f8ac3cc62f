// Package api is a small client for Okta's API tokens and the users who own them
// (Management API: /api/v1/api-tokens, /api/v1/users/{id} and its roles), tolerant of
// what the vendor's document leaves open: the list declares no paging, so the client
// follows `Link: <...>; rel="next"` until there is none.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// ListPath is the token list, below the org's address.
const ListPath = "/api/v1/api-tokens"

// PageSize is the largest page Okta's token list gives (its default is 20): fewer
// pages cost fewer requests of the org's per-minute allowance.
const PageSize = 200

// Token is an API token's metadata; no secret is ever in it.
type Token struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	UserID      string          `json:"userId"`
	ClientName  *string         `json:"clientName"`
	TokenWindow string          `json:"tokenWindow"`
	Created     *Time           `json:"created"`
	ExpiresAt   *Time           `json:"expiresAt"`
	LastUpdated *Time           `json:"lastUpdated"`
	Network     json.RawMessage `json:"network"`
}

// NetworkJSON is the network condition as Okta sent it, nil when absent or null.
func (t *Token) NetworkJSON() json.RawMessage {
	if len(t.Network) == 0 || string(t.Network) == "null" {
		return nil
	}
	return t.Network
}

// Time is an RFC 3339 timestamp, as Okta sends them; JSON null leaves a *Time nil.
type Time struct{ time.Time }

var timeType = reflect.TypeOf(time.Time{})

func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: timeType}
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "string", Type: timeType}
	}
	t.Time = v.UTC()
	return nil
}

// Ptr returns the time, or nil for a nil or zero value.
func (t *Time) Ptr() *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	v := t.Time
	return &v
}

func jsonKind(b []byte) string {
	switch b = bytes.TrimSpace(b); {
	case len(b) == 0:
		return "nothing"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == 't' || b[0] == 'f':
		return "bool"
	}
	return "number"
}

// User is a token's owner.
type User struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Profile struct {
		Email *string `json:"email"`
		Login string  `json:"login"`
	} `json:"profile"`
}

// Active: the account is activated, in whatever passing state (a locked-out or
// expired password still belongs to someone employed); SUSPENDED, DEPROVISIONED,
// STAGED and PROVISIONED accounts are not.
func (u *User) Active() bool {
	switch u.Status {
	case "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT":
		return true
	}
	return false
}

// Deprovisioned: Okta rejects the tokens of a deactivated user.
func (u *User) Deprovisioned() bool { return u.Status == "DEPROVISIONED" }

// Role is one admin role assigned to a user, directly or through a group.
type Role struct {
	Type   string `json:"type"`
	Status string `json:"status"`
}

// CanWrite: a token acts with its owner's admin roles. It can write unless every
// role is READ_ONLY_ADMIN, or there is none; any other role counts, custom roles and
// roles of an unknown type included, whatever the assignment's status.
func CanWrite(roles []Role) bool {
	for _, r := range roles {
		if r.Type != "READ_ONLY_ADMIN" {
			return true
		}
	}
	return false
}

// Client calls one Okta org.
type Client struct{ http *upstream.Client }

// New returns a client that authenticates with an API token; opts.Provider defaults
// to "Okta".
func New(opts upstream.Options, token string) (*Client, error) {
	if opts.Provider == "" {
		opts.Provider = "Okta"
	}
	opts.Authorization, opts.Secrets = "SSWS "+token, []string{token}
	opts.ParseError = parseError
	c, err := upstream.New(opts)
	if err != nil {
		return nil, err
	}
	return &Client{http: c}, nil
}

// parseError reads Okta's {"errorCode", "errorSummary"} body, or plain text.
func parseError(body []byte) (string, string) {
	var e struct {
		Code    string `json:"errorCode"`
		Summary string `json:"errorSummary"`
	}
	if json.Unmarshal(body, &e) == nil && (e.Code != "" || e.Summary != "") {
		return e.Code, e.Summary
	}
	return "", upstream.PlainMessage(body)
}

// An Okta id is a path-safe word (Okta's own are 20 letters and digits, 00T... for a
// token). Anything else names no token: the table answers it with no request at all.
// "current" is not an id but the calling token's alias.
var tokenID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// ValidTokenID reports whether id can be the id of an Okta API token.
func ValidTokenID(id string) bool { return tokenID.MatchString(id) && id != "current" }

// GetToken fetches one token's metadata. A token Okta does not know is (nil, nil).
func (c *Client) GetToken(ctx context.Context, id string) (*Token, error) {
	resp, err := c.http.Do(ctx, upstream.Request{Method: http.MethodGet, Path: ListPath + "/" + upstream.Segment(id), Idempotent: true})
	if upstream.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var t *Token
	if err := resp.JSON(&t); err != nil {
		return nil, err
	}
	if t == nil || t.ID == "" {
		return nil, resp.DecodeError("JSON of an unexpected shape (no id)")
	}
	return t, nil
}

// ErrNoSuchToken: Okta has no token with the id given to RevokeToken.
var ErrNoSuchToken = errors.New("no such token")

// RevokeToken revokes a token ("current": the calling one). A success whose answer
// was cut off counts as done; so does a 404 on a retry after an answer was lost, the
// first attempt having done it. A token Okta does not know is ErrNoSuchToken.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	segment := upstream.Segment(id)
	if id == "current" {
		segment = "current"
	}
	_, err := c.http.Do(ctx, upstream.Request{Method: http.MethodDelete, Path: ListPath + "/" + segment, Idempotent: true, Action: true})
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

// User fetches a user by id. A user Okta does not know (deleted) is (nil, nil).
func (c *Client) User(ctx context.Context, id string) (*User, error) {
	resp, err := c.http.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/api/v1/users/" + upstream.Segment(id), Idempotent: true})
	if upstream.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeUser(resp)
}

func decodeUser(resp *upstream.Response) (*User, error) {
	var u *User
	if err := resp.JSON(&u); err != nil {
		return nil, err
	}
	if u == nil || u.ID == "" || u.Status == "" {
		return nil, resp.DecodeError("JSON of an unexpected shape (no id or status)")
	}
	return u, nil
}

// ErrNoSuchUser: Okta has no user with the id given to Roles.
var ErrNoSuchUser = errors.New("no such user")

// Roles lists the admin roles assigned to a user, directly or through groups.
func (c *Client) Roles(ctx context.Context, userID string) ([]Role, error) {
	resp, err := c.http.Do(ctx, upstream.Request{Method: http.MethodGet, Path: "/api/v1/users/" + upstream.Segment(userID) + "/roles", Idempotent: true})
	if upstream.IsNotFound(err) {
		return nil, ErrNoSuchUser
	}
	if err != nil {
		return nil, err
	}
	return decodeRoles(resp)
}

func decodeRoles(resp *upstream.Response) ([]Role, error) {
	var roles *[]Role
	if err := resp.JSON(&roles); err != nil {
		return nil, err
	}
	if roles == nil {
		return nil, resp.DecodeError("JSON of an unexpected shape (null instead of a list of roles)")
	}
	return *roles, nil
}

// Tokens walks the org's tokens page by page, following each page's rel="next" link
// until a page has none. beforeNext runs before every request but the first (a rate
// limiter, or a check that the listing is still wanted); its error ends the listing.
// The listing stops with an error rather than loop when a next link repeats one
// already followed, or an empty page names a next one.
func (c *Client) Tokens(ctx context.Context, beforeNext func(context.Context) error) iter.Seq2[[]Token, error] {
	return func(yield func([]Token, error) bool) {
		query := url.Values{"limit": {strconv.Itoa(PageSize)}}
		seen := map[string]bool{query.Encode(): true}
		for page := 1; ; page++ {
			if page > 1 && beforeNext != nil {
				if err := beforeNext(ctx); err != nil {
					yield(nil, err)
					return
				}
			}
			resp, err := c.http.Do(ctx, upstream.Request{Method: http.MethodGet, Path: ListPath, Query: query, Idempotent: true})
			if err != nil {
				yield(nil, err)
				return
			}
			tokens, next, err := decodePage(resp)
			switch {
			case err != nil:
			case next == nil:
			case len(tokens) == 0:
				err = resp.ProtocolError("page %d is empty but names a next page; stopping rather than looping", page)
			case seen[next.Encode()]:
				err = resp.ProtocolError("page %d names an earlier page as the next; stopping rather than looping", page)
			}
			if !yield(tokens, err) || err != nil || next == nil {
				return
			}
			query = next
			seen[query.Encode()] = true
		}
	}
}

// decodePage reads one list page: its tokens, and the query of the next page (nil at
// the end), from its Link headers.
func decodePage(resp *upstream.Response) ([]Token, url.Values, error) {
	next, err := NextQuery(resp.Header.Values("Link"))
	if err != nil {
		return nil, nil, resp.ProtocolError("%s", err)
	}
	var tokens *[]Token
	if err := resp.JSON(&tokens); err != nil {
		return nil, nil, err
	}
	if tokens == nil {
		return nil, nil, resp.DecodeError("JSON of an unexpected shape (null instead of a list of tokens)")
	}
	for i := range *tokens {
		if (*tokens)[i].ID == "" {
			return nil, nil, resp.DecodeError("JSON of an unexpected shape ([%d] has no id)", i)
		}
	}
	return *tokens, next, nil
}

// NextQuery finds the rel="next" link among Link header values and returns its query,
// or nil when there is none. The next page is asked of the org's own address with that
// query, whatever scheme and host the link names, so that the token is never sent
// elsewhere; a link to another path than the token list is refused. Its errors never
// quote the link.
func NextQuery(links []string) (url.Values, error) {
	for _, l := range ParseLinks(links) {
		if !l.Rel("next") {
			continue
		}
		u, err := url.Parse(l.URL)
		if err != nil {
			return nil, errors.New("the Link header's next page is not a URL")
		}
		if !strings.HasSuffix(strings.TrimRight(u.Path, "/"), ListPath) {
			return nil, errors.New("the Link header's next page is another list than the tokens'")
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return nil, errors.New("the Link header's next page has a query that does not parse")
		}
		return q, nil
	}
	return nil, nil
}

// Link is one link of a Link header (RFC 8288): its target and its rel values.
type Link struct {
	URL  string
	rels []string
}

// Rel reports whether the link has the relation (compared without case).
func (l Link) Rel(rel string) bool {
	for _, r := range l.rels {
		if strings.EqualFold(r, rel) {
			return true
		}
	}
	return false
}

// ParseLinks reads Link header values: `<url>; rel="next", <url>; rel=self`. A
// link-value that does not start with <...> is skipped, as a client must ignore what
// it does not understand.
func ParseLinks(values []string) []Link {
	var out []Link
	for _, v := range values {
		for rest := strings.TrimSpace(v); rest != ""; {
			open := strings.IndexByte(rest, '<')
			if open < 0 {
				break
			}
			closing := strings.IndexByte(rest[open:], '>')
			if closing < 0 {
				break
			}
			l := Link{URL: strings.TrimSpace(rest[open+1 : open+closing])}
			rest = rest[open+closing+1:]
			params := rest
			if i := nextLinkValue(rest); i >= 0 {
				params, rest = rest[:i], rest[i+1:]
			} else {
				rest = ""
			}
			for _, p := range splitParams(params) {
				name, value, ok := strings.Cut(p, "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				l.rels = append(l.rels, strings.Fields(strings.Trim(strings.TrimSpace(value), `"`))...)
			}
			out = append(out, l)
		}
	}
	return out
}

// nextLinkValue is the index of the comma that ends a link-value's parameters (one
// outside quotes), or -1.
func nextLinkValue(s string) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return i
			}
		}
	}
	return -1
}

// splitParams splits `; a=1; rel="x y"` at the semicolons outside quotes.
func splitParams(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
