package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// QueryServerUser is a _config_user row without the password hash.
type QueryServerUser struct {
	ID        int64  `json:"id"`
	UUID      string `json:"uuid"`
	Email     string `json:"email"`
	Admin     int    `json:"admin"`
	Active    int    `json:"active"`
	CreatedAt int64  `json:"created_at"`
	UpdatedAt int64  `json:"updated_at"`
}

// QueryServerUserToken is a _config_user_token row without the secret token.
// ExpirationDate is in seconds or milliseconds, as the row was written.
type QueryServerUserToken struct {
	ID             int64  `json:"id"`
	UserUUID       string `json:"user_uuid"`
	ExpirationDate int64  `json:"expiration_date"`
	Active         int    `json:"active"`
	Write          int    `json:"write"`
	CreatedAt      int64  `json:"created_at"`
	UpdatedAt      int64  `json:"updated_at"`
}

// QueryServerToken is a _config_token row (standalone token) without the
// secret token.
type QueryServerToken struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	ExpirationDate int64  `json:"expiration_date"`
	Active         int    `json:"active"`
	Write          int    `json:"write"`
	CreatedAt      int64  `json:"created_at"`
	UpdatedAt      int64  `json:"updated_at"`
}

type qsUser struct {
	QueryServerUser
	password string // the plaintext, kept to answer POST /_/user/token/value
	hash     string
}

type qsUserToken struct {
	QueryServerUserToken
	token string
}

type qsToken struct {
	QueryServerToken
	token string
}

type queryState struct {
	users      []*qsUser
	userTokens []*qsUserToken
	tokens     []*qsToken
	options    map[string]string
	key        []byte // the server's QUERY_SERVER_TOKEN_SECRET
	nextUser   int64
	nextUToken int64
	nextToken  int64
	adminToken string
	userToken  string // a valid non-admin user token
	mint       *gen
	addSecret  func(string, bool)
}

const daySec = int64(24 * 60 * 60)

// User profiles after the admin, cycled. The first six users cover every
// case the plugin must handle: expiry in seconds and in milliseconds,
// never-expiring (expiration_date == updated_at), expired, inactive token,
// write 0 and 1, and an inactive user.
type qsProfile struct {
	admin, userActive, tokenActive, write int
	expiry                                string // never, future_s, future_ms, past_s, past_ms
}

var qsProfiles = []qsProfile{
	{admin: 0, userActive: 1, tokenActive: 1, write: 0, expiry: "future_s"},  // the valid non-admin
	{admin: 1, userActive: 1, tokenActive: 1, write: 1, expiry: "future_ms"}, // ms: passes "> now (s)" forever
	{admin: 0, userActive: 1, tokenActive: 1, write: 1, expiry: "past_s"},    // expired
	{admin: 0, userActive: 1, tokenActive: 0, write: 0, expiry: "never"},     // token switched off
	{admin: 0, userActive: 0, tokenActive: 1, write: 1, expiry: "never"},     // user switched off
	{admin: 1, userActive: 1, tokenActive: 1, write: 0, expiry: "past_ms"},   // "expired" in ms, still accepted
	{admin: 0, userActive: 1, tokenActive: 1, write: 1, expiry: "never"},
}

var qsEmailWords = []string{"ops", "data", "billing", "support", "analytics", "mobile", "web", "etl", "audit", "growth"}

