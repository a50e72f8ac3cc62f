package sandbox_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

var userTokenColumns = []string{"id", "user_uuid", "token", "expiration_date", "active", "write", "created_at", "updated_at"}

// keyOrder returns the keys of each row of {"data":[...]}, in wire order.
func keyOrder(t *testing.T, body []byte) [][]string {
	t.Helper()
	inner := strings.TrimSuffix(strings.TrimPrefix(string(body), `{"data":[{`), `}]}`)
	key := regexp.MustCompile(`"([a-z_]+)":`)
	var orders [][]string
	for _, row := range strings.Split(inner, "},{") {
		var keys []string
		for _, m := range key.FindAllStringSubmatch(row, -1) {
			keys = append(keys, m[1])
		}
		orders = append(orders, keys)
	}
	return orders
}

func TestQueryServerListUserTokens(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	auth := bearerOf(sb.QueryServerAdminToken())
	orders := map[string]bool{}
	for range 5 {
		r := call(t, http.MethodGet, srv.URL+"/query/_/user/token", auth, "")
		wantStatus(t, r, http.StatusOK)
		if _, ok := r.header["Content-Type"]; ok {
			t.Fatalf("Content-Type %q sent; the server sends none", r.header.Get("Content-Type"))
		}
		for _, o := range keyOrder(t, r.body) {
			if len(o) != len(userTokenColumns) {
				t.Fatalf("row keys %v", o)
			}
			orders[strings.Join(o, ",")] = true
		}
		var got struct{ Data []map[string]any }
		r.json(t, &got)
		want := sb.QueryServerUserTokens()
		if len(got.Data) != len(want) || len(want) != 6 {
			t.Fatalf("%d rows, want %d (6 users)", len(got.Data), len(want))
		}
		for i, row := range got.Data {
			if len(row) != len(userTokenColumns) {
				t.Fatalf("row %d has %d columns: %v", i, len(row), row)
			}
			for _, k := range userTokenColumns {
				if _, ok := row[k]; !ok {
					t.Fatalf("row %d lacks %s", i, k)
				}
			}
			for _, k := range []string{"id", "expiration_date", "active", "write", "created_at", "updated_at"} {
				if _, ok := row[k].(json.Number); !ok {
					t.Fatalf("row %d: %s is %T, want a JSON number (0/1, not a boolean)", i, k, row[k])
				}
			}
			if _, ok := row["user_uuid"].(string); !ok {
				t.Fatalf("row %d: user_uuid is %T, want a string", i, row["user_uuid"])
			}
			if row["id"].(json.Number).String() != strconv.FormatInt(want[i].ID, 10) {
				t.Fatalf("row %d is id %v: rows must come in insertion order", i, row["id"])
			}
			if row["user_uuid"] != want[i].UserUUID || row["expiration_date"].(json.Number).String() != strconv.FormatInt(want[i].ExpirationDate, 10) {
				t.Fatalf("row %d = %v, want %+v", i, row, want[i])
			}
		}
	}
	if len(orders) < 2 {
		t.Fatalf("key order never varied: %v", orders)
	}
}

func TestQueryServerDataMix(t *testing.T) {
	sb := sandbox.New(sandbox.Config{})
	now := time.Now().Unix()
	has := map[string]bool{}
	for _, tk := range sb.QueryServerUserTokens() {
		if tk.ExpirationDate > 1e11 {
			has["milliseconds"] = true
		} else {
			has["seconds"] = true
		}
		switch {
		case tk.ExpirationDate == tk.UpdatedAt:
			has["never expires"] = true
		case tk.ExpirationDate < now:
			has["expired"] = true
		}
		has["active="+strconv.Itoa(tk.Active)] = true
		has["write="+strconv.Itoa(tk.Write)] = true
	}
	for _, u := range sb.QueryServerUsers() {
		if u.Active == 0 {
			has["inactive user"] = true
		}
		if u.Admin == 0 {
			has["non-admin"] = true
		}
	}
	for _, k := range []string{"milliseconds", "seconds", "never expires", "expired", "active=0", "active=1", "write=0", "write=1", "inactive user", "non-admin"} {
		if !has[k] {
			t.Errorf("generated data has no %q case", k)
		}
	}
}

