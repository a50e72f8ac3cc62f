package clerk

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/testkit"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// The client against the sandbox's Clerk Backend API, over real HTTP.

// newTestClient has fast retries: 3 after the first attempt, backoff of milliseconds.
func newTestClient(t testing.TB, sb *sandbox.Sandbox, serverURL string) *Client {
	t.Helper()
	c, err := New(upstream.Options{BaseURL: serverURL + "/clerk/v1", MaxRetries: 3, Timeout: 5 * time.Second,
		MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}, sb.ClerkSecretKey())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func int64p(v int64) *int64    { return &v }
func stringp(v string) *string { return &v }

func TestCreateSendsOnlyTheParametersGiven(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb, u)
	user, org := sb.ClerkUserIDs()[0], sb.ClerkOrgIDs()[0] // the first user is a member of the first org
	cases := []struct {
		name        string
		params      CreateParams
		wantOrg     string
		wantExpires int64
	}{
		{"bare", CreateParams{UserID: user}, "", 2592000},
		{"org", CreateParams{UserID: user, OrgID: stringp(org)}, org, 2592000},
		{"expiry", CreateParams{UserID: user, ExpiresInSeconds: int64p(600)}, "", 600},
		{"both", CreateParams{UserID: user, OrgID: stringp(org), ExpiresInSeconds: int64p(1)}, org, 1},
		{"another user", CreateParams{UserID: sb.ClerkUserIDs()[2]}, "", 2592000},
	}
	for i, tc := range cases {
		sb.ResetRequests()
		got, err := c.Create(context.Background(), tc.params)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		minted := sb.ClerkSignInTokens()
		if len(minted) != i+1 {
			t.Fatalf("%s: %d tokens minted in all, want %d", tc.name, len(minted), i+1)
		}
		rec := minted[i]
		if rec.UserID != tc.params.UserID || rec.OrgID != tc.wantOrg || rec.ExpiresInSeconds != tc.wantExpires || rec.Status != "pending" {
			t.Fatalf("%s: the sandbox recorded %+v", tc.name, rec)
		}
		if got.ID != rec.ID || got.UserID != rec.UserID || got.Status != "pending" || got.Token == "" || got.URL == nil ||
			!strings.Contains(*got.URL, got.Token) || got.CreatedAt.Ptr() == nil || got.CreatedAt.UnixMilli() != rec.CreatedAt ||
			got.UpdatedAt.UnixMilli() != rec.UpdatedAt {
			t.Fatalf("%s: decoded %+v, recorded %+v", tc.name, got, rec)
		}
		if n := sb.Count(sandbox.UpstreamClerk, "POST", "/sign_in_tokens"); n != 1 {
			t.Fatalf("%s: %d requests", tc.name, n)
		}
	}
}

func TestRevoke(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb, u)
	made, err := c.Create(context.Background(), CreateParams{UserID: sb.ClerkUserIDs()[1]})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Revoke(context.Background(), made.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != made.ID || got.Status != "revoked" || got.URL != nil || got.Token != "" || got.UserID != made.UserID ||
		!got.UpdatedAt.After(made.UpdatedAt.Time) {
		t.Fatalf("revoked: %+v (created %+v)", got, made)
	}
	if rec := sb.ClerkSignInTokens()[0]; rec.Status != "revoked" {
		t.Fatalf("the sandbox holds %+v", rec)
	}
	testkit.AssertNoSecret(t, sb, fmt.Sprintf("%#v", got))
}

