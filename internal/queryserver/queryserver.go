// Package queryserver is a small client for the user tokens of gc-victor's Query Server.
// Its list endpoints return secrets (each token's JWT, each user's password hash);
// this package decodes rows into types that have no field for them, so a secret never
// outlives the decoding of its row.
package queryserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// Paths of the user-token list: the one real servers route, and the one the old docs
// name (which real servers answer with 404).
const (
	UserTokenPath       = "/_/user/token"
	LegacyUserTokenPath = "/_/user-token"
)

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
	http      *upstream.Client
	token     []byte
	tokenPath atomic.Value // string: the path that answered last time
}

// New returns a client; token is the admin user token (without "Bearer").
func New(opts upstream.Options, token string) (*Client, error) {
	if opts.Provider == "" {
		opts.Provider = "Query Server"
	}
	opts.Authorization = "Bearer " + token
	opts.ParseError = func(body []byte) (string, string) { return "", upstream.PlainMessage(body) }
	c, err := upstream.New(opts)
	if err != nil {
		return nil, err
	}
	qs := &Client{http: c, token: []byte(token)}
	qs.tokenPath.Store(UserTokenPath)
	return qs, nil
}

// rawUserToken mirrors a list row. The secret is read only to tell whether the row is
// this client's own token, and the value is dropped with the raw row.
type rawUserToken struct {
	ID             upstream.Number `json:"id"`
	UserUUID       upstream.Text   `json:"user_uuid"`
	Token          string          `json:"token"`
	ExpirationDate upstream.Number `json:"expiration_date"`
	Active         upstream.Number `json:"active"`
	Write          upstream.Number `json:"write"`
	CreatedAt      upstream.Number `json:"created_at"`
	UpdatedAt      upstream.Number `json:"updated_at"`
}

// UserTokens lists every user token. It asks the real path first and falls back to the
// documented one only when the real one answers 404.
func (c *Client) UserTokens(ctx context.Context) ([]UserToken, error) {
	path := c.tokenPath.Load().(string)
	resp, err := c.get(ctx, path)
	if upstream.IsNotFound(err) {
		other := LegacyUserTokenPath
		if path == LegacyUserTokenPath {
			other = UserTokenPath
		}
		if resp2, err2 := c.get(ctx, other); !upstream.IsNotFound(err2) {
			resp, err = resp2, err2
			if err2 == nil {
				c.tokenPath.Store(other)
			}
		} else if e, ok := upstream.As(err); ok {
			e.Path = UserTokenPath + " and " + LegacyUserTokenPath
			e.Message = "neither user-token path exists; the server may have the create_user or create_token option switched off"
		}
	}
	if err != nil {
		return nil, err
	}
	return decodeUserTokens(resp, c.token)
}

// decodeUserTokens reads the list, telling which row holds own (this client's token),
// and wipes the body, which holds every row's secret.
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
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, resp.DecodeError("JSON of an unexpected shape (data[%d] is not a token row)", i)
		}
		(*body.Data)[i] = nil // the raw row holds the secret; let it go now
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
			IsCurrent:      r.Token != "" && subtle.ConstantTimeCompare([]byte(r.Token), own) == 1,
		})
	}
	return out, nil
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

// decodeUsers reads the user list and wipes the body, which holds the password hashes.
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
		out = append(out, User{UUID: string(u.UUID), Email: string(u.Email), Admin: u.Admin.Value != 0, Active: u.Active.Value != 0})
	}
	return out, nil
}

func (c *Client) get(ctx context.Context, path string) (*upstream.Response, error) {
	return c.http.Do(ctx, upstream.Request{Method: http.MethodGet, Path: path, Idempotent: true})
}

// Emails maps user uuid to email.
func Emails(users []User) map[string]string {
	m := make(map[string]string, len(users))
	for _, u := range users {
		if u.UUID != "" && strings.TrimSpace(u.Email) != "" {
			m[u.UUID] = u.Email
		}
	}
	return m
}