func TestQueryServerJWTs(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	r := call(t, http.MethodGet, srv.URL+"/query/_/user/token", bearerOf(sb.QueryServerAdminToken()), "")
	var got struct {
		Data []struct {
			Token          string
			ExpirationDate int64 `json:"expiration_date"`
			UpdatedAt      int64 `json:"updated_at"`
		}
	}
	r.json(t, &got)
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, row := range got.Data {
		parts := strings.Split(row.Token, ".")
		if len(parts) != 3 {
			t.Fatalf("token %q is not header.payload.signature", row.Token)
		}
		var header map[string]string
		var claims struct {
			Sub      string
			Exp, Iat int64
			Iss      string
		}
		for i, v := range []any{&header, &claims} {
			raw, err := base64.RawURLEncoding.DecodeString(parts[i])
			if err != nil || json.Unmarshal(raw, v) != nil {
				t.Fatalf("part %d of %q is not base64url JSON", i, row.Token)
			}
		}
		if header["alg"] != "HS256" || header["typ"] != "JWT" {
			t.Errorf("header %v", header)
		}
		if !uuid.MatchString(claims.Sub) || claims.Iss != "user_token" || claims.Exp != row.ExpirationDate || claims.Iat != row.UpdatedAt {
			t.Errorf("claims %+v for row exp=%d updated=%d", claims, row.ExpirationDate, row.UpdatedAt)
		}
	}
}

func TestQueryServerAuth(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	list := srv.URL + "/query/_/user/token"
	admin := sb.QueryServerAdminToken()
	for name, auth := range map[string]string{
		"missing": "", "one word": "Bearer", "empty token": "Bearer ", "garbage": "Bearer abc",
		"non-admin": bearerOf(sb.QueryServerUserToken()), "tampered": "Bearer " + admin + "x",
		"third word": "Bearer  " + admin,
	} {
		r := call(t, http.MethodGet, list, auth, "")
		wantStatus(t, r, http.StatusUnauthorized)
		if len(r.body) != 0 {
			t.Errorf("%s: 401 body %q, want empty", name, r.body)
		}
	}
	// Only the second word counts; the scheme is never checked.
	for _, scheme := range []string{"Bearer", "Token", "x"} {
		wantStatus(t, call(t, http.MethodGet, list, scheme+" "+admin, ""), http.StatusOK)
	}
	// Tokens of expired, inactive and inactive-user rows are refused too.
	valid := map[string]bool{}
	for _, s := range []string{admin, sb.QueryServerUserToken()} {
		valid[s] = true
	}
	users := map[string]sandbox.QueryServerUser{}
	for _, u := range sb.QueryServerUsers() {
		users[u.UUID] = u
	}
	r := call(t, http.MethodGet, list, bearerOf(admin), "")
	var rows struct {
		Data []struct {
			Token          string
			UserUUID       string `json:"user_uuid"`
			Active         int
			ExpirationDate int64 `json:"expiration_date"`
			UpdatedAt      int64 `json:"updated_at"`
		}
	}
	r.json(t, &rows)
	now := time.Now().Unix()
	for _, row := range rows.Data {
		u := users[row.UserUUID]
		ok := row.Active == 1 && u.Active == 1 && u.Admin == 1 && (row.ExpirationDate > now || row.ExpirationDate == row.UpdatedAt)
		got := call(t, http.MethodGet, list, bearerOf(row.Token), "").status
		if ok != (got == http.StatusOK) {
			t.Errorf("row %+v user %+v: status %d", row, u, got)
		}
	}
}

func TestQueryServerRoutes(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	auth := bearerOf(sb.QueryServerAdminToken())
	for _, p := range []string{"/_/user-token", "/_/user-token/value?email=admin@example.com", "/_/nope", "/_/user/token/x", "/", "/_", "/user/token"} {
		r := call(t, http.MethodGet, srv.URL+"/query"+p, auth, "")
		wantStatus(t, r, http.StatusNotFound)
		if string(r.body) != "404 Not Found" {
			t.Errorf("%s: body %q", p, r.body)
		}
	}
	wantStatus(t, call(t, http.MethodPatch, srv.URL+"/query/_/user/token", auth, "{}"), http.StatusNotFound)
	// Empty segments are dropped, as the server's router does.
	wantStatus(t, call(t, http.MethodGet, srv.URL+"/query/_//user//token/", auth, ""), http.StatusOK)

	// The hypothetical server that follows the old docs.
	sb2, srv2 := start(t, sandbox.Config{QueryServerTokenPath: "/_/user-token"})
	auth2 := bearerOf(sb2.QueryServerAdminToken())
	wantStatus(t, call(t, http.MethodGet, srv2.URL+"/query/_/user-token", auth2, ""), http.StatusOK)
	wantStatus(t, call(t, http.MethodGet, srv2.URL+"/query/_/user-token/value?email=admin@example.com", auth2, ""), http.StatusOK)
	r := call(t, http.MethodGet, srv2.URL+"/query/_/user/token", auth2, "")
	wantStatus(t, r, http.StatusNotFound)
	if string(r.body) != "404 Not Found" {
		t.Errorf("body %q", r.body)
	}
}

