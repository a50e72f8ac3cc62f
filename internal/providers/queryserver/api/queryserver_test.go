package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/testkit"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// The client against the sandbox's Query Server, over real HTTP.

// newTestClient has fast retries: 3 after the first attempt, backoff of milliseconds.
func newTestClient(t testing.TB, serverURL, token string) *Client {
	t.Helper()
	c, err := New(upstream.Options{BaseURL: serverURL + "/query", MaxRetries: 3, Timeout: 5 * time.Second,
		MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tokenOf is the token value of a user, by email.
func tokenOf(sb *sandbox.Sandbox, email string) string {
	for _, u := range sb.QueryServerUsers() {
		for _, t := range sb.QueryServerUserTokens() {
			if u.Email == email && t.UserUUID == u.UUID {
				return t.Token
			}
		}
	}
	return ""
}

func TestUserTokensMatchTheServerWithoutSecrets(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{Generate: map[string]int{"query_server": 9}})
	got, err := newTestClient(t, u, sb.QueryServerAdminToken()).UserTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := sb.QueryServerUserTokens()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || g.UserUUID != w.UserUUID || g.ExpirationDate != w.ExpirationDate || g.Active != w.Active ||
			g.Write != w.Write || g.CreatedAt != w.CreatedAt || g.UpdatedAt != w.UpdatedAt || g.IsCurrent != (i == 0) {
			t.Fatalf("row %d = %+v, want %+v (the first is the admin's: current)", i, g, w)
		}
	}
	testkit.AssertNoSecret(t, sb, got)
}

func TestUsersCarryNoPassword(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	got, err := newTestClient(t, u, sb.QueryServerAdminToken()).Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := sb.QueryServerUsers()
	if len(got) != len(want) {
		t.Fatalf("%d users, want %d", len(got), len(want))
	}
	for i, w := range want {
		if g := got[i]; g.UUID != w.UUID || g.Email != w.Email || g.Admin != w.Admin || g.Active != w.Active {
			t.Fatalf("user %d = %+v, want %+v", i, g, w)
		}
	}
	testkit.AssertNoSecret(t, sb, got)
	for i := range reflect.TypeFor[User]().NumField() {
		if name := strings.ToLower(reflect.TypeFor[User]().Field(i).Name); strings.Contains(name, "pass") || strings.Contains(name, "hash") {
			t.Fatalf("User has a field %s", name)
		}
	}
	if owners := Owners(got); len(owners) != len(want) || owners[want[5].UUID].Active != false {
		t.Fatalf("Owners = %v", owners)
	}
}

// decodeUserTokens and decodeUsers clear the body: it holds every token and hash.
func TestDecodingWipesTheBody(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	admin := sb.QueryServerAdminToken()
	for _, tc := range []struct {
		path   string
		decode func(*upstream.Response) (any, error)
	}{
		{UserTokenPath, func(r *upstream.Response) (any, error) { return decodeUserTokens(r, []byte(admin)) }},
		{"/_/user", func(r *upstream.Response) (any, error) { return decodeUsers(r) }},
	} {
		for _, body := range [][]byte{
			testkit.FetchRaw(t, http.MethodGet, u+"/query"+tc.path, "Bearer "+admin, ""),
			[]byte(`{"data":"` + admin + `"}`),                   // the wrong shape
			[]byte(`{"data":[{"id":"x","token":"` + admin + `"`), // cut off
		} {
			resp := &upstream.Response{Status: 200, Body: body}
			if !strings.Contains(string(body), admin) && !strings.Contains(string(body), "$argon2") {
				t.Fatalf("%s: the body holds no token or hash to wipe", tc.path)
			}
			v, err := tc.decode(resp)
			for i, b := range body {
				if b != 0 {
					t.Fatalf("%s: byte %d of %d left after decoding (err %v)", tc.path, i, len(body), err)
				}
			}
			if err == nil {
				if reflect.ValueOf(v).Len() == 0 {
					t.Fatalf("%s: no rows", tc.path)
				}
				testkit.AssertNoSecret(t, sb, v)
			} else if e := testkit.AsUpstream(t, err); e.Kind != upstream.KindDecode || strings.Contains(err.Error(), admin) {
				t.Fatalf("%s: %v", tc.path, err)
			}
		}
	}
}

func TestNonAdminTokenIs401(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	dev := tokenOf(sb, "dev@example.com")
	_, err := newTestClient(t, u, dev).UserTokens(context.Background())
	if e := testkit.AsUpstream(t, err); e.Kind != upstream.KindStatus || e.Status != 401 || e.Attempts != 1 || sb.Count("", "", "") != 1 {
		t.Fatalf("%#v after %d requests", e, sb.Count("", "", ""))
	}
	testkit.AssertNoSecret(t, sb, err.Error())
}

func TestNoUserTokenRoutesSaysWhy(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderQueryServer, Kind: "status", Status: 404})
	_, err := newTestClient(t, u, sb.QueryServerAdminToken()).UserTokens(context.Background())
	if !upstream.IsNotFound(err) || !strings.Contains(err.Error(), "create_user or create_token option may be switched off") {
		t.Fatalf("%v", err)
	}
}

