package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Clerk's sign-in tokens, served under /clerk/v1 (base URL <server>/clerk/v1).
//
// Where the sources are silent the emulation chooses: unknown body keys are 422
// form_param_unknown; a missing user_id is 422 form_param_missing; an org the user
// is not a member of is 422 form_param_value_invalid; revoking a token that is not
// pending is 400. The rate limit is a sliding 10 s window per key (option
// "clerk.rate_limit", requests per 10 s: default 100, a development instance's
// limit; -1 turns it off); Retry-After is the seconds until the oldest counted
// request leaves it. The secret key is "sk_" and 40 alphanumerics, without the
// usual test/live part.

// ProviderClerk is the upstream's name, as the plugin's provider column names it.
const ProviderClerk = "clerk"

func init() {
	register(&kind{name: ProviderClerk, prefix: "/clerk/v1", new: func(cfg Config) upstream { return &clerk{cfg: cfg} },
		options: map[string]func(string) error{"rate_limit": func(v string) error {
			if n, err := strconv.Atoi(v); err != nil || n < -1 {
				return errWant("a whole number of requests per 10 s, or -1 for no limit")
			}
			return nil
		}}})
}

// ClerkSignInToken is a sign-in token Clerk minted.
type ClerkSignInToken struct {
	ID, UserID, Status, Token, URL string
	CreatedAt, UpdatedAt           time.Time
}

// Hand-made Clerk identities, the placeholders of docs/tables/sign_in_tokens.md.
var (
	ClerkUsers = []string{"user_2pQ8xY3kL1mN0bV7cT6rS5wZ4aE", "user_2pT3vW4xY5zA6bC7dE8fG9hJ0k",
		"user_2pW6zA7bC8dE9fG0hJ1kL2mN3o", "user_2pZ9cD0eF1gH2iJ3kL4mN5oP6q"}
	ClerkOrgs = []string{"org_2pS0qR1sT2uV3wX4yZ5aB6cD7e", "org_2pV3tU4vW5xY6zA7bC8dE9fG0h"}
)

// clerk is one instance: its keys, users, organizations and the sign-in tokens minted.
type clerk struct {
	cfg        Config
	rng        *rand.Rand
	key        string
	publishKey string
	users      []string
	members    map[string][]string // org -> users
	tokens     []ClerkSignInToken
	windows    map[string][]time.Time // key -> requests in its rate window
}

// ClerkSecretKey is the connection's Clerk credential.
func (s *Sandbox) ClerkSecretKey() string {
	return with(s, ProviderClerk, func(c *clerk) string { return c.key })
}

// ClerkPublishableKey is the instance's publishable key, which cannot call the Backend API.
func (s *Sandbox) ClerkPublishableKey() string {
	return with(s, ProviderClerk, func(c *clerk) string { return c.publishKey })
}

// ClerkSignInTokens returns the sign-in tokens minted since the last Reset.
func (s *Sandbox) ClerkSignInTokens() []ClerkSignInToken {
	return with(s, ProviderClerk, func(c *clerk) []ClerkSignInToken { return slices.Clone(c.tokens) })
}

// ClerkUserIDs returns the ids of the Clerk users: the hand-made ones, then the generated.
func (s *Sandbox) ClerkUserIDs() []string {
	return with(s, ProviderClerk, func(c *clerk) []string { return slices.Clone(c.users) })
}

// ClerkState is the Clerk part of /_sandbox/state.
type ClerkState struct {
	Users []string `json:"users"`
}

func (c *clerk) state() any { return ClerkState{Users: slices.Clone(c.users)} }

func (c *clerk) secrets() []string {
	out := []string{c.key, "Bearer " + c.key}
	for _, t := range c.tokens {
		out = append(out, t.Token, t.URL)
	}
	return out
}

func (c *clerk) connection(base string) [][2]string {
	return [][2]string{{"clerk_secret_key", c.key}, {"clerk_base_url", base}}
}

func (c *clerk) wrongShape() []byte { return []byte(`[]`) }

func (c *clerk) statusResponse(f *Fault) *response {
	text := http.StatusText(f.Status)
	r := clerkError(f.Status, statusCode(f.Status), text, "The request failed with "+text+".")
	if f.Status == http.StatusTooManyRequests {
		r.header.Set("Retry-After", "1") // Clerk always sends one on 429
	}
	return r
}

func (c *clerk) build(_ *Sandbox, rng *rand.Rand) {
	c.rng, c.tokens, c.windows = rng, nil, map[string][]time.Time{}
	c.key = "sk_" + alnum(rng, 40)
	c.publishKey = "pk_" + alnum(rng, 40)
	c.users = slices.Clone(ClerkUsers)
	for i := range c.cfg.Generate[ProviderClerk] {
		c.users = append(c.users, fmt.Sprintf("user_gen%022d", i+1))
	}
	c.members = map[string][]string{ClerkOrgs[0]: {ClerkUsers[0]}, ClerkOrgs[1]: {ClerkUsers[1], ClerkUsers[2]}}
}

type clerkErrorJSON struct {
	Code        string         `json:"code"`
	Message     string         `json:"message"`
	LongMessage string         `json:"long_message"`
	Meta        map[string]any `json:"meta"`
}

