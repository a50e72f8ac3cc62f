// Package api is a small client for GitLab's token endpoints (REST API v4): personal
// access tokens (every token of the instance for an administrator, including those
// of the bot users behind group and project access tokens), group and project access
// tokens, and the users, memberships, groups and projects that say whose a token is.
//
// It is written on internal/upstream rather than on GitLab's own Go client
// (gitlab.com/gitlab-org/api/client-go): that client retries a POST on a 5xx by
// default, which could rotate a token twice, and pages one after another; this one
// keeps the retry and "may have acted" rules every provider shares and keeps several
// pages in flight. The sandbox's answers are checked against the vendor client's
// types (internal/sandbox, make spec-check).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

const (
	// DefaultBaseURL is GitLab.com; a self-managed instance is its own address.
	DefaultBaseURL = "https://gitlab.com"
	// MaxPageSize is the largest per_page GitLab accepts.
	MaxPageSize = 100
)

// Token is a personal, group or project access token. The secret is never part of
// it: only a rotation's answer carries one (Rotated).
type Token struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Revoked     bool       `json:"revoked"`
	CreatedAt   *time.Time `json:"created_at"`
	Scopes      []string   `json:"scopes"`
	UserID      int64      `json:"user_id"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	Active      bool       `json:"active"`
	ExpiresAt   *Date      `json:"expires_at"`
	AccessLevel *int       `json:"access_level"` // group and project tokens only
}

// Date is a calendar date as GitLab writes it (YYYY-MM-DD). GitLab treats a token as
// expired from 00:00 UTC on its expiry date, so the date is that instant.
type Date struct{ time.Time }

func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string", Type: dateType}
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "string", Type: dateType}
	}
	d.Time = t.UTC()
	return nil
}

var dateType = reflect.TypeFor[time.Time]()

// Ptr is the date as a time, or nil.
func (d *Date) Ptr() *time.Time {
	if d == nil {
		return nil
	}
	t := d.Time
	return &t
}

// User is a GitLab user as /users/:id or /user shows it. Email is there only for an
// administrator, or for the caller on /user.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	State    string `json:"state"` // active, blocked, deactivated, ...
	Email    string `json:"email"`
	Bot      bool   `json:"bot"`
	IsAdmin  bool   `json:"is_admin"`
}

// Membership is one of a user's direct memberships: a group ("Namespace") or a project.
type Membership struct {
	SourceID   int64  `json:"source_id"`
	SourceName string `json:"source_name"`
	SourceType string `json:"source_type"`
}

// Group is a group and its full path (acme/platform).
type Group struct {
	ID       int64  `json:"id"`
	FullPath string `json:"full_path"`
}

// Project is a project and its full path (acme/platform/api).
type Project struct {
	ID                int64  `json:"id"`
	PathWithNamespace string `json:"path_with_namespace"`
}

// Home is the API a token belongs to: the personal access tokens API, or a group's or
// a project's access tokens.
type Home struct {
	Kind string // "personal", "group" or "project"
	ID   int64  // the group's or project's id
}

// Personal is the home of personal access tokens (service accounts' included).
var Personal = Home{Kind: "personal"}

func (h Home) path(tokenID int64) string {
	id := strconv.FormatInt(tokenID, 10)
	switch h.Kind {
	case "group":
		return "/groups/" + strconv.FormatInt(h.ID, 10) + "/access_tokens/" + id
	case "project":
		return "/projects/" + strconv.FormatInt(h.ID, 10) + "/access_tokens/" + id
	}
	return "/personal_access_tokens/" + id
}

// Client calls one GitLab instance.
type Client struct{ http *upstream.Client }

// New returns a client for the instance at opts.BaseURL (its /api/v4 is added) that
// authenticates with token in GitLab's PRIVATE-TOKEN header.
func New(opts upstream.Options, token string) (*Client, error) {
	if opts.Provider == "" {
		opts.Provider = "GitLab"
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/") + "/api/v4"
	opts.Authorization, opts.AuthHeader, opts.Secrets = token, "PRIVATE-TOKEN", []string{token}
	opts.ParseError = parseError
	c, err := upstream.New(opts)
	if err != nil {
		return nil, err
	}
	return &Client{http: c}, nil
}

// parseError reads {"message": "..." or {field: [...]}} and {"error", "error_description"}, or plain text.
func parseError(body []byte) (string, string) {
	var env struct {
		Message     json.RawMessage `json:"message"`
		Error       string          `json:"error"`
		Description string          `json:"error_description"`
	}
	if json.Unmarshal(body, &env) != nil {
		return "", upstream.PlainMessage(body)
	}
	var msg string
	if json.Unmarshal(env.Message, &msg) != nil && len(env.Message) > 0 {
		msg = string(env.Message) // field errors, as GitLab gives them
	}
	switch {
	case env.Error != "" && env.Description != "":
		return env.Error, env.Description
	case env.Error != "":
		return "", env.Error
	case msg == "":
		return "", upstream.PlainMessage(body)
	}
	return "", msg
}

// ValidID reports whether id can be a GitLab token id: a decimal number. Anything
// else names no token and costs no request.
func ValidID(id string) (int64, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n > 0 && strconv.FormatInt(n, 10) == id
}

func (c *Client) get(ctx context.Context, path string, q url.Values, v any) (*upstream.Response, error) {
	resp, err := c.http.Do(ctx, upstream.Request{Method: http.MethodGet, Path: path, Query: q, Idempotent: true})
	if err != nil {
		return nil, err
	}
	return resp, resp.JSON(v)
}

// Caller is the user the token belongs to (GET /user), with its own email.
func (c *Client) Caller(ctx context.Context) (*User, error) {
	var u User
	if _, err := c.get(ctx, "/user", nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Self is the token making the request (GET /personal_access_tokens/self).
func (c *Client) Self(ctx context.Context) (*Token, error) {
	var t Token
	if _, err := c.get(ctx, "/personal_access_tokens/self", nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Token is one personal access token. One GitLab does not know is (nil, nil) for an
// administrator (404); others are answered 401, which the caller must tell from a
// credential that does not work.
func (c *Client) Token(ctx context.Context, id int64) (*Token, error) {
	var t Token
	_, err := c.get(ctx, Personal.path(id), nil, &t)
	if upstream.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// User is one user; one GitLab does not know is (nil, nil).
func (c *Client) User(ctx context.Context, id int64) (*User, error) {
	var u User
	_, err := c.get(ctx, "/users/"+strconv.FormatInt(id, 10), nil, &u)
	if upstream.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// UsersWithEmail are the users whose email is exactly email (GET /users?search=, which
// an administrator can search by email with; the search also matches names).
func (c *Client) UsersWithEmail(ctx context.Context, email string) ([]User, error) {
	users, err := all[User](ctx, c, "/users", url.Values{"search": {email}})
	var out []User
	for _, u := range users {
		if strings.EqualFold(u.Email, email) {
			out = append(out, u)
		}
	}
	return out, err
}

// Memberships are a user's direct group and project memberships (administrators only).
func (c *Client) Memberships(ctx context.Context, userID int64) ([]Membership, error) {
	return all[Membership](ctx, c, "/users/"+strconv.FormatInt(userID, 10)+"/memberships", nil)
}

// Group is a group by id or full path.
func (c *Client) Group(ctx context.Context, idOrPath string) (*Group, error) {
	var g Group
	if _, err := c.get(ctx, "/groups/"+upstream.Segment(idOrPath), nil, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// Project is a project by id or full path.
func (c *Client) Project(ctx context.Context, idOrPath string) (*Project, error) {
	var p Project
	if _, err := c.get(ctx, "/projects/"+upstream.Segment(idOrPath), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Subgroups are every group below a group, at any depth.
func (c *Client) Subgroups(ctx context.Context, groupID int64) ([]Group, error) {
	return all[Group](ctx, c, "/groups/"+strconv.FormatInt(groupID, 10)+"/descendant_groups", nil)
}

// Projects are every project under a group, its subgroups' included.
func (c *Client) Projects(ctx context.Context, groupID int64) ([]Project, error) {
	return all[Project](ctx, c, "/groups/"+strconv.FormatInt(groupID, 10)+"/projects",
		url.Values{"include_subgroups": {"true"}, "simple": {"true"}})
}

// AccessTokens are a group's or a project's access tokens.
func (c *Client) AccessTokens(ctx context.Context, home Home) ([]Token, error) {
	return all[Token](ctx, c, "/"+home.Kind+"s/"+strconv.FormatInt(home.ID, 10)+"/access_tokens", nil)
}

// all reads every page of a short list, one after another, following x-next-page.
func all[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, error) {
	var out []T
	q = cloneValues(q)
	q.Set("per_page", strconv.Itoa(MaxPageSize))
	for page, seen := "1", map[string]bool{}; page != ""; {
		seen[page] = true
		q.Set("page", page)
		var items []T
		resp, err := c.get(ctx, path, q, &items)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		page = strings.TrimSpace(resp.Header.Get("X-Next-Page"))
		if len(items) == 0 {
			break
		}
		if seen[page] {
			return nil, resp.ProtocolError("x-next-page names page %s again; stopping rather than looping", page)
		}
	}
	return out, nil
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// ErrNoSuchToken: GitLab has no token with that id, in the API given.
var ErrNoSuchToken = errors.New("no such token")

// Revoke revokes a token through the API that owns it. A success whose answer was lost
// counts as done; so does a 404 on a retry after such a loss.
func (c *Client) Revoke(ctx context.Context, home Home, id int64) error {
	_, err := c.http.Do(ctx, upstream.Request{Method: http.MethodDelete, Path: home.path(id), Idempotent: true, Action: true})
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

// Rotated is a rotation's new token and its secret, which GitLab shows this once.
type Rotated struct {
	Token
	Secret string `json:"token"`
}

// Rotate revokes a token and mints its successor with a new id, through the API that
// owns it; expires (a date, 00:00 UTC) or GitLab's default lifetime. It is never
// repeated unless GitLab certainly did not act: a second rotation of a revoked token
// revokes its whole family.
func (c *Client) Rotate(ctx context.Context, home Home, id int64, expires *time.Time) (*Rotated, error) {
	var body map[string]string
	if expires != nil {
		body = map[string]string{"expires_at": expires.UTC().Format(time.DateOnly)}
	}
	resp, err := c.http.Do(ctx, upstream.Request{Method: http.MethodPost, Path: home.path(id) + "/rotate", Body: body, Action: true})
	if err != nil {
		return nil, err
	}
	var r Rotated
	if err := resp.JSON(&r); err != nil {
		return nil, err
	}
	if r.ID == 0 || r.Secret == "" {
		return nil, resp.DecodeError("JSON of an unexpected shape (no id or token)")
	}
	return &r, nil
}
