// Package api is a small client for the user tokens of gc-victor's Query
// Server. Its list endpoints return secrets (each token's value, each user's password
// hash): this package decodes rows into types that have no field for them.
package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// UserTokenPath is where the user tokens live. The old docs' /_/user-token is
// routed by no server version (upstream-apis.md 2.2).
const UserTokenPath = "/_/user/token"

// UserToken is one row of _config_user_token without its secret.
type UserToken struct {
	ID             int64
	UserUUID       string
	ExpirationDate int64 // as stored: seconds or milliseconds
	Active         bool
	Write          bool
	CreatedAt      int64 // seconds (0 when null)
	UpdatedAt      int64 // seconds (0 when null)
	IsCurrent      bool  // the row's token is the one this client authenticates with
}

// NeverExpires: the server treats expiration_date equal to updated_at as "no expiry".
func (t *UserToken) NeverExpires() bool { return t.ExpirationDate == t.UpdatedAt }

// ExpiresAt is the expiry as a time, reading milliseconds where the value can only be
// milliseconds; nil when the token never expires.
func (t *UserToken) ExpiresAt() *time.Time {
	if t.NeverExpires() {
		return nil
	}
	return upstream.EpochAuto(t.ExpirationDate)
}

// Usable applies the server's own validity rule to the row: active, and either
// non-expiring or expiration_date greater than now in SECONDS. A date stored in
// milliseconds therefore passes until far in the future, exactly as on the server.
func (t *UserToken) Usable(now time.Time) bool {
	return t.Active && (t.NeverExpires() || t.ExpirationDate > now.Unix())
}

// User is one row of _config_user without its password hash.
type User struct {
	UUID   string
	Email  string
	Admin  bool
	Active bool
}

// Client calls one Query Server with an admin user token.
type Client struct {
	http  *upstream.Client
	token []byte
}

// New returns a client; token is the admin user token (without "Bearer").
func New(opts upstream.Options, token string) (*Client, error) {
	if opts.Provider == "" {
		opts.Provider = "Query Server"
	}
	opts.Authorization, opts.Secrets = "Bearer "+token, []string{token}
	opts.ParseError = func(body []byte) (string, string) { return "", upstream.PlainMessage(body) }
	c, err := upstream.New(opts)
	if err != nil {
		return nil, err
	}
	return &Client{http: c, token: []byte(token)}, nil
}

// UserTokens lists every user token.
func (c *Client) UserTokens(ctx context.Context) ([]UserToken, error) {
	resp, err := c.get(ctx, UserTokenPath)
	if e, ok := upstream.As(err); ok && e.Kind == upstream.KindStatus && e.Status == http.StatusNotFound {
		e.Message = "the server has no user-token routes: its create_user or create_token option may be switched off"
	}
	if err != nil {
		return nil, err
	}
	return decodeUserTokens(resp, c.token)
}

// rawUserToken mirrors a list row. The secret is kept as bytes, compared with this
// client's own token to fill IsCurrent, then cleared.
type rawUserToken struct {
	ID             upstream.Number `json:"id"`
	UserUUID       upstream.Text   `json:"user_uuid"`
	Token          secret          `json:"token"`
	ExpirationDate upstream.Number `json:"expiration_date"`
	Active         upstream.Number `json:"active"`
	Write          upstream.Number `json:"write"`
	CreatedAt      upstream.Number `json:"created_at"`
	UpdatedAt      upstream.Number `json:"updated_at"`
}

// decodeUserTokens reads the list, telling which row holds own (this client's token).
// The body and every copy of a token's bytes are cleared before it returns.
func decodeUserTokens(resp *upstream.Response, own []byte) ([]UserToken, error) {
	defer clear(resp.Body)
	var body struct {
		Data *[]json.RawMessage `json:"data"`
	}
	if err := resp.JSON(&body); err != nil {
		return nil, err
	}
	if body.Data == nil {
		return nil, resp.DecodeError("JSON of an unexpected shape (no data array)")
	}
	out := make([]UserToken, 0, len(*body.Data))
	for i, raw := range *body.Data {
		var r rawUserToken
		err := json.Unmarshal(raw, &r)
		clear(raw)
		current := len(r.Token) > 0 && subtle.ConstantTimeCompare(r.Token, own) == 1
		clear(r.Token)
		if err != nil {
			return nil, resp.DecodeError("JSON of an unexpected shape (data[%d] is not a token row)", i)
		}
		if !r.ID.Valid {
			return nil, resp.DecodeError("JSON of an unexpected shape (data[%d] has no id)", i)
		}
		out = append(out, UserToken{
			ID:             r.ID.Value,
			UserUUID:       string(r.UserUUID),
			ExpirationDate: r.ExpirationDate.Value,
			Active:         r.Active.Value != 0,
			Write:          r.Write.Value != 0,
			CreatedAt:      r.CreatedAt.Value,
			UpdatedAt:      r.UpdatedAt.Value,
			IsCurrent:      current,
		})
	}
	return out, nil
}

