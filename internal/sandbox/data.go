package sandbox

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// VercelToken is one Vercel AuthToken. Zero values are absent from the JSON.
type VercelToken struct {
	ID, Name, Type, Origin string
	Prefix, Suffix         string
	Scopes                 []VercelScope // nil: no scopes key
	CreatedAt, ActiveAt    time.Time
	ExpiresAt, RevokedAt   time.Time
	LeakedAt               time.Time
	LeakedURL              string
}

// VercelScope is one entry of a token's scopes.
type VercelScope struct {
	Type, TeamID, Origin string
	CreatedAt, ExpiresAt time.Time
	Sudo                 *VercelSudo
}

// VercelSudo is a user scope's step-up state.
type VercelSudo struct {
	Origin                string
	VerifiedAt, ExpiresAt time.Time
}

// VercelAccount is the user every token belongs to.
type VercelAccount struct {
	ID, Email, Name, Username, DefaultTeamID string
}

// QueryServerUser is a row of _config_user.
type QueryServerUser struct {
	ID                   int64
	UUID, Email          string
	PasswordHash         string
	Admin, Active        bool
	CreatedAt, UpdatedAt int64 // Unix seconds
}

// QueryServerUserToken is a row of _config_user_token. ExpirationDate is stored as
// the client sent it: seconds, or milliseconds (upstream-apis.md 2.6).
type QueryServerUserToken struct {
	ID                   int64
	UserUUID             string
	Token                string
	ExpirationDate       int64
	Active, Write        bool
	CreatedAt, UpdatedAt int64 // Unix seconds
	iat                  int64 // the JWT's iat: must equal UpdatedAt for the token to work
}

// ClerkSignInToken is a sign-in token Clerk minted.
type ClerkSignInToken struct {
	ID, UserID, Status, Token, URL string
	CreatedAt, UpdatedAt           time.Time
}

// Team ids of the hand-made Vercel account.
const (
	TeamPlatform  = "team_7Ab2Cd3Ef4Gh5Ij6Kl7Mn8Op"
	TeamAnalytics = "team_3Kc9Lw0PpQ1rS2tU4vW5xY6z"
)

// CurrentVercelTokenID is the id of the token the connection authenticates with.
const CurrentVercelTokenID = "9b1f0c6e2d7a4c88b0e1f7a2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6"

// Hand-made Clerk identities, the placeholders of docs/tables/sign_in_tokens.md.
var (
	ClerkUsers = []string{"user_2pQ8xY3kL1mN0bV7cT6rS5wZ4aE", "user_2pT3vW4xY5zA6bC7dE8fG9hJ0k",
		"user_2pW6zA7bC8dE9fG0hJ1kL2mN3o", "user_2pZ9cD0eF1gH2iJ3kL4mN5oP6q"}
	ClerkOrgs = []string{"org_2pS0qR1sT2uV3wX4yZ5aB6cD7e", "org_2pV3tU4vW5xY6zA7bC8dE9fG0h"}
)

// data is the state of the three upstreams.
type data struct {
	now time.Time

	vercelAccount VercelAccount
	vercelToken   string            // the connection's credential
	vercelTokens  []VercelToken     // newest first
	vercelBearer  map[string]string // credential -> token id

	qsAdminToken string
	qsUsers      []QueryServerUser
	qsTokens     []QueryServerUserToken // in id order, as SQLite returns them
	qsNextID     int64

	clerkKey        string
	clerkPublishKey string
	clerkUsers      []string
	clerkMembers    map[string][]string // org -> users
	clerkTokens     []ClerkSignInToken
}

