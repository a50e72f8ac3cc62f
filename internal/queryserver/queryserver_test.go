package queryserver

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
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

func TestUserTokensMatchTheServerWithoutSecrets(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{QueryServerUsers: 9})
	c := newTestClient(t, u, sb.QueryServerAdminToken())
	got, err := c.UserTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := sb.QueryServerUserTokens()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	current := 0
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || g.UserUUID != w.UserUUID || g.ExpirationDate != w.ExpirationDate || g.Active != (w.Active == 1) ||
			g.Write != (w.Write == 1) || g.CreatedAt != w.CreatedAt || g.UpdatedAt != w.UpdatedAt {
			t.Fatalf("row %d = %+v, want %+v", i, g, w)
		}
		if g.IsCurrent {
			current++
		}
	}
	// The admin token is the first row (the admin's, created at install).
	if current != 1 || !got[0].IsCurrent || got[0].UserUUID != sb.QueryServerUsers()[0].UUID {
		t.Fatalf("%d rows marked current (first: %v); want exactly the admin's", current, got[0].IsCurrent)
	}
	testkit.AssertNoSecret(t, sb, got)
	if n := sb.Count(sandbox.UpstreamQueryServer, "GET", ""); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestUsersCarryNoPassword(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, u, sb.QueryServerAdminToken())
	got, err := c.Users(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := sb.QueryServerUsers()
	if len(got) != len(want) {
		t.Fatalf("%d users, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.UUID != w.UUID || g.Email != w.Email || g.Admin != (w.Admin == 1) || g.Active != (w.Active == 1) {
			t.Fatalf("user %d = %+v, want %+v", i, g, w)
		}
	}
	testkit.AssertNoSecret(t, sb, got)
	for i := range reflect.TypeFor[User]().NumField() {
		if name := strings.ToLower(reflect.TypeFor[User]().Field(i).Name); strings.Contains(name, "pass") || strings.Contains(name, "hash") {
			t.Fatalf("User has a field %s", name)
		}
	}
	emails := Emails(got)
	if len(emails) != len(want) || emails[want[0].UUID] != want[0].Email {
		t.Fatalf("Emails = %v", emails)
	}
}

