package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/testkit"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// newTestClient has fast retries: 3 after the first attempt, backoff of milliseconds.
func newTestClient(t testing.TB, key, serverURL string) *Client {
	t.Helper()
	c, err := New(upstream.Options{BaseURL: serverURL + "/clerk/v1", MaxRetries: 3, Timeout: 5 * time.Second,
		MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func int64p(v int64) *int64    { return &v }
func stringp(v string) *string { return &v }

func TestCreateSendsOnlyTheParametersGiven(t *testing.T) {
	user, org := sandbox.ClerkUsers[0], sandbox.ClerkOrgs[0] // the first user is a member of the first org
	for _, tc := range []struct {
		params CreateParams
		body   string
	}{
		{CreateParams{UserID: user}, `{"user_id":"` + user + `"}`},
		{CreateParams{UserID: user, OrgID: stringp(org), ExpiresInSeconds: int64p(600)}, `{"user_id":"` + user + `","org_id":"` + org + `","expires_in_seconds":600}`},
	} {
		sb, u := testkit.StartSandbox(t, sandbox.Config{})
		got, err := newTestClient(t, sb.ClerkSecretKey(), u).Create(context.Background(), tc.params)
		if err != nil {
			t.Fatal(err)
		}
		rec := sb.ClerkSignInTokens()[0]
		if got.ID != rec.ID || got.UserID != user || got.Status != "pending" || got.Token != rec.Token || got.URL == nil || *got.URL != rec.URL ||
			!got.CreatedAt.Equal(rec.CreatedAt.Truncate(time.Millisecond)) {
			t.Fatalf("decoded %+v, Clerk holds %+v", got, rec)
		}
		if r := sb.Requests(); len(r) != 1 || r[0].Body != tc.body || r[0].Path != "/sign_in_tokens" {
			t.Fatalf("requests %+v", r)
		}
	}
}

func TestRevoke(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb.ClerkSecretKey(), u)
	made, err := c.Create(context.Background(), CreateParams{UserID: sandbox.ClerkUsers[1]})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Revoke(context.Background(), made.ID)
	if err != nil || got.ID != made.ID || got.Status != "revoked" || got.URL != nil || got.Token != "" || sb.ClerkSignInTokens()[0].Status != "revoked" {
		t.Fatalf("revoked: %+v %v", got, err)
	}
	testkit.AssertNoSecret(t, sb, fmt.Sprintf("%#v", got))
}

// Clerk's errors reach the caller as Code and Message (long_message preferred).
func TestErrorsCarryClerksCodeAndLongMessage(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb.ClerkSecretKey(), u)
	ctx := context.Background()
	revoked, _ := c.Create(ctx, CreateParams{UserID: sandbox.ClerkUsers[0]})
	if _, err := c.Revoke(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		call                  func() error
		status                int
		code, message, reason string
	}{
		{func() error { _, err := c.Revoke(ctx, "sit_unknown"); return err }, 404, "resource_not_found", "No sign-in token was found with id sit_unknown", "unknown token"},
		{func() error { _, err := c.Create(ctx, CreateParams{UserID: "user_nobody"}); return err }, 404, "resource_not_found", "No user was found with id user_nobody", "unknown user"},
		{func() error {
			_, err := c.Create(ctx, CreateParams{UserID: sandbox.ClerkUsers[0], OrgID: stringp(sandbox.ClerkOrgs[1])})
			return err
		}, 422, "form_param_value_invalid", "The user is not a member of organization " + sandbox.ClerkOrgs[1] + ".", "another org"},
		{func() error {
			_, err := c.Create(ctx, CreateParams{UserID: sandbox.ClerkUsers[0], ExpiresInSeconds: int64p(0)})
			return err
		}, 422, "form_param_value_invalid", "expires_in_seconds must be at least 1.", "no lifetime"},
		{func() error { _, err := c.Revoke(ctx, revoked.ID); return err }, 400, "sign_in_token_cannot_be_revoked",
			"Only sign-in tokens that are pending can be revoked; this one is revoked.", "revoked twice"},
	} {
		sb.ResetRequests()
		err := tc.call()
		e := testkit.AsUpstream(t, err)
		if e.Kind != upstream.KindStatus || e.Status != tc.status || e.Code != tc.code || e.Message != tc.message || e.Attempts != 1 {
			t.Errorf("%s: %d %q %q (%d attempts)", tc.reason, e.Status, e.Code, e.Message, e.Attempts)
		}
		testkit.AssertNoSecret(t, sb, err.Error())
	}
}

func TestWrongKeyIs401AndNotRepeated(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	for _, key := range []string{"sk_" + "wrongwrongwrong", sb.ClerkPublishableKey()} {
		_, err := newTestClient(t, key, u).Create(context.Background(), CreateParams{UserID: sandbox.ClerkUsers[0]})
		e := testkit.AsUpstream(t, err)
		if e.Status != 401 || e.Attempts != 1 || e.Code != "authentication_invalid" || strings.Contains(err.Error(), key) {
			t.Fatalf("%#v", e)
		}
	}
}

func TestThrottledCreateWaitsForRetryAfter(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderClerk, Kind: "status", Status: 429, RetryAfter: "1", Times: 1})
	start := time.Now()
	got, err := newTestClient(t, sb.ClerkSecretKey(), u).Create(context.Background(), CreateParams{UserID: sandbox.ClerkUsers[0]})
	if err != nil || time.Since(start) < 900*time.Millisecond || sb.Count(sandbox.ProviderClerk, "POST", "/sign_in_tokens") != 2 ||
		len(sb.ClerkSignInTokens()) != 1 || sb.ClerkSignInTokens()[0].ID != got.ID {
		t.Fatalf("%+v %v after %s", got, err, time.Since(start))
	}
}