// build makes the data for cfg. Everything secret is drawn from the seeded
// generator: no credential sits in the source.
func build(cfg Config, rng *rand.Rand) *data {
	d := &data{now: cfg.Now, vercelBearer: map[string]string{}, clerkMembers: map[string][]string{}}
	day := func(n float64) time.Time { return cfg.Now.Add(time.Duration(n * 24 * float64(time.Hour))) }
	sec := func(n float64) int64 { return day(n).Unix() }

	d.vercelAccount = VercelAccount{ID: "usr_4dA1oV3lAcE5eXaMpLe9", Email: "ada@example.com", Name: "Ada Lovelace",
		Username: "ada", DefaultTeamID: TeamPlatform}
	d.vercelToken = alnum(rng, 24)
	d.vercelBearer[d.vercelToken] = CurrentVercelTokenID
	user := func(created float64) []VercelScope {
		return []VercelScope{{Type: "user", Origin: "manual", CreatedAt: day(created)}}
	}
	team := func(created float64, teams ...string) []VercelScope {
		var s []VercelScope
		for _, t := range teams {
			s = append(s, VercelScope{Type: "team", TeamID: t, Origin: "manual", CreatedAt: day(created)})
		}
		return s
	}
	current := VercelToken{ID: CurrentVercelTokenID, Name: "steampipe-audit", Type: "oauth2-token", Origin: "manual",
		Prefix: "vcp_", Suffix: "Aud1t9", Scopes: user(-200), CreatedAt: day(-200), ActiveAt: day(-0.1)}

	d.qsAdminToken = alnum(rng, 48)
	admin := QueryServerUser{Email: "admin@example.com", Admin: true, Active: true}
	adminToken := QueryServerUserToken{Token: d.qsAdminToken, Write: true, Active: true,
		CreatedAt: sec(-300), UpdatedAt: sec(-300), ExpirationDate: sec(-300)} // never expires

	if cfg.Estate == "clean" {
		current.Scopes, current.CreatedAt, current.ExpiresAt = team(-10, TeamPlatform), day(-10), day(60)
		d.vercelTokens = []VercelToken{current}
		adminToken.Write, adminToken.CreatedAt, adminToken.UpdatedAt, adminToken.ExpirationDate = false, sec(-10), sec(-10), sec(60)
		d.addUser(rng, admin, &adminToken, sec(-10))
	} else {
		d.vercelTokens = []VercelToken{
			current,
			{ID: "tok_2CiD3pl0yEr7Qa9Zb1Xc", Name: "ci-deployer", Type: "oauth2-token", Origin: "manual", Prefix: "vcp_", Suffix: "Ci7Q2a",
				Scopes: team(-100, TeamPlatform), CreatedAt: day(-100), ActiveAt: day(-1), ExpiresAt: day(20)},
			{ID: "tok_0ldM0n1t0r1ng4Lp8Kq", Name: "old monitoring", Type: "classic", Origin: "github", Prefix: "vcp_", Suffix: "M0n1t0",
				Scopes: user(-400), CreatedAt: day(-400), ActiveAt: day(-120)},
			{ID: "tok_R3v0k3dL4pt0pWq2Ez5", Name: "revoked laptop", Type: "oauth2-token", Origin: "email", Prefix: "vcp_", Suffix: "L4pt0p",
				Scopes: user(-60), CreatedAt: day(-60), ActiveAt: day(-30), RevokedAt: day(-10)},
			{ID: "tok_Exp1r3dPr3v13wB0t77", Name: "expired preview bot", Type: "oauth2-token", Origin: "manual", Prefix: "vcp_", Suffix: "Pr3v13",
				Scopes: team(-40, TeamAnalytics), CreatedAt: day(-40), ActiveAt: day(-8), ExpiresAt: day(-5)},
			{ID: "tok_L3ak3dK3yGh4Jk5Lm6N", Name: "leaked key", Type: "oauth2-token", Origin: "manual", Prefix: "vcp_", Suffix: "L3ak3d",
				Scopes: user(-30), CreatedAt: day(-30), ActiveAt: day(-2), LeakedAt: day(-3),
				LeakedURL: "https://github.com/example/site/blob/main/.env"},
			{ID: "tok_L3ak3dTh3nR3v0k3d8P", Name: "leaked then revoked", Type: "oauth2-token", Origin: "manual", Prefix: "vcp_", Suffix: "Gh0st1",
				Scopes: user(-50), CreatedAt: day(-50), ActiveAt: day(-20), LeakedAt: day(-15), RevokedAt: day(-14),
				LeakedURL: "https://gist.github.com/example/4f1e2d"},
			{ID: "tok_Un1c0d3Pr0dD3pl0y9Z", Name: `deploy "prod" <main> & ünïcödé ✓`, Type: "oauth2-token", Origin: "manual",
				Prefix: "vcp_", Suffix: "Pr0dD9", Scopes: team(-10, TeamPlatform), CreatedAt: day(-10), ActiveAt: day(-0.5), ExpiresAt: day(5)},
			{ID: "tok_Cr0ssT3amAut0mat10n", Name: "cross-team automation", Type: "oauth2-token", Origin: "manual", Prefix: "vcp_", Suffix: "X7eam2",
				Scopes: team(-95, TeamAnalytics, TeamPlatform), CreatedAt: day(-95), ActiveAt: day(-3), ExpiresAt: day(80)},
			// Every optional key absent.
			{ID: "tok_Rayc4stM1n1mal0K3y", Name: "raycast", Type: "oauth2-token", CreatedAt: day(-5), ActiveAt: day(-5), ExpiresAt: day(60)},
			{ID: "tok_V3rc3lCl1Sud0T0tp5", Name: "vercel cli", Type: "oauth2-token", Origin: "github", Prefix: "vcp_", Suffix: "Cl1Sud",
				Scopes: []VercelScope{{Type: "user", Origin: "github", CreatedAt: day(-1),
					Sudo: &VercelSudo{Origin: "totp", VerifiedAt: day(-0.9), ExpiresAt: day(-0.8)}}},
				CreatedAt: day(-1), ActiveAt: day(-0.02), ExpiresAt: day(45)},
		}
		d.addUser(rng, admin, &adminToken, sec(-300))
		users := []struct {
			u QueryServerUser
			t QueryServerUserToken
		}{
			{QueryServerUser{Email: "dev@example.com", Active: true},
				QueryServerUserToken{Write: true, Active: true, CreatedAt: sec(-100), UpdatedAt: sec(-100), ExpirationDate: sec(20)}},
			// Stored in milliseconds: the server compares with seconds, so it still accepts it.
			{QueryServerUser{Email: "analyst@example.com", Active: true},
				QueryServerUserToken{Active: true, CreatedAt: sec(-50), UpdatedAt: sec(-50), ExpirationDate: day(-10).UnixMilli()}},
			{QueryServerUser{Email: "expired@example.com", Active: true},
				QueryServerUserToken{Active: true, CreatedAt: sec(-33), UpdatedAt: sec(-33), ExpirationDate: sec(-3)}},
			{QueryServerUser{Email: "disabled@example.com", Active: true},
				QueryServerUserToken{Write: true, CreatedAt: sec(-20), UpdatedAt: sec(-20), ExpirationDate: sec(100)}},
			{QueryServerUser{Email: "former@example.com"},
				QueryServerUserToken{Write: true, Active: true, CreatedAt: sec(-400), UpdatedAt: sec(-400), ExpirationDate: sec(-400)}},
			// A user without a token, to create one for.
			{QueryServerUser{Email: "newhire@example.com", Active: true}, QueryServerUserToken{}},
		}
		for i := range users {
			t := &users[i].t
			if t.CreatedAt == 0 {
				t = nil
			}
			d.addUser(rng, users[i].u, t, sec(-float64(400-i)))
		}
	}
	d.generate(cfg, rng)

	d.clerkKey = "sk_" + alnum(rng, 40)
	d.clerkPublishKey = "pk_" + alnum(rng, 40)
	d.clerkUsers = slices.Clone(ClerkUsers)
	for i := range cfg.ClerkUsers {
		d.clerkUsers = append(d.clerkUsers, fmt.Sprintf("user_gen%022d", i+1))
	}
	d.clerkMembers[ClerkOrgs[0]] = []string{ClerkUsers[0]}
	d.clerkMembers[ClerkOrgs[1]] = []string{ClerkUsers[1], ClerkUsers[2]}
	return d
}