// Clerk's errors reach the caller as Code and Message (long_message preferred).
func TestErrorsCarryClerksCodeAndLongMessage(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb, u)
	ctx := context.Background()
	users, orgs := sb.ClerkUserIDs(), sb.ClerkOrgIDs()
	revoked, err := c.Create(ctx, CreateParams{UserID: users[0]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Revoke(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		call    func() error
		status  int
		code    string
		message string
	}{
		{"revoke unknown", func() error { _, err := c.Revoke(ctx, "sit_unknown"); return err },
			404, "resource_not_found", "No sign-in token was found with id sit_unknown."},
		{"create for unknown user", func() error { _, err := c.Create(ctx, CreateParams{UserID: "user_nobody"}); return err },
			404, "resource_not_found", "No user was found with id user_nobody."},
		{"create in a foreign org", func() error {
			_, err := c.Create(ctx, CreateParams{UserID: users[1], OrgID: stringp(orgs[0])})
			return err
		}, 422, "form_param_value_invalid", "The user is not a member of organization " + orgs[0] + "."},
		{"create with no lifetime", func() error {
			_, err := c.Create(ctx, CreateParams{UserID: users[1], ExpiresInSeconds: int64p(0)})
			return err
		}, 422, "form_param_value_invalid", "expires_in_seconds must be at least 1."},
		{"create without user", func() error { _, err := c.Create(ctx, CreateParams{}); return err },
			422, "form_param_missing", "user_id must be included."},
		{"revoke twice", func() error { _, err := c.Revoke(ctx, revoked.ID); return err },
			400, "sign_in_token_cannot_be_revoked", "Sign-in token " + revoked.ID + " cannot be revoked because its status is revoked; only pending tokens can be revoked."},
	}
	for _, tc := range cases {
		sb.ResetRequests()
		err := tc.call()
		e := testkit.AsUpstream(t, err)
		if e.Kind != upstream.KindStatus || e.Status != tc.status || e.Code != tc.code || e.Message != tc.message || e.Attempts != 1 {
			t.Errorf("%s: got %d %q %q (kind %v, %d attempts), want %d %q %q", tc.name, e.Status, e.Code, e.Message, e.Kind, e.Attempts, tc.status, tc.code, tc.message)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.code) || !strings.Contains(msg, tc.message) {
			t.Errorf("%s: the message %q lacks Clerk's code or text", tc.name, msg)
		}
		if n := sb.Count(sandbox.UpstreamClerk, "", ""); n != 1 {
			t.Errorf("%s: %d requests, want 1", tc.name, n)
		}
		testkit.AssertNoSecret(t, sb, err.Error())
	}
}

func TestBadKeys(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	for key, want := range map[string]int{"sk_" + "test_wrongwrongwrong": 401, sb.ClerkPublishableKey(): 403} {
		c, err := New(upstream.Options{BaseURL: u + "/clerk/v1", MaxRetries: 3}, key)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Create(context.Background(), CreateParams{UserID: sb.ClerkUserIDs()[0]})
		e := testkit.AsUpstream(t, err)
		if e.Status != want || e.Attempts != 1 || e.Code == "" || e.Message == "" || strings.Contains(err.Error(), key) {
			t.Fatalf("key %.8s…: %#v", key, e)
		}
	}
}

func TestThrottledCreateIsRetriedAfterRetryAfter(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamClerk, Kind: "status", Status: 429, RetryAfter: "1", Times: 1})
	start := time.Now()
	got, err := newTestClient(t, sb, u).Create(context.Background(), CreateParams{UserID: sb.ClerkUserIDs()[0]})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Fatalf("retried after %s; Retry-After asked for 1s", waited)
	}
	if n := sb.Count(sandbox.UpstreamClerk, "POST", "/sign_in_tokens"); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
	if minted := sb.ClerkSignInTokens(); len(minted) != 1 || minted[0].ID != got.ID {
		t.Fatalf("minted %+v", minted)
	}
}

func TestThrottledForeverIsKindThrottled(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamClerk, Kind: "status", Status: 429, RetryAfter: "0"})
	_, err := newTestClient(t, sb, u).Create(context.Background(), CreateParams{UserID: sb.ClerkUserIDs()[0]})
	e := testkit.AsUpstream(t, err)
	if e.Kind != upstream.KindThrottled || e.Attempts != 4 || e.Code != "too_many_requests" {
		t.Fatalf("%#v", e)
	}
}

// A 500 leaves it unknown whether Clerk minted a token: a create is not repeated.
func TestServerErrorOnCreateIsNotRetried(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamClerk, Method: "POST", Path: "/sign_in_tokens", Kind: "status", Status: 500, Times: 1})
	_, err := newTestClient(t, sb, u).Create(context.Background(), CreateParams{UserID: sb.ClerkUserIDs()[0]})
	e := testkit.AsUpstream(t, err)
	if e.Kind != upstream.KindStatus || e.Status != 500 || e.Attempts != 1 || e.Code != "internal_clerk_error" {
		t.Fatalf("%#v", e)
	}
	if n := sb.Count(sandbox.UpstreamClerk, "", ""); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// A revoke can be repeated safely.
func TestServerErrorOnRevokeIsRetried(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb, u)
	made, err := c.Create(context.Background(), CreateParams{UserID: sb.ClerkUserIDs()[0]})
	if err != nil {
		t.Fatal(err)
	}
	sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamClerk, Path: "/sign_in_tokens/*", Kind: "status", Status: 500, Times: 2})
	got, err := c.Revoke(context.Background(), made.ID)
	if err != nil || got.Status != "revoked" {
		t.Fatalf("%+v %v", got, err)
	}
	if n := sb.Count(sandbox.UpstreamClerk, "POST", "/sign_in_tokens/"+made.ID+"/revoke"); n != 3 {
		t.Fatalf("%d revoke requests, want 3", n)
	}
}

