// Package api is a small client for Clerk's sign-in token operations. Clerk's Backend
// API can only create and revoke them: there is no list and no get.
package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

const (
	// DefaultBaseURL is Clerk's Backend API.
	DefaultBaseURL = "https://api.clerk.com/v1"
	// APIVersion is the Backend API version this client was written against.
	APIVersion = "2026-05-12"
)

// SignInToken is Clerk's SignInToken object. Token and URL are live credentials.
type SignInToken struct {
	ID        string           `json:"id"`
	Status    string           `json:"status"`
	UserID    string           `json:"user_id"`
	Token     string           `json:"token"`
	URL       *string          `json:"url"`
	CreatedAt *upstream.Millis `json:"created_at"`
	UpdatedAt *upstream.Millis `json:"updated_at"`
}

// CreateParams are the body of POST /sign_in_tokens.
type CreateParams struct {
	UserID           string  `json:"user_id"`
	OrgID            *string `json:"org_id,omitempty"`
	ExpiresInSeconds *int64  `json:"expires_in_seconds,omitempty"`
}

// Client calls Clerk with an instance secret key.
type Client struct{ http *upstream.Client }

// New returns a client; secretKey is sk_live_... or sk_test_....
func New(opts upstream.Options, secretKey string) (*Client, error) {
	if opts.Provider == "" {
		opts.Provider = "Clerk"
	}
	opts.Authorization, opts.Secrets = "Bearer "+secretKey, []string{secretKey}
	if opts.Header == nil {
		opts.Header = http.Header{}
	}
	opts.Header.Set("Clerk-API-Version", APIVersion)
	opts.ParseError = parseError
	c, err := upstream.New(opts)
	if err != nil {
		return nil, err
	}
	return &Client{http: c}, nil
}

// parseError reads {"errors":[{code,message,long_message}]}, or plain text.
func parseError(body []byte) (string, string) {
	var env struct {
		Errors []struct {
			Code        string `json:"code"`
			Message     string `json:"message"`
			LongMessage string `json:"long_message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &env) != nil || len(env.Errors) == 0 {
		return "", upstream.PlainMessage(body)
	}
	var codes, msgs []string
	for _, e := range env.Errors {
		if e.Code != "" {
			codes = append(codes, e.Code)
		}
		m := e.LongMessage
		if m == "" {
			m = e.Message
		}
		if m != "" {
			msgs = append(msgs, m)
		}
	}
	return strings.Join(codes, ", "), strings.Join(msgs, "; ")
}

// Create mints a sign-in token. A create is not repeated after an answer that leaves
// it unknown whether Clerk acted (a 500, a dropped connection): that could mint a
// second live token nobody would ever see. The error's Acted() says whether one may
// exist.
func (c *Client) Create(ctx context.Context, p CreateParams) (*SignInToken, error) {
	resp, err := c.http.Do(ctx, upstream.Request{Method: http.MethodPost, Path: "/sign_in_tokens", Body: p, Action: true})
	if err != nil {
		return nil, err
	}
	return decode(resp)
}

// Revoke revokes a pending sign-in token; repeating it is harmless.
func (c *Client) Revoke(ctx context.Context, id string) (*SignInToken, error) {
	resp, err := c.http.Do(ctx, upstream.Request{Method: http.MethodPost,
		Path: "/sign_in_tokens/" + upstream.Segment(id) + "/revoke", Idempotent: true, Action: true})
	if e, ok := upstream.As(err); ok && e.Acted() == upstream.ActedYes {
		// Clerk confirmed the revoke; only the copy of the token it sends back was lost.
		return &SignInToken{ID: id, Status: "revoked"}, nil
	}
	if err != nil {
		return nil, err
	}
	return decode(resp)
}

func decode(resp *upstream.Response) (*SignInToken, error) {
	var t SignInToken
	if err := resp.JSON(&t); err != nil {
		return nil, err
	}
	if t.ID == "" {
		return nil, resp.DecodeError("JSON of an unexpected shape (no id)")
	}
	return &t, nil
}