func newQueryState(cfg Config, addSecret func(string, bool)) *queryState {
	g := newGen(cfg.Seed, "query")
	st := &queryState{
		options:   map[string]string{"create_user": "1", "create_token": "1"},
		key:       []byte(g.b64(32)),
		mint:      newGen(cfg.Seed, "query-runtime"),
		addSecret: addSecret,
	}
	addSecret(string(st.key), false)
	now := cfg.Now.Unix()

	install := now - 400*daySec - g.between(0, daySec)
	admin := st.addUser(g, "admin@example.com", 1, 1, install, "")
	st.addUserToken(g, admin, install, install, install, 1, 1)
	st.adminToken = st.userTokens[0].token

	// Users are created after the admin, in id order, spread over the time
	// since install so that created_at grows with id as in a real database.
	step := max((now-5*daySec-install)/int64(max(cfg.QueryServerUsers, 1)), 2)
	emails := map[string]bool{"admin@example.com": true}
	for i := 1; i < cfg.QueryServerUsers; i++ {
		p := qsProfiles[(i-1)%len(qsProfiles)]
		email := ""
		for email == "" || emails[email] {
			email = qsEmailWords[(i-1)%len(qsEmailWords)] + "-" + g.lower(4) + "@example.com"
		}
		emails[email] = true
		created := install + int64(i)*step + g.between(0, step/2)
		u := st.addUser(g, email, p.admin, p.userActive, created, "")
		updated := created + g.between(0, min(20*daySec, now-2*daySec-created))
		var exp int64
		switch p.expiry {
		case "never":
			exp = updated
		case "future_s":
			exp = now + g.between(20, 90)*daySec
		case "future_ms":
			exp = (now+g.between(30, 365)*daySec)*1000 + g.between(0, 999)
		case "past_s":
			exp = g.between(updated+3600, now-3600)
		case "past_ms":
			exp = g.between(updated+3600, now-3600)*1000 + g.between(0, 999)
		}
		t := st.addUserToken(g, u, exp, created, updated, p.tokenActive, p.write)
		if p.admin == 0 && p.userActive == 1 && p.tokenActive == 1 && p.expiry == "future_s" && st.userToken == "" {
			st.userToken = t.token
		}
	}

	// Standalone tokens (GET /_/token): never admin, listed for completeness.
	for _, spec := range []struct {
		name          string
		expiry        string
		active, write int
	}{
		{"ci-reader", "future_s", 1, 0},
		{"deploy-bot", "future_ms", 1, 1},
		{"old-export", "past_s", 0, 1},
		{"kiosk", "never", 1, 0},
	} {
		created := now - g.between(10, 200)*daySec
		var exp int64
		switch spec.expiry {
		case "future_s":
			exp = now + g.between(20, 90)*daySec
		case "future_ms":
			exp = (now+g.between(30, 365)*daySec)*1000 + g.between(0, 999)
		case "past_s":
			exp = now - g.between(1, 9)*daySec
		default:
			exp = created
		}
		st.nextToken++
		t := &qsToken{QueryServerToken: QueryServerToken{ID: st.nextToken, Name: spec.name, ExpirationDate: exp,
			Active: spec.active, Write: spec.write, CreatedAt: created, UpdatedAt: created}}
		t.token = st.jwt(g, "token", exp, created)
		addSecret(t.token, true)
		st.tokens = append(st.tokens, t)
	}
	return st
}

// addUser inserts a user; an empty password gets a generated one.
func (st *queryState) addUser(g *gen, email string, admin, active int, created int64, password string) *qsUser {
	st.nextUser++
	u := &qsUser{QueryServerUser: QueryServerUser{ID: st.nextUser, UUID: g.uuid(), Email: email,
		Admin: admin, Active: active, CreatedAt: created, UpdatedAt: created}}
	if password == "" {
		password = g.base62(20)
	}
	u.password = password
	u.hash = passwordHash(g.bytes(16), u.password)
	st.addSecret(u.password, false)
	st.addSecret(u.hash, false)
	st.users = append(st.users, u)
	return u
}

func (st *queryState) addUserToken(g *gen, u *qsUser, exp, created, updated int64, active, write int) *qsUserToken {
	st.nextUToken++
	t := &qsUserToken{QueryServerUserToken: QueryServerUserToken{ID: st.nextUToken, UserUUID: u.UUID,
		ExpirationDate: exp, Active: active, Write: write, CreatedAt: created, UpdatedAt: updated}}
	t.token = st.jwt(g, "user_token", exp, updated)
	st.addSecret(t.token, true)
	st.userTokens = append(st.userTokens, t)
	return t
}

// passwordHash has the Argon2id PHC shape the server stores. The digest is
// salted SHA-256, not Argon2 (the sandbox uses the standard library only);
// nothing outside the sandbox can tell, since only the sandbox verifies it.
func passwordHash(salt []byte, password string) string {
	sum := sha256.Sum256(append(append([]byte{}, salt...), password...))
	return "$argon2id$v=19$m=19456,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" +
		base64.RawStdEncoding.EncodeToString(sum[:])
}

func checkPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 {
		return false
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(passwordHash(salt, password)), []byte(hash)) == 1
}

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"HS256"}`))

// jwt mints a token as the server's token() SQL function does: HS256 over
// {exp, iat, iss, sub} (serde_json sorts the keys) with a fresh random sub.
func (st *queryState) jwt(g *gen, iss string, exp, iat int64) string {
	payload := []byte(`{"exp":`)
	payload = appendInt(payload, exp)
	payload = append(payload, `,"iat":`...)
	payload = appendInt(payload, iat)
	payload = append(payload, `,"iss":`...)
	payload = appendString(payload, iss)
	payload = append(payload, `,"sub":`...)
	payload = appendString(payload, g.uuid())
	payload = append(payload, '}')
	signing := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signing + "." + hs256(st.key, signing)
}

func hs256(key []byte, signing string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

type qsClaims struct {
	Exp *int64 `json:"exp"`
	Iat *int64 `json:"iat"`
	Iss string `json:"iss"`
}

// claims verifies the signature and decodes the claims without checking
// exp, as the server does.
func (st *queryState) claims(token string) (qsClaims, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return qsClaims{}, false
	}
	if !hmac.Equal([]byte(hs256(st.key, parts[0]+"."+parts[1])), []byte(parts[2])) {
		return qsClaims{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return qsClaims{}, false
	}
	var c qsClaims
	if json.Unmarshal(raw, &c) != nil || c.Exp == nil || c.Iat == nil {
		return qsClaims{}, false
	}
	return c, true
}

func (st *queryState) userByEmail(email string) *qsUser {
	for _, u := range st.users {
		if u.Email == email {
			return u
		}
	}
	return nil
}

func (st *queryState) userByUUID(uuid string) *qsUser {
	for _, u := range st.users {
		if u.UUID == uuid {
			return u
		}
	}
	return nil
}

func (st *queryState) tokenOfUser(uuid string) *qsUserToken {
	for _, t := range st.userTokens {
		if t.UserUUID == uuid {
			return t
		}
	}
	return nil
}

// isAdmin applies the server's validity rule and admin check to a
// presented token.
func (st *queryState) isAdmin(token string, now int64) bool {
	c, ok := st.claims(token)
	if !ok || c.Iss != "user_token" {
		return false
	}
	for _, t := range st.userTokens {
		if t.token != token {
			continue
		}
		if t.ExpirationDate != *c.Exp || t.UpdatedAt != *c.Iat || t.Active != 1 ||
			!(t.ExpirationDate > now || t.ExpirationDate == t.UpdatedAt) {
			return false
		}
		u := st.userByUUID(t.UserUUID)
		return u != nil && u.Active == 1 && u.Admin == 1
	}
	return false
}

// QueryServerAdminToken returns the admin user's token.
func (s *Sandbox) QueryServerAdminToken() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.query.adminToken
}

// QueryServerUserToken returns a valid token of an active non-admin user:
// the server accepts it as a token but answers 401 on admin routes. It is
// "" when there is no such user (QueryServerUsers: -1).
func (s *Sandbox) QueryServerUserToken() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.query.userToken
}

// QueryServerUsers returns the _config_user rows in id order.
func (s *Sandbox) QueryServerUsers() []QueryServerUser {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]QueryServerUser, len(s.query.users))
	for i, u := range s.query.users {
		out[i] = u.QueryServerUser
	}
	return out
}

// QueryServerUserTokens returns the _config_user_token rows in insertion
// order, without the secret token column.
func (s *Sandbox) QueryServerUserTokens() []QueryServerUserToken {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]QueryServerUserToken, len(s.query.userTokens))
	for i, t := range s.query.userTokens {
		out[i] = t.QueryServerUserToken
	}
	return out
}

// QueryServerTokens returns the _config_token rows without the secret.
func (s *Sandbox) QueryServerTokens() []QueryServerToken {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]QueryServerToken, len(s.query.tokens))
	for i, t := range s.query.tokens {
		out[i] = t.QueryServerToken
	}
	return out
}

// SetQueryServerOption sets a _config_option row: "create_user" or
// "create_token"; "0" makes the routes they guard answer 404.
func (s *Sandbox) SetQueryServerOption(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.query.options[name] = value
}

// QueryServerPassword returns a user's password (for the login call, POST
// /_/user/token/value), or "" for an unknown email.
func (s *Sandbox) QueryServerPassword(email string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u := s.query.userByEmail(email); u != nil {
		return u.password
	}
	return ""
}