// What a failed create or revoke leaves behind is the error's Acted(): the table
// turns it into words.
func TestWriteOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    sandbox.Fault
		revoke   bool
		acted    upstream.Acted
		requests int
		minted   int
	}{
		{"create answered 500: not repeated", sandbox.Fault{Kind: "status", Status: 500}, false, upstream.ActedMaybe, 1, 0},
		{"create answered 502 after acting", sandbox.Fault{Kind: "acted_then_status", Status: 502}, false, upstream.ActedMaybe, 1, 1},
		{"create answer cut off", sandbox.Fault{Kind: "truncate"}, false, upstream.ActedYes, 1, 1},
		{"create refused", sandbox.Fault{Kind: "status", Status: 422}, false, upstream.ActedNo, 1, 0},
		{"revoke answered 500 twice: repeated", sandbox.Fault{Kind: "status", Status: 500, Times: 2, Path: "/sign_in_tokens/*"}, true, 0, 3, 1},
		{"revoke answer cut off: done", sandbox.Fault{Kind: "truncate", Path: "/sign_in_tokens/*"}, true, 0, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb, u := testkit.StartSandbox(t, sandbox.Config{})
			c := newTestClient(t, sb.ClerkSecretKey(), u)
			var err error
			if tc.revoke {
				made, _ := c.Create(context.Background(), CreateParams{UserID: sandbox.ClerkUsers[0]})
				sb.ResetRequests()
				tc.fault.Provider = sandbox.ProviderClerk
				sb.AddFault(tc.fault)
				var got *SignInToken
				if got, err = c.Revoke(context.Background(), made.ID); err == nil && (got.Status != "revoked" || sb.ClerkSignInTokens()[0].Status != "revoked") {
					t.Fatalf("revoke %+v", got)
				}
			} else {
				tc.fault.Provider = sandbox.ProviderClerk
				sb.AddFault(tc.fault)
				_, err = c.Create(context.Background(), CreateParams{UserID: sandbox.ClerkUsers[0]})
				if e := testkit.AsUpstream(t, err); e.Acted() != tc.acted {
					t.Fatalf("Acted() = %v, want %v: %v", e.Acted(), tc.acted, err)
				}
				err = nil
			}
			if err != nil || len(sb.Requests()) != tc.requests || len(sb.ClerkSignInTokens()) != tc.minted {
				t.Fatalf("err %v, %d requests (want %d), %d minted (want %d)", err, len(sb.Requests()), tc.requests, len(sb.ClerkSignInTokens()), tc.minted)
			}
		})
	}
}

// Unknown keys, and the optional token and url left out or null, decode.
func TestTolerantBodies(t *testing.T) {
	for _, body := range []string{
		`{"object":"sign_in_token","id":"sit_1","status":"pending","user_id":"u","created_at":1,"updated_at":2,"new":{"x":1}}`,
		`{"id":"sit_1","status":"pending","user_id":"u","token":null,"url":null,"created_at":1,"updated_at":2}`,
	} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
		got, err := newTestClient(t, "sk_x", ts.URL).Create(context.Background(), CreateParams{UserID: "u"})
		ts.Close()
		if err != nil || got.ID != "sit_1" || got.Token != "" || got.URL != nil || got.CreatedAt.UnixMilli() != 1 {
			t.Fatalf("%s: %+v %v", body, got, err)
		}
	}
}

func TestParseError(t *testing.T) {
	for _, tc := range []struct{ body, code, message string }{
		{`{"errors":[{"code":"a","message":"short","long_message":"long"}]}`, "a", "long"},
		{`{"errors":[{"code":"a","message":"short"}]}`, "a", "short"},
		{`{"errors":[{"code":"a","message":"m1","long_message":"l1"},{"code":"b","long_message":"l2"},{"message":"m3"}]}`, "a, b", "l1; l2; m3"},
		{`{"errors":[]}`, "", `{"errors":[]}`},
		{`  plain words  `, "", "plain words"},
		{"<html><body>502</body></html>", "", "an HTML error page"},
		{"", "", ""},
	} {
		if code, msg := parseError([]byte(tc.body)); code != tc.code || msg != tc.message {
			t.Errorf("parseError(%q) = %q, %q; want %q, %q", tc.body, code, msg, tc.code, tc.message)
		}
	}
}
