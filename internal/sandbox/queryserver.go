package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// gc-victor's Query Server (user tokens and users), served under /query (base URL
// <server>/query).
//
// Where the sources are silent the emulation chooses: error bodies are plain text,
// 401s are empty, no Content-Type is sent. POST /_/user/token is INSERT OR IGNORE
// (201 for a user who already has a token, and nothing changes). An omitted write
// means true; an omitted expiration_date means "now", which makes the token never
// expire (expiration_date equal to updated_at). An update re-mints the token with
// the previous updated_at as its iat, as the server's trigger does, so the updated
// token no longer authenticates (upstream-apis.md 2.7). The admin token is an opaque
// string (other users' tokens are JWTs, as the real server mints them).

// ProviderQueryServer is the upstream's name, as the plugin's provider column names it.
const ProviderQueryServer = "query_server"

func init() {
	register(&kind{name: ProviderQueryServer, prefix: "/query", new: func(cfg Config) upstream { return &queryServer{cfg: cfg} }})
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

// queryServer is one server's users and their tokens.
type queryServer struct {
	cfg        Config
	rng        *rand.Rand
	adminToken string
	users      []QueryServerUser
	tokens     []QueryServerUserToken // in id order, as SQLite returns them
	nextID     int64
}

// QueryServerAdminToken is the connection's Query Server credential.
func (s *Sandbox) QueryServerAdminToken() string {
	return with(s, ProviderQueryServer, func(q *queryServer) string { return q.adminToken })
}

// QueryServerUsers returns the Query Server's users in id order.
func (s *Sandbox) QueryServerUsers() []QueryServerUser {
	return with(s, ProviderQueryServer, func(q *queryServer) []QueryServerUser { return slices.Clone(q.users) })
}

// QueryServerUserTokens returns the Query Server's user tokens in id order.
func (s *Sandbox) QueryServerUserTokens() []QueryServerUserToken {
	return with(s, ProviderQueryServer, func(q *queryServer) []QueryServerUserToken { return slices.Clone(q.tokens) })
}

// QueryServerState is the Query Server part of /_sandbox/state.
type QueryServerState struct {
	UserTokens int `json:"user_tokens"`
}

func (q *queryServer) state() any { return QueryServerState{UserTokens: len(q.tokens)} }

func (q *queryServer) secrets() []string {
	out := []string{q.adminToken, "Bearer " + q.adminToken}
	for _, u := range q.users {
		out = append(out, u.PasswordHash)
	}
	for _, t := range q.tokens {
		out = append(out, t.Token)
	}
	return out
}

func (q *queryServer) connection(base string) [][2]string {
	return [][2]string{{"query_server_url", base}, {"query_server_token", q.adminToken}}
}

func (q *queryServer) wrongShape() []byte { return []byte(`{"data":"x"}`) }

func (q *queryServer) statusResponse(f *Fault) *response {
	switch {
	case f.Status == http.StatusUnauthorized:
		return newResponse(f.Status, nil)
	case f.Status == http.StatusNotFound:
		return newResponse(f.Status, []byte("404 Not Found"))
	case f.Status >= 500:
		return newResponse(f.Status, []byte("Internal Server Error"))
	}
	return newResponse(f.Status, []byte("The request failed: "+http.StatusText(f.Status)))
}

// build makes the hand-made users of the estate, then the generated ones.
func (q *queryServer) build(s *Sandbox, rng *rand.Rand) {
	q.rng, q.users, q.tokens, q.nextID = rng, nil, nil, 0
	sec := func(n float64) int64 { return s.day(n).Unix() }
	day := s.day
	q.adminToken = alnum(rng, 48)
	admin := QueryServerUser{Email: "admin@example.com", Admin: true, Active: true}
	adminToken := QueryServerUserToken{Token: q.adminToken, Write: true, Active: true,
		CreatedAt: sec(-300), UpdatedAt: sec(-300), ExpirationDate: sec(-300)} // never expires
	if q.cfg.Estate == "clean" {
		adminToken.Write, adminToken.CreatedAt, adminToken.UpdatedAt, adminToken.ExpirationDate = false, sec(-10), sec(-10), sec(60)
		q.addUser(admin, &adminToken, sec(-10))
	} else {
		q.addUser(admin, &adminToken, sec(-300))
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
			q.addUser(users[i].u, t, sec(-float64(400-i)))
		}
	}
	// generated users, each with a token, after the hand-made ones
	base := s.cfg.Now.Add(-500 * 24 * time.Hour).Unix()
	for i := range q.cfg.Generate[ProviderQueryServer] {
		t := QueryServerUserToken{Write: i%2 == 0, Active: true, CreatedAt: base + int64(i), UpdatedAt: base + int64(i),
			ExpirationDate: s.cfg.Now.Unix() + int64(i%90)*86400}
		q.addUser(QueryServerUser{Email: fmt.Sprintf("user%05d@example.com", i+1), Active: true}, &t, base+int64(i))
	}
}

