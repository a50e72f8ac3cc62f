package sandbox

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

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

func (s *Sandbox) serveClerk(r *http.Request, path string, body []byte) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || key != d.clerkKey {
		return clerkError(http.StatusUnauthorized, "authentication_invalid", "Unauthorized request",
			"The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.")
	}
	if wait, limited := s.clerkLimited(key); limited {
		resp := clerkError(http.StatusTooManyRequests, "too_many_requests", "Too Many Requests", "You have exceeded the rate limit.")
		resp.header.Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return resp
	}
	switch {
	case path == "/sign_in_tokens" && r.Method == http.MethodPost:
		return s.clerkCreate(body)
	case strings.HasPrefix(path, "/sign_in_tokens/") && strings.HasSuffix(path, "/revoke") && r.Method == http.MethodPost:
		id, err := url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(path, "/sign_in_tokens/"), "/revoke"))
		if err != nil || id == "" || strings.Contains(id, "/") {
			break
		}
		for i := range d.clerkTokens {
			t := &d.clerkTokens[i]
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
func (s *Sandbox) clerkLimited(key string) (time.Duration, bool) {
	if s.cfg.ClerkRateLimit < 0 {
		return 0, false
	}
	now := time.Now()
	w := slices.DeleteFunc(s.clerkW[key], func(t time.Time) bool { return now.Sub(t) >= 10*time.Second })
	if len(w) >= s.cfg.ClerkRateLimit {
		s.clerkW[key] = w
		return 10*time.Second - now.Sub(w[0]), true
	}
	s.clerkW[key] = append(w, now)
	return 0, false
}

func (s *Sandbox) clerkCreate(body []byte) *response {
	d := s.d
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
	if !slices.Contains(d.clerkUsers, userID) {
		return clerkError(http.StatusNotFound, "resource_not_found", "not found", "No user was found with id "+userID)
	}
	if orgID != "" && !slices.Contains(d.clerkMembers[orgID], userID) {
		return clerkParamError("form_param_value_invalid", "org_id", "The user is not a member of organization "+orgID+".")
	}
	now := time.Now()
	ticket := s.mint(alnum(s.rng, 48))
	t := ClerkSignInToken{ID: "sit_" + alnum(s.rng, 27), UserID: userID, Status: "pending", Token: ticket,
		URL: s.mint("https://accounts.example.com/sign-in?__clerk_ticket=" + ticket), CreatedAt: now, UpdatedAt: now}
	d.clerkTokens = append(d.clerkTokens, t)
	return jsonResponse(http.StatusOK, t.wire(true))
}