// generate adds the benchmarks' tokens and users after the hand-made ones: older
// than all of them, each created one second apart so numeric cursors stay exact.
func (d *data) generate(cfg Config, rng *rand.Rand) {
	oldest := d.vercelTokens[len(d.vercelTokens)-1].CreatedAt
	for _, t := range d.vercelTokens {
		oldest = minTime(oldest, t.CreatedAt)
	}
	for i := range cfg.VercelTokens {
		created := oldest.Add(-time.Duration(i+1) * time.Second)
		t := VercelToken{ID: "tok_" + alnum(rng, 20), Name: "generated " + strconv.Itoa(i+1), Type: "oauth2-token", Origin: "manual",
			Prefix: "vcp_", Suffix: alnum(rng, 6), Scopes: []VercelScope{{Type: "user", Origin: "manual", CreatedAt: created}},
			CreatedAt: created, ActiveAt: created.Add(time.Hour)}
		if i%3 == 0 {
			t.ExpiresAt = d.now.Add(time.Duration(i%400) * time.Hour)
		}
		if i%7 == 0 {
			t.Scopes = append(t.Scopes, VercelScope{Type: "team", TeamID: TeamPlatform, Origin: "manual", CreatedAt: created})
		}
		d.vercelTokens = append(d.vercelTokens, t)
	}
	sortNewestFirst(d.vercelTokens)
	base := d.now.Add(-500 * 24 * time.Hour).Unix()
	for i := range cfg.QueryServerUsers {
		t := QueryServerUserToken{Write: i%2 == 0, Active: true, CreatedAt: base + int64(i), UpdatedAt: base + int64(i),
			ExpirationDate: d.now.Unix() + int64(i%90)*86400}
		d.addUser(rng, QueryServerUser{Email: fmt.Sprintf("user%05d@example.com", i+1), Active: true}, &t, base+int64(i))
	}
}

