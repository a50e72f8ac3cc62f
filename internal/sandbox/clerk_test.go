package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

type clerkErrors struct {
	Errors []struct {
		Code        string
		Message     string
		LongMessage string `json:"long_message"`
		Meta        map[string]any
	}
	ClerkTraceID string `json:"clerk_trace_id"`
}

// wantClerkError checks a ClerkErrors body and returns its first code.
func wantClerkError(t *testing.T, r result, status int) clerkErrors {
	t.Helper()
	wantStatus(t, r, status)
	var e clerkErrors
	r.json(t, &e)
	if len(e.Errors) == 0 || e.Errors[0].Code == "" || e.Errors[0].Message == "" || e.Errors[0].LongMessage == "" || e.Errors[0].Meta == nil {
		t.Fatalf("not a ClerkErrors body: %s", r.body)
	}
	if e.ClerkTraceID == "" || e.ClerkTraceID != r.header.Get("Clerk-Trace-Id") {
		t.Fatalf("clerk_trace_id %q, header %q", e.ClerkTraceID, r.header.Get("Clerk-Trace-Id"))
	}
	return e
}

func TestClerkSignInTokenLifecycle(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	auth := bearerOf(sb.ClerkSecretKey())
	user := sb.ClerkUserIDs()[0]
	r := call(t, http.MethodPost, srv.URL+"/clerk/v1/sign_in_tokens", auth, `{"user_id":"`+user+`","expires_in_seconds":600}`)
	wantStatus(t, r, http.StatusOK)
	if r.header.Get("Clerk-Trace-Id") == "" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("headers %v", r.header)
	}
	var got map[string]any
	r.json(t, &got)
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != "created_at,id,object,status,token,updated_at,url,user_id" {
		t.Fatalf("keys %v", keys)
	}
	id := got["id"].(string)
	token := got["token"].(string)
	created, _ := got["created_at"].(json.Number).Int64()
	if got["object"] != "sign_in_token" || !strings.HasPrefix(id, "sit_") || got["status"] != "pending" || got["user_id"] != user {
		t.Fatalf("body %s", r.body)
	}
	if created < time.Now().Add(-time.Minute).UnixMilli() || got["created_at"] != got["updated_at"] {
		t.Fatalf("created_at %v is not ms now", got["created_at"])
	}
	u, err := url.Parse(got["url"].(string))
	if err != nil || u.Scheme != "https" || !strings.HasPrefix(u.Host, "accounts.") || u.Query().Get("__clerk_ticket") != token {
		t.Fatalf("url %v", got["url"])
	}
	minted := sb.ClerkSignInTokens()
	if len(minted) != 1 || minted[0].ID != id || minted[0].Status != "pending" || minted[0].ExpiresInSeconds != 600 {
		t.Fatalf("ClerkSignInTokens %+v", minted)
	}

	r = call(t, http.MethodPost, srv.URL+"/clerk/v1/sign_in_tokens/"+id+"/revoke", auth, "")
	wantStatus(t, r, http.StatusOK)
	var revoked map[string]any
	r.json(t, &revoked)
	if revoked["status"] != "revoked" || revoked["url"] != nil || revoked["id"] != id {
		t.Fatalf("revoke body %s", r.body)
	}
	if _, ok := revoked["token"]; ok {
		t.Fatal("revoke echoes the token")
	}
	if _, ok := revoked["url"]; !ok {
		t.Fatal("revoke drops url instead of null")
	}
	updated, _ := revoked["updated_at"].(json.Number).Int64()
	if updated <= created {
		t.Fatalf("updated_at %d not after created_at %d", updated, created)
	}
	if sb.ClerkSignInTokens()[0].Status != "revoked" {
		t.Fatal("status not kept")
	}
	e := wantClerkError(t, call(t, http.MethodPost, srv.URL+"/clerk/v1/sign_in_tokens/"+id+"/revoke", auth, ""), http.StatusBadRequest)
	if !strings.Contains(e.Errors[0].LongMessage, id) {
		t.Errorf("long_message %q", e.Errors[0].LongMessage)
	}

	// Accepted tokens cannot be revoked either.
	r = call(t, http.MethodPost, srv.URL+"/clerk/v1/sign_in_tokens", auth, `{"user_id":"`+user+`"}`)
	r.json(t, &got)
	if !sb.AcceptClerkSignInToken(got["id"].(string)) {
		t.Fatal("accept failed")
	}
	wantClerkError(t, call(t, http.MethodPost, srv.URL+"/clerk/v1/sign_in_tokens/"+got["id"].(string)+"/revoke", auth, ""), http.StatusBadRequest)

	for _, id := range []string{"sit_nope", "a%2Fb", "%3F"} {
		e := wantClerkError(t, call(t, http.MethodPost, srv.URL+"/clerk/v1/sign_in_tokens/"+id+"/revoke", auth, ""), http.StatusNotFound)
		want, _ := url.PathUnescape(id)
		if e.Errors[0].Code != "resource_not_found" || !strings.Contains(e.Errors[0].LongMessage, want) {
			t.Errorf("%s: %+v", id, e)
		}
	}
}