// AddQueryServerUser adds an active user with a token that never expires, as the
// server's trigger does on user creation; it returns the user's uuid.
func (s *Sandbox) AddQueryServerUser(email string, admin bool) string {
	return with(s, ProviderQueryServer, func(q *queryServer) string {
		now := time.Now().Unix()
		q.addUser(QueryServerUser{Email: email, Admin: admin, Active: true},
			&QueryServerUserToken{Write: true, Active: true, CreatedAt: now, UpdatedAt: now, ExpirationDate: now}, now)
		s.mint(q.tokens[len(q.tokens)-1].Token)
		return q.users[len(q.users)-1].UUID
	})
}

// DeleteQueryServerUser removes a user and, by the foreign key's cascade, its token.
func (s *Sandbox) DeleteQueryServerUser(email string) {
	with(s, ProviderQueryServer, func(q *queryServer) any {
		if u := q.userByEmail(email); u != nil {
			uuid := u.UUID
			q.tokens = slices.DeleteFunc(q.tokens, func(t QueryServerUserToken) bool { return t.UserUUID == uuid })
			q.users = slices.DeleteFunc(q.users, func(u QueryServerUser) bool { return u.UUID == uuid })
		}
		return nil
	})
}

// addUser adds a user and, when t is not nil, its token, minting what is secret.
func (q *queryServer) addUser(u QueryServerUser, t *QueryServerUserToken, created int64) {
	rng := q.rng
	u.ID = int64(len(q.users) + 1)
	u.UUID = uuid(rng)
	u.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$" + base64.RawStdEncoding.EncodeToString([]byte(alnum(rng, 16))) +
		"$" + base64.RawStdEncoding.EncodeToString([]byte(alnum(rng, 32)))
	u.CreatedAt, u.UpdatedAt = created, created
	q.users = append(q.users, u)
	if t == nil {
		return
	}
	q.nextID++
	t.ID, t.UserUUID, t.iat = q.nextID, u.UUID, t.UpdatedAt
	if t.Token == "" {
		t.Token = jwt(rng, t.ExpirationDate, t.UpdatedAt)
	}
	q.tokens = append(q.tokens, *t)
}

func (q *queryServer) userByEmail(email string) *QueryServerUser {
	for i := range q.users {
		if q.users[i].Email == email {
			return &q.users[i]
		}
	}
	return nil
}

func (q *queryServer) tokenOf(uuid string) int {
	for i := range q.tokens {
		if q.tokens[i].UserUUID == uuid {
			return i
		}
	}
	return -1
}