func clerkError(status int, code, message, long string) *response {
	return clerkErrorMeta(status, code, message, long, map[string]any{})
}

func clerkErrorMeta(status int, code, message, long string, meta map[string]any) *response {
	r := jsonResponse(status, map[string]any{"errors": []clerkErrorJSON{{Code: code, Message: message, LongMessage: long,
		Meta: meta}}, "clerk_trace_id": "sandbox"})
	r.header.Set("Clerk-Trace-Id", "sandbox")
	return r
}

func clerkParamError(code, param, long string) *response {
	return clerkErrorMeta(http.StatusUnprocessableEntity, code, "is invalid", long, map[string]any{"param_name": param})
}

func (t *ClerkSignInToken) wire(withSecret bool) map[string]any {
	m := map[string]any{"object": "sign_in_token", "id": t.ID, "status": t.Status, "user_id": t.UserID,
		"created_at": t.CreatedAt.UnixMilli(), "updated_at": t.UpdatedAt.UnixMilli(), "url": nil}
	if withSecret {
		m["token"], m["url"] = t.Token, t.URL
	}
	return m
}

func (c *clerk) serve(s *Sandbox, r *http.Request, path string, body []byte, _ string) *response {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || key != c.key {
		return clerkError(http.StatusUnauthorized, "authentication_invalid", "Unauthorized request",
			"The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.")
	}
	if wait, limited := c.limited(key); limited {
		resp := clerkError(http.StatusTooManyRequests, "too_many_requests", "Too Many Requests", "You have exceeded the rate limit.")
		resp.header.Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return resp
	}
	switch {
	case path == "/sign_in_tokens" && r.Method == http.MethodPost:
		return c.create(s, body)
	case strings.HasPrefix(path, "/sign_in_tokens/") && strings.HasSuffix(path, "/revoke") && r.Method == http.MethodPost:
		id, err := url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(path, "/sign_in_tokens/"), "/revoke"))
		if err != nil || id == "" || strings.Contains(id, "/") {
			break
		}
		for i := range c.tokens {
			t := &c.tokens[i]
			if t.ID != id {
				continue
			}
			if t.Status != "pending" {
				return clerkError(http.StatusBadRequest, "sign_in_token_cannot_be_revoked", "cannot be revoked",
					"Only sign-in tokens that are pending can be revoked; this one is "+t.Status+".")
			}
			t.Status, t.UpdatedAt = "revoked", time.Now()
			return jsonResponse(http.StatusOK, t.wire(false))
		}
		return clerkError(http.StatusNotFound, "resource_not_found", "not found", "No sign-in token was found with id "+id)
	}
	return clerkError(http.StatusNotFound, "resource_not_found", "not found", "The requested resource was not found.")
}

// clerkLimited counts the request in the key's sliding 10 s window.
func (c *clerk) limited(key string) (time.Duration, bool) {
	limit := 100
	if v := c.cfg.option(ProviderClerk, "rate_limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	if limit < 0 {
		return 0, false
	}
	now := time.Now()
	w := slices.DeleteFunc(c.windows[key], func(t time.Time) bool { return now.Sub(t) >= 10*time.Second })
	if len(w) >= limit {
		c.windows[key] = w
		return 10*time.Second - now.Sub(w[0]), true
	}
	c.windows[key] = append(w, now)
	return 0, false
}

func (c *clerk) create(s *Sandbox, body []byte) *response {
	var in map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		return clerkError(http.StatusBadRequest, "request_body_invalid", "Request body invalid", "The request body is not valid JSON.")
	}
	for k := range in {
		if k != "user_id" && k != "org_id" && k != "expires_in_seconds" {
			return clerkParamError("form_param_unknown", k, k+" is not a valid parameter for this request.")
		}
	}
	var userID, orgID string
	if json.Unmarshal(in["user_id"], &userID) != nil || userID == "" {
		return clerkParamError("form_param_missing", "user_id", "user_id must be included.")
	}
	if raw, ok := in["org_id"]; ok && string(raw) != "null" && json.Unmarshal(raw, &orgID) != nil {
		return clerkParamError("form_param_value_invalid", "org_id", "org_id must be a string.")
	}
	if raw, ok := in["expires_in_seconds"]; ok && string(raw) != "null" {
		var n int64
		if json.Unmarshal(raw, &n) != nil || n < 1 { // Clerk does not echo the lifetime
			return clerkParamError("form_param_value_invalid", "expires_in_seconds", "expires_in_seconds must be at least 1.")
		}
	}
	if !slices.Contains(c.users, userID) {
		return clerkError(http.StatusNotFound, "resource_not_found", "not found", "No user was found with id "+userID)
	}
	if orgID != "" && !slices.Contains(c.members[orgID], userID) {
		return clerkParamError("form_param_value_invalid", "org_id", "The user is not a member of organization "+orgID+".")
	}
	now := time.Now()
	ticket := s.mint(alnum(c.rng, 48))
	t := ClerkSignInToken{ID: "sit_" + alnum(c.rng, 27), UserID: userID, Status: "pending", Token: ticket,
		URL: s.mint("https://accounts.example.com/sign-in?__clerk_ticket=" + ticket), CreatedAt: now, UpdatedAt: now}
	c.tokens = append(c.tokens, t)
	return jsonResponse(http.StatusOK, t.wire(true))
}