func TestUnusableBodies(t *testing.T) {
	for _, tc := range []struct {
		kind     string
		want     upstream.Kind
		status   int
		attempts int
	}{
		{"wrong_shape", upstream.KindDecode, 200, 1},
		{"empty", upstream.KindDecode, 200, 1},
		{"html", upstream.KindStatus, 502, 1}, // a 502 on a create is not repeated either
	} {
		t.Run(tc.kind, func(t *testing.T) {
			sb, u := testkit.StartSandbox(t, sandbox.Config{})
			sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamClerk, Kind: tc.kind, Times: 100})
			_, err := newTestClient(t, sb, u).Create(context.Background(), CreateParams{UserID: sb.ClerkUserIDs()[0]})
			e := testkit.AsUpstream(t, err)
			if e.Kind != tc.want || e.Status != tc.status || e.Attempts != tc.attempts {
				t.Fatalf("kind %v status %d attempts %d, want %v %d %d: %v", e.Kind, e.Status, e.Attempts, tc.want, tc.status, tc.attempts, err)
			}
			if strings.Contains(err.Error(), "<html") {
				t.Fatalf("the error quotes the page: %v", err)
			}
		})
	}
	// A create whose answer is cut off is not repeated; a revoke's is (it is idempotent).
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb, u)
	sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamClerk, Kind: "truncate", Times: 1})
	_, err := c.Create(context.Background(), CreateParams{UserID: sb.ClerkUserIDs()[0]})
	e := testkit.AsUpstream(t, err)
	if e.Kind != upstream.KindNetwork || e.Attempts != 1 || len(sb.ClerkSignInTokens()) != 1 {
		t.Fatalf("cut-off create: %#v, %d minted", e, len(sb.ClerkSignInTokens()))
	}
	testkit.AssertNoSecret(t, sb, err.Error())
}

// Unknown keys, and the optional token and url left out or null, decode; they are
// then empty and nil.
func TestTolerantBodies(t *testing.T) {
	for _, kind := range []string{"extra_fields", "missing_optional", "null_optional"} {
		t.Run(kind, func(t *testing.T) {
			sb, u := testkit.StartSandbox(t, sandbox.Config{})
			sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamClerk, Kind: kind})
			c := newTestClient(t, sb, u)
			got, err := c.Create(context.Background(), CreateParams{UserID: sb.ClerkUserIDs()[0]})
			if err != nil {
				t.Fatal(err)
			}
			rec := sb.ClerkSignInTokens()[0]
			if got.ID != rec.ID || got.Status != "pending" || got.UserID != rec.UserID || got.CreatedAt.UnixMilli() != rec.CreatedAt {
				t.Fatalf("%+v, recorded %+v", got, rec)
			}
			if kind == "extra_fields" {
				if got.Token == "" || got.URL == nil {
					t.Fatalf("lost the token: %+v", got)
				}
			} else if got.Token != "" || got.URL != nil {
				t.Fatalf("token %q url %v; want empty and nil", got.Token, got.URL)
			}
			rev, err := c.Revoke(context.Background(), got.ID)
			if err != nil || rev.Status != "revoked" || rev.URL != nil {
				t.Fatalf("revoke: %+v %v", rev, err)
			}
			// Errors decode as well.
			_, err = c.Revoke(context.Background(), "sit_unknown")
			if e := testkit.AsUpstream(t, err); e.Code != "resource_not_found" || !strings.Contains(e.Message, "sit_unknown") {
				t.Fatalf("%#v", e)
			}
		})
	}
}

func TestParseError(t *testing.T) {
	cases := []struct{ body, code, message string }{
		{`{"errors":[{"code":"a","message":"short","long_message":"long"}]}`, "a", "long"},
		{`{"errors":[{"code":"a","message":"short"}]}`, "a", "short"},
		{`{"errors":[{"code":"a","message":"m1","long_message":"l1"},{"code":"b","long_message":"l2"},{"message":"m3"}]}`, "a, b", "l1; l2; m3"},
		{`{"errors":[]}`, "", `{"errors":[]}`},
		{`  plain words  `, "", "plain words"},
		{"<html><body>502</body></html>", "", "an HTML error page"},
		{"", "", ""},
	}
	for _, tc := range cases {
		code, msg := parseError([]byte(tc.body))
		if code != tc.code || msg != tc.message {
			t.Errorf("parseError(%q) = %q, %q; want %q, %q", tc.body, code, msg, tc.code, tc.message)
		}
	}
}