// addUser adds a user and, when t is not nil, its token, minting what is secret.
func (d *data) addUser(rng *rand.Rand, u QueryServerUser, t *QueryServerUserToken, created int64) {
	u.ID = int64(len(d.qsUsers) + 1)
	u.UUID = uuid(rng)
	u.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$" + base64.RawStdEncoding.EncodeToString([]byte(alnum(rng, 16))) +
		"$" + base64.RawStdEncoding.EncodeToString([]byte(alnum(rng, 32)))
	u.CreatedAt, u.UpdatedAt = created, created
	d.qsUsers = append(d.qsUsers, u)
	if t == nil {
		return
	}
	d.qsNextID++
	t.ID, t.UserUUID, t.iat = d.qsNextID, u.UUID, t.UpdatedAt
	if t.Token == "" {
		t.Token = jwt(rng, t.ExpirationDate, t.UpdatedAt)
	}
	d.qsTokens = append(d.qsTokens, *t)
}

func (d *data) qsUserByEmail(email string) *QueryServerUser {
	for i := range d.qsUsers {
		if d.qsUsers[i].Email == email {
			return &d.qsUsers[i]
		}
	}
	return nil
}

func (d *data) qsTokenOf(uuid string) int {
	for i := range d.qsTokens {
		if d.qsTokens[i].UserUUID == uuid {
			return i
		}
	}
	return -1
}

// secrets lists every credential and secret value the data holds.
func (d *data) secrets() []string {
	s := []string{d.vercelToken, d.qsAdminToken, d.clerkKey}
	for k := range d.vercelBearer {
		s = append(s, k)
	}
	for _, u := range d.qsUsers {
		s = append(s, u.PasswordHash)
	}
	for _, t := range d.qsTokens {
		s = append(s, t.Token)
	}
	for _, t := range d.clerkTokens {
		s = append(s, t.Token, t.URL)
	}
	return s
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func alnum(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func uuid(rng *rand.Rand) string {
	const hex = "0123456789abcdef"
	b := []byte("xxxxxxxx-xxxx-4xxx-axxx-xxxxxxxxxxxx")
	for i, c := range b {
		if c == 'x' {
			b[i] = hex[rng.IntN(16)]
		}
	}
	return string(b)
}

// jwt mints a token shaped like the Query Server's HS256 JWTs (the signature is random).
func jwt(rng *rand.Rand, exp, iat int64) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims := fmt.Sprintf(`{"sub":"%s","exp":%d,"iat":%d,"iss":"user_token"}`, uuid(rng), exp, iat)
	return enc([]byte(`{"typ":"JWT","alg":"HS256"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte(alnum(rng, 32)))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