// jwt mints a token shaped like the Query Server's HS256 JWTs (the signature is random).
func jwt(rng *rand.Rand, exp, iat int64) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims := fmt.Sprintf(`{"sub":"%s","exp":%d,"iat":%d,"iss":"user_token"}`, uuid(rng), exp, iat)
	return enc([]byte(`{"typ":"JWT","alg":"HS256"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte(alnum(rng, 32)))
}

// The Query Server answers in plain text, sends no Content-Type, and 401s are empty.
func qsText(status int, text string) *response { return newResponse(status, []byte(text)) }

func qsJSON(v any) *response {
	r := jsonResponse(http.StatusOK, v)
	r.header.Del("Content-Type")
	return r
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (q *queryServer) serve(s *Sandbox, r *http.Request, path string, body []byte, _ string) *response {
	if !q.admin(r.Header.Get("Authorization")) {
		return newResponse(http.StatusUnauthorized, nil)
	}
	switch {
	case path == "/_/user/token" && r.Method == http.MethodGet:
		rows := make([]map[string]any, 0, len(q.tokens))
		for _, t := range q.tokens {
			rows = append(rows, map[string]any{"id": t.ID, "user_uuid": t.UserUUID, "token": t.Token,
				"expiration_date": t.ExpirationDate, "active": boolInt(t.Active), "write": boolInt(t.Write),
				"created_at": t.CreatedAt, "updated_at": t.UpdatedAt})
		}
		return qsJSON(map[string]any{"data": rows})
	case path == "/_/user" && r.Method == http.MethodGet:
		rows := make([]map[string]any, 0, len(q.users))
		for _, u := range q.users {
			rows = append(rows, map[string]any{"id": u.ID, "uuid": u.UUID, "email": u.Email, "password": u.PasswordHash,
				"admin": boolInt(u.Admin), "active": boolInt(u.Active), "created_at": u.CreatedAt, "updated_at": u.UpdatedAt})
		}
		return qsJSON(map[string]any{"data": rows})
	case path == "/_/user/token" && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodDelete):
		return q.write(s, r.Method, body)
	}
	return qsText(http.StatusNotFound, "404 Not Found")
}

// qsAdmin applies the server's validity rule to a bearer credential: a user token row
// with that value, active, whose iat equals its updated_at, unexpired (in seconds)
// or never expiring, of an active admin. The scheme word is not checked.
func (q *queryServer) admin(header string) bool {
	_, token, ok := strings.Cut(header, " ")
	if !ok || token == "" {
		return false
	}
	now := time.Now().Unix()
	for _, t := range q.tokens {
		if t.Token != token {
			continue
		}
		valid := t.Active && t.iat == t.UpdatedAt && (t.ExpirationDate > now || t.ExpirationDate == t.UpdatedAt)
		for _, u := range q.users {
			if u.UUID == t.UserUUID {
				return valid && u.Admin && u.Active
			}
		}
	}
	return false
}

// qsWrite is POST (create), PUT (update) and DELETE (body {email}) of /_/user/token.
func (q *queryServer) write(s *Sandbox, method string, body []byte) *response {
	if len(bytes.TrimSpace(body)) == 0 {
		return qsText(http.StatusBadRequest, "The body is empty")
	}
	var in struct {
		Email          *string `json:"email"`
		ExpirationDate *int64  `json:"expiration_date"`
		Write          *bool   `json:"write"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return qsText(http.StatusBadRequest, "invalid JSON body: "+err.Error())
	}
	if in.Email == nil {
		return qsText(http.StatusBadRequest, "missing field `email` at line 1 column "+fmt.Sprint(len(body)))
	}
	u := q.userByEmail(*in.Email)
	now := time.Now().Unix()
	if method == http.MethodDelete {
		if u == nil {
			return qsText(http.StatusBadRequest, "The email ("+*in.Email+") don't exist")
		}
		if i := q.tokenOf(u.UUID); i >= 0 {
			q.tokens = append(q.tokens[:i], q.tokens[i+1:]...)
		}
		return newResponse(http.StatusOK, nil)
	}
	if u == nil {
		return qsText(http.StatusBadRequest, "There user do not exists")
	}
	exp := now // omitted: "now", which equals updated_at, so the token never expires
	if in.ExpirationDate != nil {
		if *in.ExpirationDate <= now { // compared with seconds, as the server does
			return qsText(http.StatusBadRequest, "The expiration_date must be greater than current time")
		}
		exp = *in.ExpirationDate
	}
	write := in.Write == nil || *in.Write
	i := q.tokenOf(u.UUID)
	if method == http.MethodPost {
		if i < 0 { // INSERT OR IGNORE: a user who has a token keeps it, and the answer is the same
			q.nextID++
			q.tokens = append(q.tokens, QueryServerUserToken{ID: q.nextID, UserUUID: u.UUID, ExpirationDate: exp,
				Active: true, Write: write, CreatedAt: now, UpdatedAt: now, iat: now, Token: s.mint(jwt(q.rng, exp, now))})
		}
		return newResponse(http.StatusCreated, nil)
	}
	if i >= 0 {
		t := &q.tokens[i]
		// The update trigger re-mints the token with the previous updated_at as iat,
		// then moves updated_at to now: the new token validates only if both fall in
		// the same second (upstream-apis.md 2.7).
		t.iat, t.UpdatedAt, t.ExpirationDate, t.Write = t.UpdatedAt, now, exp, write
		if in.ExpirationDate == nil {
			t.ExpirationDate = now
		}
		t.Token = s.mint(jwt(q.rng, t.ExpirationDate, t.iat))
	}
	return newResponse(http.StatusOK, nil)
}