func TestClerkCreateErrors(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	auth := bearerOf(sb.ClerkSecretKey())
	users, orgs := sb.ClerkUserIDs(), sb.ClerkOrgIDs()
	create := srv.URL + "/clerk/v1/sign_in_tokens"
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`{}`, 422, "form_param_missing"},
		{``, 422, "form_param_missing"},
		{`{"user_id":"` + users[0] + `","expires_in_seconds":0}`, 422, "form_param_value_invalid"},
		{`{"user_id":"` + users[0] + `","expires_in_seconds":"x"}`, 422, "form_param_format_invalid"},
		{`{"user_id":"` + users[0] + `","color":"red"}`, 422, "form_param_unknown"},
		{`{"user_id":"user_nope"}`, 404, "resource_not_found"},
		{`{"user_id":"` + users[0] + `","org_id":"org_nope"}`, 422, "form_param_value_invalid"},
		{`{"user_id":"` + users[0] + `","org_id":"` + orgs[1] + `"}`, 422, "form_param_value_invalid"},
		{`{"user_id":"` + users[1] + `","org_id":"` + orgs[0] + `"}`, 422, "form_param_value_invalid"},
		{`{"user_id":`, 400, "request_body_invalid"},
	} {
		e := wantClerkError(t, call(t, http.MethodPost, create, auth, tc.body), tc.status)
		if e.Errors[0].Code != tc.code {
			t.Errorf("%s: code %s, want %s", tc.body, e.Errors[0].Code, tc.code)
		}
	}
	for _, body := range []string{
		`{"user_id":"` + users[0] + `","org_id":"` + orgs[0] + `"}`,
		`{"user_id":"` + users[0] + `","org_id":null,"expires_in_seconds":null}`,
	} {
		r := call(t, http.MethodPost, create, auth, body)
		wantStatus(t, r, http.StatusOK)
		if strings.Contains(string(r.body), "org_") {
			t.Errorf("org_id echoed: %s", r.body)
		}
	}

	for name, tc := range map[string]struct {
		auth   string
		status int
		code   string
	}{
		"missing":     {"", 401, "authentication_invalid"},
		"unknown":     {"Bearer sk_test_nope", 401, "authentication_invalid"},
		"publishable": {bearerOf(sb.ClerkPublishableKey()), 403, "authorization_invalid"},
		"any pk":      {"Bearer pk_live_abc", 403, "authorization_invalid"},
	} {
		e := wantClerkError(t, call(t, http.MethodPost, create, tc.auth, `{"user_id":"`+users[0]+`"}`), tc.status)
		if e.Errors[0].Code != tc.code || e.Errors[0].Message != "Unauthorized request" {
			t.Errorf("%s: %+v", name, e.Errors[0])
		}
	}
	wantClerkError(t, call(t, http.MethodGet, create, auth, ""), http.StatusNotFound)
	wantClerkError(t, call(t, http.MethodGet, srv.URL+"/clerk/sign_in_tokens", auth, ""), http.StatusNotFound)
}

func TestClerkRateLimit(t *testing.T) {
	sb, srv := start(t, sandbox.Config{ClerkRateLimit: 5})
	auth := bearerOf(sb.ClerkSecretKey())
	body := `{"user_id":"` + sb.ClerkUserIDs()[0] + `"}`
	for i := range 5 {
		wantStatus(t, call(t, http.MethodPost, srv.URL+"/clerk/v1/sign_in_tokens", auth, body), http.StatusOK)
		_ = i
	}
	r := call(t, http.MethodPost, srv.URL+"/clerk/v1/sign_in_tokens", auth, body)
	e := wantClerkError(t, r, http.StatusTooManyRequests)
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if e.Errors[0].Code != "too_many_requests" || err != nil || ra < 1 || ra > 10 {
		t.Fatalf("429 %s Retry-After %q", r.body, r.header.Get("Retry-After"))
	}
	if len(sb.ClerkSignInTokens()) != 5 {
		t.Fatal("a refused request minted a token")
	}

	sb2, srv2 := start(t, sandbox.Config{ClerkRateLimit: -1})
	for range 150 {
		wantStatus(t, call(t, http.MethodPost, srv2.URL+"/clerk/v1/sign_in_tokens", bearerOf(sb2.ClerkSecretKey()), `{"user_id":"`+sb2.ClerkUserIDs()[0]+`"}`), http.StatusOK)
	}
}

func TestClerkOrgs(t *testing.T) {
	sb := sandbox.New(sandbox.Config{ClerkUsers: -1})
	if len(sb.ClerkUserIDs()) != 0 || len(sb.ClerkOrgIDs()) != 2 {
		t.Fatal("ClerkUsers -1 must mean no users, still two orgs")
	}
	sb = sandbox.New(sandbox.Config{})
	if len(sb.ClerkUserIDs()) != 5 || !strings.HasPrefix(sb.ClerkUserIDs()[0], "user_") || !strings.HasPrefix(sb.ClerkOrgIDs()[0], "org_") {
		t.Fatal("ids")
	}
	if !strings.HasPrefix(sb.ClerkSecretKey(), "sk_test_") {
		t.Fatal("secret key")
	}
}