func TestQueryServerOptions(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	auth := bearerOf(sb.QueryServerAdminToken())
	get := func(p string) int { return call(t, http.MethodGet, srv.URL+"/query"+p, auth, "").status }
	sb.SetQueryServerOption("create_token", "0")
	if get("/_/user/token") != 404 || get("/_/token") != 404 || get("/_/user") != 200 {
		t.Fatal("create_token=0 must hide /_/user/token and /_/token only")
	}
	// The switch is checked before the token: even no token gets 404.
	wantStatus(t, call(t, http.MethodGet, srv.URL+"/query/_/user/token", "", ""), http.StatusNotFound)
	sb.SetQueryServerOption("create_token", "1")
	sb.SetQueryServerOption("create_user", "0")
	if get("/_/user/token") != 404 || get("/_/user") != 404 || get("/_/token") != 200 {
		t.Fatal("create_user=0 must hide /_/user/token and /_/user only")
	}
	r := call(t, http.MethodPost, srv.URL+"/query/_/user/token/value", "", `{"email":"admin@example.com","password":"x"}`)
	wantStatus(t, r, http.StatusNotFound)
	sb.SetQueryServerOption("create_user", "1")
	if get("/_/user/token") != 200 {
		t.Fatal("options do not switch back")
	}
}

func TestQueryServerValue(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	auth := bearerOf(sb.QueryServerAdminToken())
	base := srv.URL + "/query/_/user/token/value"
	r := call(t, http.MethodGet, base+"?email=admin@example.com", auth, "")
	wantStatus(t, r, http.StatusOK)
	if string(r.body) != `{"data":[{"token":"`+sb.QueryServerAdminToken()+`"}]}` {
		t.Fatalf("body %s", r.body)
	}
	r = call(t, http.MethodGet, base+"?email=nobody@example.com", auth, "")
	if string(r.body) != `{"data":[]}` {
		t.Fatalf("unknown email: %s", r.body)
	}
	r = call(t, http.MethodGet, base, auth, "")
	wantStatus(t, r, http.StatusBadRequest)
	if string(r.body) != "Missing query string" {
		t.Fatalf("body %q", r.body)
	}
	r = call(t, http.MethodGet, base+"?mail=x", auth, "")
	if string(r.body) != "Missing query string: email" {
		t.Fatalf("body %q", r.body)
	}

	// Login needs no token.
	pw := sb.QueryServerPassword("admin@example.com")
	body, _ := json.Marshal(map[string]string{"email": "admin@example.com", "password": pw})
	r = call(t, http.MethodPost, base, "", string(body))
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), sb.QueryServerAdminToken()) {
		t.Fatalf("login body %s", r.body)
	}
	r = call(t, http.MethodPost, base, "", `{"email":"admin@example.com","password":"wrong"}`)
	wantStatus(t, r, http.StatusBadRequest)
	if string(r.body) != "The email or password is not correct." {
		t.Fatalf("body %q", r.body)
	}
	// Inactive users cannot log in.
	for _, u := range sb.QueryServerUsers() {
		if u.Active == 0 {
			body, _ := json.Marshal(map[string]string{"email": u.Email, "password": sb.QueryServerPassword(u.Email)})
			wantStatus(t, call(t, http.MethodPost, base, "", string(body)), http.StatusBadRequest)
		}
	}
}