// secret is a JSON string kept as bytes, which can be cleared (a Go string cannot).
// As for a string, null leaves it unchanged and any other type is an error. A value
// written with JSON escapes passes through a Go string, which lives until the garbage
// collector reuses its memory.
type secret []byte

func (s *secret) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		return nil
	case len(b) < 2 || b[0] != '"':
		return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[string]()}
	}
	clear(*s)
	if inner := b[1 : len(b)-1]; bytes.IndexByte(inner, '\\') < 0 {
		*s = append((*s)[:0], inner...)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return err
	}
	*s = append((*s)[:0], str...)
	return nil
}

// Users lists the server's users. The password hash in each row has no field here,
// so the decoder skips it.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	resp, err := c.get(ctx, "/_/user")
	if err != nil {
		return nil, err
	}
	return decodeUsers(resp)
}

// decodeUsers reads the user list and clears the body, which holds the password hashes.
func decodeUsers(resp *upstream.Response) ([]User, error) {
	defer clear(resp.Body)
	var body struct {
		Data *[]struct {
			UUID   upstream.Text   `json:"uuid"`
			Email  upstream.Text   `json:"email"`
			Admin  upstream.Number `json:"admin"`
			Active upstream.Number `json:"active"`
		} `json:"data"`
	}
	if err := resp.JSON(&body); err != nil {
		return nil, err
	}
	if body.Data == nil {
		return nil, resp.DecodeError("JSON of an unexpected shape (no data array)")
	}
	out := make([]User, 0, len(*body.Data))
	for _, u := range *body.Data {
		out = append(out, User{UUID: string(u.UUID), Email: strings.TrimSpace(string(u.Email)), Admin: u.Admin.Value != 0, Active: u.Active.Value != 0})
	}
	return out, nil
}

func (c *Client) get(ctx context.Context, path string) (*upstream.Response, error) {
	return c.http.Do(ctx, upstream.Request{Method: http.MethodGet, Path: path, Idempotent: true})
}

// Owners maps user uuid to user.
func Owners(users []User) map[string]User {
	m := make(map[string]User, len(users))
	for _, u := range users {
		if u.UUID != "" {
			m[u.UUID] = u
		}
	}
	return m
}

// TokenWrite is the body of POST and PUT /_/user/token. Nil fields are left out, and
// the server then uses its defaults: write true, and expiration "now", which means
// the token never expires.
type TokenWrite struct {
	Email          string `json:"email"`
	ExpirationDate *int64 `json:"expiration_date,omitempty"` // Unix seconds: what the server compares with
	Write          *bool  `json:"write,omitempty"`
}

// CreateUserToken is POST /_/user/token. The server answers 201 whether or not it
// created anything: for a user who already has a token it changes nothing. Repeating
// it is harmless for the same reason.
func (c *Client) CreateUserToken(ctx context.Context, w TokenWrite) error {
	return c.write(ctx, http.MethodPost, w)
}

// UpdateUserToken is PUT /_/user/token. The server resets what it is not sent (write
// to true, the expiry to "never"), and re-mints the token's value.
func (c *Client) UpdateUserToken(ctx context.Context, w TokenWrite) error {
	return c.write(ctx, http.MethodPut, w)
}

// DeleteUserToken is DELETE /_/user/token with the body {email}. Repeating it is
// harmless: a user without a token is answered 200.
func (c *Client) DeleteUserToken(ctx context.Context, email string) error {
	return c.write(ctx, http.MethodDelete, TokenWrite{Email: email})
}

func (c *Client) write(ctx context.Context, method string, w TokenWrite) error {
	_, err := c.http.Do(ctx, upstream.Request{Method: method, Path: UserTokenPath, Body: w, Idempotent: true, Action: true})
	if e, ok := upstream.As(err); ok && e.Acted() == upstream.ActedYes {
		return nil // the server answered 2xx; its (empty) body was lost
	}
	return err
}