// Timestamps may be null or absent (the schema allows it), keys come in any order
// and may be added: rows decode, with 0 for what is missing.
func TestTolerantBodies(t *testing.T) {
	body := `{"data":[{"write":"1","updated_at":null,"id":"7","user_uuid":"u","active":true,"expiration_date":1.7e9,"token":"x","new":[1]}]}`
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
	t.Cleanup(ts.Close)
	got, err := newTestClient(t, ts.URL, "y").UserTokens(context.Background())
	if err != nil || len(got) != 1 || got[0] != (UserToken{ID: 7, UserUUID: "u", ExpirationDate: 1700000000, Active: true, Write: true}) {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestWrites(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, u, sb.QueryServerAdminToken())
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Unix()
	no := false
	if err := c.CreateUserToken(ctx, TokenWrite{Email: "newhire@example.com", ExpirationDate: &exp, Write: &no}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateUserToken(ctx, TokenWrite{Email: "newhire@example.com", ExpirationDate: &exp}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUserToken(ctx, "newhire@example.com"); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, r := range sb.Requests() {
		bodies = append(bodies, r.Method+" "+r.Body)
	}
	want := []string{
		fmt.Sprintf(`POST {"email":"newhire@example.com","expiration_date":%d,"write":false}`, exp),
		fmt.Sprintf(`PUT {"email":"newhire@example.com","expiration_date":%d}`, exp), // write left out: the server makes it true
		`DELETE {"email":"newhire@example.com"}`,
	}
	if !slices.Equal(bodies, want) {
		t.Fatalf("sent\n%v\nwant\n%v", bodies, want)
	}
	// The server's own answers to mistakes, as plain text.
	err := c.CreateUserToken(ctx, TokenWrite{Email: "nobody@example.com"})
	if !upstream.IsStatus(err, 400) || !strings.Contains(err.Error(), "There user do not exists") {
		t.Fatalf("unknown user: %v", err)
	}
	past := time.Now().Add(-time.Hour).Unix()
	err = c.UpdateUserToken(ctx, TokenWrite{Email: "dev@example.com", ExpirationDate: &past})
	if !upstream.IsStatus(err, 400) || !strings.Contains(err.Error(), "The expiration_date must be greater than current time") {
		t.Fatalf("past expiry: %v", err)
	}
}

// Writes are safe to repeat (a create for a user who has a token, an update, a delete
// of what is gone all change nothing more), so a 5xx is retried, and a 2xx whose
// answer was cut off is done.
func TestWritesAreRepeatedAfterTransientFailures(t *testing.T) {
	for _, f := range []sandbox.Fault{
		{Kind: "status", Status: 500, Times: 1},
		{Kind: "acted_then_status", Status: 502, Times: 1},
		{Kind: "truncate", Times: 1},
	} {
		sb, u := testkit.StartSandbox(t, sandbox.Config{})
		f.Provider, f.Method = sandbox.ProviderQueryServer, "DELETE"
		sb.AddFault(f)
		if err := newTestClient(t, u, sb.QueryServerAdminToken()).DeleteUserToken(context.Background(), "dev@example.com"); err != nil {
			t.Fatalf("%s: %v", f.Kind, err)
		}
		if tokenOf(sb, "dev@example.com") != "" {
			t.Fatalf("%s: the token is still there", f.Kind)
		}
	}
}

func TestExpiryAndUsability(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	s := now.Unix()
	cases := []struct {
		name      string
		tok       UserToken
		expiresAt *time.Time
		usable    bool
	}{
		{"never", UserToken{ExpirationDate: 1749475200, UpdatedAt: 1749475200, Active: true}, nil, true},
		{"never but inactive", UserToken{ExpirationDate: 5, UpdatedAt: 5}, nil, false},
		{"future seconds", UserToken{ExpirationDate: s + 60, UpdatedAt: 1, Active: true}, ptr(time.Unix(s+60, 0).UTC()), true},
		{"past seconds", UserToken{ExpirationDate: s - 60, UpdatedAt: 1, Active: true}, ptr(time.Unix(s-60, 0).UTC()), false},
		{"now exactly", UserToken{ExpirationDate: s, UpdatedAt: 1, Active: true}, ptr(now), false},
		// A past date in milliseconds is still "> now (s)": the server accepts the token.
		{"past milliseconds", UserToken{ExpirationDate: (s - 60) * 1000, UpdatedAt: 1, Active: true}, ptr(time.UnixMilli((s - 60) * 1000).UTC()), true},
		{"zero", UserToken{ExpirationDate: 0, UpdatedAt: 1, Active: true}, nil, false},
		{"negative", UserToken{ExpirationDate: -1, UpdatedAt: 1, Active: true}, nil, false},
	}
	for _, tc := range cases {
		got := tc.tok.ExpiresAt()
		if (got == nil) != (tc.expiresAt == nil) || (got != nil && !got.Equal(*tc.expiresAt)) {
			t.Errorf("%s: ExpiresAt = %v, want %v", tc.name, got, tc.expiresAt)
		}
		if u := tc.tok.Usable(now); u != tc.usable {
			t.Errorf("%s: Usable = %v, want %v", tc.name, u, tc.usable)
		}
	}
}

func ptr[T any](v T) *T { return &v }