// decodeUserTokens and decodeUsers wipe the body: it holds every token and hash.
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
			if !strings.Contains(string(body), "eyJ") && !strings.Contains(string(body), "$argon2") {
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

func TestLegacyTokenPathFallbackIsRemembered(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{QueryServerTokenPath: LegacyUserTokenPath})
	c := newTestClient(t, u, sb.QueryServerAdminToken())
	for round := 1; round <= 3; round++ {
		sb.ResetRequests()
		got, err := c.UserTokens(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(sb.QueryServerUserTokens()) || !got[0].IsCurrent {
			t.Fatalf("round %d: %d rows", round, len(got))
		}
		var paths []string
		for _, r := range sb.Requests() {
			paths = append(paths, fmt.Sprintf("%s %d", r.Path, r.Status))
		}
		want := []string{LegacyUserTokenPath + " 200"}
		if round == 1 {
			want = []string{UserTokenPath + " 404", LegacyUserTokenPath + " 200"}
		}
		if !reflect.DeepEqual(paths, want) {
			t.Fatalf("round %d requested %v, want %v", round, paths, want)
		}
	}
	if p := c.tokenPath.Load().(string); p != LegacyUserTokenPath {
		t.Fatalf("remembered %s", p)
	}

	// The real path is asked first and needs no fallback.
	sb2, u2 := testkit.StartSandbox(t, sandbox.Config{})
	c2 := newTestClient(t, u2, sb2.QueryServerAdminToken())
	if _, err := c2.UserTokens(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := sb2.Count("", "", ""); n != 1 || c2.tokenPath.Load().(string) != UserTokenPath {
		t.Fatalf("%d requests", n)
	}
}

func TestNeitherTokenPathSaysWhy(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	sb.SetQueryServerOption("create_user", "0") // every user-token route answers 404
	_, err := newTestClient(t, u, sb.QueryServerAdminToken()).UserTokens(context.Background())
	e := testkit.AsUpstream(t, err)
	if e.Kind != upstream.KindStatus || e.Status != 404 || !strings.Contains(e.Message, "create_user") ||
		!strings.Contains(e.Path, UserTokenPath) || !strings.Contains(e.Path, LegacyUserTokenPath) {
		t.Fatalf("%#v", e)
	}
	if n := sb.Count("", "", ""); n != 2 {
		t.Fatalf("%d requests, want one per path", n)
	}
}

func TestNonAdminTokenIs401(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, u, sb.QueryServerUserToken())
	_, err := c.UserTokens(context.Background())
	e := testkit.AsUpstream(t, err)
	if e.Kind != upstream.KindStatus || e.Status != 401 || e.Attempts != 1 {
		t.Fatalf("%#v", e)
	}
	if n := sb.Count("", "", ""); n != 1 {
		t.Fatalf("%d requests: a 401 is neither retried nor a reason to try the other path", n)
	}
	if _, err := c.Users(context.Background()); !upstream.IsStatus(err, 401) {
		t.Fatalf("Users: %v", err)
	}
	if strings.Contains(err.Error(), sb.QueryServerUserToken()) {
		t.Fatal("the error holds the token")
	}
}

// Bodies no client may accept. html is a proxy's 502 page (a status error after the
// retries); truncate hangs up half-way through a 200 (a network error, after the retries).
func TestUnusableBodies(t *testing.T) {
	for _, tc := range []struct {
		kind     string
		want     upstream.Kind
		status   int
		attempts int
	}{
		{"wrong_shape", upstream.KindDecode, 200, 1},
		{"empty", upstream.KindDecode, 200, 1},
		{"html", upstream.KindStatus, 502, 4},
		{"truncate", upstream.KindNetwork, 200, 4},
	} {
		for _, path := range []string{UserTokenPath, "/_/user"} {
			t.Run(tc.kind+path, func(t *testing.T) {
				sb, u := testkit.StartSandbox(t, sandbox.Config{})
				sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamQueryServer, Path: path, Kind: tc.kind, Times: 100})
				c := newTestClient(t, u, sb.QueryServerAdminToken())
				var err error
				if path == UserTokenPath {
					_, err = c.UserTokens(context.Background())
				} else {
					_, err = c.Users(context.Background())
				}
				e := testkit.AsUpstream(t, err)
				if e.Kind != tc.want || e.Status != tc.status || e.Attempts != tc.attempts {
					t.Fatalf("kind %v status %d attempts %d, want %v %d %d: %v", e.Kind, e.Status, e.Attempts, tc.want, tc.status, tc.attempts, err)
				}
				if n := sb.Count("", "", ""); n != tc.attempts {
					t.Fatalf("%d requests, want %d", n, tc.attempts)
				}
				testkit.AssertNoSecret(t, sb, err.Error())
			})
		}
	}
}

// Unknown keys, and the nullable timestamps left out or null, decode; the timestamps
// are then 0.
func TestTolerantBodies(t *testing.T) {
	for _, kind := range []string{"extra_fields", "missing_optional", "null_optional"} {
		t.Run(kind, func(t *testing.T) {
			sb, u := testkit.StartSandbox(t, sandbox.Config{})
			sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamQueryServer, Kind: kind})
			c := newTestClient(t, u, sb.QueryServerAdminToken())
			got, err := c.UserTokens(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := sb.QueryServerUserTokens()
			if len(got) != len(want) || !got[0].IsCurrent {
				t.Fatalf("%d rows, want %d with the first current", len(got), len(want))
			}
			for i, w := range want {
				g := got[i]
				if g.ID != w.ID || g.UserUUID != w.UserUUID || g.ExpirationDate != w.ExpirationDate {
					t.Fatalf("row %d = %+v, want %+v", i, g, w)
				}
				if kind != "extra_fields" && (g.CreatedAt != 0 || g.UpdatedAt != 0) {
					t.Fatalf("row %d: timestamps %d, %d; want 0", i, g.CreatedAt, g.UpdatedAt)
				}
				if kind == "extra_fields" && (g.CreatedAt != w.CreatedAt || g.UpdatedAt != w.UpdatedAt) {
					t.Fatalf("row %d = %+v, want %+v", i, g, w)
				}
			}
			users, err := c.Users(context.Background())
			if err != nil || len(users) != len(sb.QueryServerUsers()) {
				t.Fatalf("users: %d, %v", len(users), err)
			}
			testkit.AssertNoSecret(t, sb, got, users)
		})
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