func TestQueryServerWrites(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	admin := bearerOf(sb.QueryServerAdminToken())
	url := srv.URL + "/query/_/user/token"
	users := sb.QueryServerUsers()
	target := users[1]
	before := sb.QueryServerUserTokens()[1]

	// POST for a user that has a token: 201 and nothing changes.
	r := call(t, http.MethodPost, url, admin, `{"email":"`+target.Email+`","expiration_date":9999999999}`)
	wantStatus(t, r, http.StatusCreated)
	if len(r.body) != 0 || sb.QueryServerUserTokens()[1] != before {
		t.Fatal("POST over an existing token changed it")
	}
	for body, want := range map[string]string{
		``:                     "The body is empty",
		`{"email":"nobody@x"}`: "There user do not exists",
		`{"email":"` + target.Email + `","expiration_date":5}`: "The expiration_date must be greater than current time",
		`{"email":"` + target.Email + `","write":1}`:           "invalid type: integer `1`, expected a boolean at line 1 column ",
		`{"expiration_date":1}`:                                "missing field `email` at line 1 column 21",
		`not json`:                                             "expected value at line 1 column ",
	} {
		r := call(t, http.MethodPost, url, admin, body)
		wantStatus(t, r, http.StatusBadRequest)
		if !strings.HasPrefix(string(r.body), want) {
			t.Errorf("POST %q: %q, want %q", body, r.body, want)
		}
	}

	// DELETE takes a JSON body.
	r = call(t, http.MethodDelete, url, admin, `{"email":"nobody@example.com"}`)
	wantStatus(t, r, http.StatusBadRequest)
	if string(r.body) != "The email (nobody@example.com) don't exist" {
		t.Fatalf("body %q", r.body)
	}
	wantStatus(t, call(t, http.MethodDelete, url, admin, `{"email":"`+target.Email+`"}`), http.StatusOK)
	if len(sb.QueryServerUserTokens()) != 5 {
		t.Fatal("DELETE kept the row")
	}
	// POST with no expiration_date: now, which means "never expires".
	r = call(t, http.MethodPost, url, admin, `{"email":"`+target.Email+`"}`)
	wantStatus(t, r, http.StatusCreated)
	toks := sb.QueryServerUserTokens()
	created := toks[len(toks)-1]
	if created.UserUUID != target.UUID || created.Write != 1 || created.ExpirationDate != created.UpdatedAt || created.ID <= before.ID {
		t.Fatalf("created %+v", created)
	}

	// PUT defaults: write true, expiration_date now; the JWT is re-minted.
	adminRow := sb.QueryServerUserTokens()[0]
	r = call(t, http.MethodPut, url, admin, `{"email":"admin@example.com","write":false}`)
	wantStatus(t, r, http.StatusOK)
	after := sb.QueryServerUserTokens()[0]
	if after.Write != 0 || after.UpdatedAt <= adminRow.UpdatedAt || after.ExpirationDate < adminRow.UpdatedAt {
		t.Fatalf("after PUT %+v (before %+v)", after, adminRow)
	}
	// The old admin token no longer exists, and the re-minted one carries
	// the old updated_at as iat: neither validates (the upstream trigger bug).
	wantStatus(t, call(t, http.MethodGet, url, admin, ""), http.StatusUnauthorized)
}

func TestQueryServerUsersAndTokens(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	auth := bearerOf(sb.QueryServerAdminToken())
	r := call(t, http.MethodGet, srv.URL+"/query/_/user", auth, "")
	wantStatus(t, r, http.StatusOK)
	var users struct{ Data []map[string]any }
	r.json(t, &users)
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if len(users.Data) != len(sb.QueryServerUsers()) {
		t.Fatal("user count")
	}
	for _, u := range users.Data {
		if len(u) != 8 || !phc.MatchString(u["password"].(string)) {
			t.Errorf("user row %v", u)
		}
		if _, ok := u["admin"].(json.Number); !ok {
			t.Errorf("admin is %T", u["admin"])
		}
	}
	r = call(t, http.MethodGet, srv.URL+"/query/_/token", auth, "")
	wantStatus(t, r, http.StatusOK)
	var toks struct{ Data []map[string]any }
	r.json(t, &toks)
	if len(toks.Data) != len(sb.QueryServerTokens()) || len(toks.Data) == 0 {
		t.Fatalf("%d standalone tokens", len(toks.Data))
	}
	// Standalone tokens are never admin.
	tok := toks.Data[0]["token"].(string)
	wantStatus(t, call(t, http.MethodGet, srv.URL+"/query/_/token", bearerOf(tok), ""), http.StatusUnauthorized)

	// Creating a user swaps admin and active, as upstream binds them crosswise.
	r = call(t, http.MethodPost, srv.URL+"/query/_/user", auth, `{"email":"swap@example.com","password":"pw","admin":false,"active":true}`)
	wantStatus(t, r, http.StatusCreated)
	all := sb.QueryServerUsers()
	u := all[len(all)-1]
	if u.Email != "swap@example.com" || u.Admin != 1 || u.Active != 0 {
		t.Fatalf("created user %+v", u)
	}
	if toks := sb.QueryServerUserTokens(); toks[len(toks)-1].UserUUID != u.UUID {
		t.Fatal("the insert trigger gave the new user no token")
	}
}
