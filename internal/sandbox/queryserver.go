package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// queryOptional: the only nullable columns are the timestamps.
var queryOptional = optionalKeys{"data": {"created_at", "updated_at"}}

// Query Server answers: plain text, no Content-Type (added by decorate).
func queryText(status int, text string) *response { return newResponse(status, []byte(text)) }
func queryNotFound() *response                    { return queryText(http.StatusNotFound, "404 Not Found") }
func queryUnauthorized() *response                { return queryText(http.StatusUnauthorized, "") }
func queryBadRequest(msg string) *response        { return queryText(http.StatusBadRequest, msg) }
func queryInternal() *response {
	return queryText(http.StatusInternalServerError, "Internal Server Error")
}

// queryStatusError is what the server's error mapping sends for a status.
func queryStatusError(status int) *response {
	switch status {
	case http.StatusBadRequest:
		return queryBadRequest("The body is empty")
	case http.StatusUnauthorized, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return queryText(status, "")
	case http.StatusNotFound:
		return queryNotFound()
	case http.StatusInternalServerError:
		return queryInternal()
	}
	// Statuses the server never produces (a proxy in front might): hyper's
	// canonical "<code> <reason>" text.
	return queryText(status, strconv.Itoa(status)+" "+http.StatusText(status))
}

// serveQuery routes like the server: the path is split on "/" with empty
// segments dropped, so "/_/user//token/" is the same route as "/_/user/token".
func (s *Sandbox) serveQuery(r *http.Request, path string) *response {
	var segs []string
	for _, p := range strings.Split(path, "/") {
		if p != "" {
			segs = append(segs, p)
		}
	}
	if len(segs) < 2 || segs[0] != "_" {
		return queryNotFound()
	}
	segs = segs[1:]
	if r.Method == http.MethodGet {
		s.mu.RLock()
		defer s.mu.RUnlock()
	} else {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	st := s.query
	tokenRoute := []string{"user", "token"}
	if s.cfg.QueryServerTokenPath == "/_/user-token" {
		tokenRoute = []string{"user-token"}
	}
	if len(segs) >= len(tokenRoute) && slices.Equal(segs[:len(tokenRoute)], tokenRoute) {
		return st.userTokenRoute(r, segs[len(tokenRoute):])
	}
	switch segs[0] {
	case "user":
		if len(segs) == 1 {
			return st.userRoute(r)
		}
	case "token":
		return st.tokenRoute(r, segs[1:])
	}
	return queryNotFound()
}

func (st *queryState) option(name string) *response {
	switch st.options[name] {
	case "1":
		return nil
	case "0":
		return queryNotFound()
	}
	return queryInternal()
}

// bearer takes the second space-separated word of the header, never
// checking the first, as the server does.
func bearer(r *http.Request) (string, bool) {
	parts := strings.Split(r.Header.Get("Authorization"), " ")
	if len(parts) < 2 || parts[1] == "" {
		return "", false
	}
	return parts[1], true
}

// admin runs the server's checks in its order: feature switches (404),
// then the token (401 with an empty body for anything short of a valid
// admin user token).
func (st *queryState) admin(r *http.Request, options ...string) *response {
	for _, o := range options {
		if resp := st.option(o); resp != nil {
			return resp
		}
	}
	token, ok := bearer(r)
	if !ok || !st.isAdmin(token, time.Now().Unix()) {
		return queryUnauthorized()
	}
	return nil
}

func (st *queryState) userTokenRoute(r *http.Request, sub []string) *response {
	list := len(sub) == 0
	value := len(sub) == 1 && sub[0] == "value"
	switch {
	case r.Method == http.MethodGet && list:
		if resp := st.admin(r, "create_user", "create_token"); resp != nil {
			return resp
		}
		return st.listUserTokens()
	case r.Method == http.MethodPost && list:
		if resp := st.admin(r, "create_user", "create_token"); resp != nil {
			return resp
		}
		v, resp := serdeBody(r, "CreateUserTokenOptions", fString("email"), fI64("expiration_date"), fBool("write"))
		if resp != nil {
			return resp
		}
		u := st.userByEmail(v.str["email"])
		if u == nil {
			return queryBadRequest("There user do not exists")
		}
		now := time.Now().Unix()
		exp, write, resp := expiryAndWrite(v, now)
		if resp != nil {
			return resp
		}
		if st.tokenOfUser(u.UUID) != nil {
			return queryText(http.StatusCreated, "") // INSERT OR IGNORE: silently nothing
		}
		// The JWT is minted with exp = now whatever expiration_date says, so
		// a token created with an explicit date does not validate (upstream).
		st.nextUToken++
		t := &qsUserToken{QueryServerUserToken: QueryServerUserToken{ID: st.nextUToken, UserUUID: u.UUID,
			ExpirationDate: exp, Active: 1, Write: write, CreatedAt: now, UpdatedAt: now}}
		t.token = st.jwt(st.mint, "user_token", now, now)
		st.addSecret(t.token, true)
		st.userTokens = append(st.userTokens, t)
		return queryText(http.StatusCreated, "")
	case r.Method == http.MethodGet && value:
		if resp := st.admin(r, "create_user", "create_token"); resp != nil {
			return resp
		}
		if r.URL.RawQuery == "" {
			return queryBadRequest("Missing query string")
		}
		q := r.URL.Query()
		if !q.Has("email") {
			return queryBadRequest("Missing query string: email")
		}
		return st.userTokenValue(q.Get("email"))
	case r.Method == http.MethodPost && value:
		for _, o := range []string{"create_user", "create_token"} {
			if resp := st.option(o); resp != nil {
				return resp
			}
		}
		v, resp := serdeBody(r, "GetUserTokenValueWithoutTokenOptions", fString("email"), fString("password"))
		if resp != nil {
			return resp
		}
		u := st.userByEmail(v.str["email"])
		if u == nil || u.Active != 1 || !checkPassword(u.hash, v.str["password"]) {
			return queryBadRequest("The email or password is not correct.")
		}
		return st.userTokenValue(u.Email)
	case r.Method == http.MethodDelete && list:
		if resp := st.admin(r, "create_user", "create_token"); resp != nil {
			return resp
		}
		v, resp := serdeBody(r, "DeleteUserTokenOptions", fString("email"))
		if resp != nil {
			return resp
		}
		u := st.userByEmail(v.str["email"])
		if u == nil {
			return queryBadRequest(fmt.Sprintf("The email (%s) don't exist", v.str["email"]))
		}
		for i, t := range st.userTokens {
			if t.UserUUID == u.UUID {
				st.userTokens = append(st.userTokens[:i], st.userTokens[i+1:]...)
				break
			}
		}
		return queryText(http.StatusOK, "")
	case r.Method == http.MethodPut && list:
		if resp := st.admin(r, "create_user", "create_token"); resp != nil {
			return resp
		}
		v, resp := serdeBody(r, "UpdateUserTokenOptions", fString("email"), fI64("expiration_date"), fBool("write"))
		if resp != nil {
			return resp
		}
		now := time.Now().Unix()
		exp, write, resp := expiryAndWrite(v, now)
		if resp != nil {
			return resp
		}
		if u := st.userByEmail(v.str["email"]); u != nil {
			if t := st.tokenOfUser(u.UUID); t != nil {
				t.ExpirationDate, t.Write = exp, write
				st.afterUpdate(&t.token, "user_token", t.ExpirationDate, &t.UpdatedAt, now)
			}
		}
		return queryText(http.StatusOK, "")
	}
	return queryNotFound()
}

// expiryAndWrite applies the user-token defaults: an omitted
// expiration_date is "now" in seconds (so the token never expires), an
// omitted write is true, and a date before now (in seconds) is refused.
func expiryAndWrite(v serdeValues, now int64) (int64, int, *response) {
	exp := now
	if e, ok := v.i64["expiration_date"]; ok {
		if e < now {
			return 0, 0, queryBadRequest("The expiration_date must be greater than current time")
		}
		exp = e
	}
	write := 1
	if w, ok := v.boolean["write"]; ok && !w {
		write = 0
	}
	return exp, write, nil
}

// afterUpdate is the AFTER UPDATE trigger: it re-mints the JWT with iat set
// to the row's previous updated_at, then sets updated_at to now. The JWT's
// iat and the row then disagree unless both fall in the same second, so an
// updated token stops validating (a likely upstream bug, kept on purpose).
func (st *queryState) afterUpdate(token *string, iss string, exp int64, updatedAt *int64, now int64) {
	*token = st.jwt(st.mint, iss, exp, *updatedAt)
	st.addSecret(*token, true)
	*updatedAt = now
}

func (st *queryState) userTokenValue(email string) *response {
	b := []byte(`{"data":[`)
	if u := st.userByEmail(email); u != nil {
		if t := st.tokenOfUser(u.UUID); t != nil {
			b = append(b, `{"token":`...)
			b = appendString(b, t.token)
			b = append(b, '}')
		}
	}
	return newResponse(http.StatusOK, append(b, "]}"...))
}

type qsColumn struct {
	key string
	app func(b []byte) []byte
}

// appendRow writes a row's columns in a random order, as the server's
// HashMap-built rows come out.
func appendRow(b []byte, cols []qsColumn) []byte {
	for i := len(cols) - 1; i > 0; i-- {
		j := rand.IntN(i + 1)
		cols[i], cols[j] = cols[j], cols[i]
	}
	b = append(b, '{')
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendKey(b, c.key)
		b = c.app(b)
	}
	return append(b, '}')
}

func intCol(k string, v int64) qsColumn {
	return qsColumn{k, func(b []byte) []byte { return appendInt(b, v) }}
}

func strCol(k, v string) qsColumn {
	return qsColumn{k, func(b []byte) []byte { return appendString(b, v) }}
}

func (st *queryState) listUserTokens() *response {
	b := []byte(`{"data":[`)
	for i, t := range st.userTokens {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRow(b, []qsColumn{
			intCol("id", t.ID), strCol("user_uuid", t.UserUUID), strCol("token", t.token),
			intCol("expiration_date", t.ExpirationDate), intCol("active", int64(t.Active)),
			intCol("write", int64(t.Write)), intCol("created_at", t.CreatedAt), intCol("updated_at", t.UpdatedAt),
		})
	}
	return newResponse(http.StatusOK, append(b, "]}"...))
}

func (st *queryState) listTokens() *response {
	b := []byte(`{"data":[`)
	for i, t := range st.tokens {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRow(b, []qsColumn{
			intCol("id", t.ID), strCol("name", t.Name), strCol("token", t.token),
			intCol("expiration_date", t.ExpirationDate), intCol("active", int64(t.Active)),
			intCol("write", int64(t.Write)), intCol("created_at", t.CreatedAt), intCol("updated_at", t.UpdatedAt),
		})
	}
	return newResponse(http.StatusOK, append(b, "]}"...))
}

func (st *queryState) listUsers() *response {
	b := []byte(`{"data":[`)
	for i, u := range st.users {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRow(b, []qsColumn{
			intCol("id", u.ID), strCol("uuid", u.UUID), strCol("email", u.Email), strCol("password", u.hash),
			intCol("admin", int64(u.Admin)), intCol("active", int64(u.Active)),
			intCol("created_at", u.CreatedAt), intCol("updated_at", u.UpdatedAt),
		})
	}
	return newResponse(http.StatusOK, append(b, "]}"...))
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

func (st *queryState) userRoute(r *http.Request) *response {
	switch r.Method {
	case http.MethodGet:
		if resp := st.admin(r, "create_user"); resp != nil {
			return resp
		}
		return st.listUsers()
	case http.MethodPost:
		if resp := st.admin(r, "create_user"); resp != nil {
			return resp
		}
		v, resp := serdeBody(r, "CreateUserOptions", fString("email"), fString("password"), fBool("admin"), fBool("active"))
		if resp != nil {
			return resp
		}
		if st.userByEmail(v.str["email"]) != nil {
			return queryText(http.StatusCreated, "") // INSERT OR IGNORE
		}
		admin, active := true, true
		if a, ok := v.boolean["admin"]; ok {
			admin = a
		}
		if a, ok := v.boolean["active"]; ok {
			active = a
		}
		now := time.Now().Unix()
		// Upstream binds :active to the admin column and :admin to active.
		u := st.addUser(st.mint, v.str["email"], boolInt(active), boolInt(admin), now, v.str["password"])
		// The insert trigger gives every new user a non-expiring token.
		st.addUserToken(st.mint, u, now, now, now, 1, 1)
		return queryText(http.StatusCreated, "")
	case http.MethodDelete:
		if resp := st.admin(r, "create_user"); resp != nil {
			return resp
		}
		v, resp := serdeBody(r, "DeleteUserOptions", fString("email"))
		if resp != nil {
			return resp
		}
		u := st.userByEmail(v.str["email"])
		if u == nil {
			return queryBadRequest(fmt.Sprintf("The email (%s) don't exist", v.str["email"]))
		}
		for i, x := range st.users {
			if x == u {
				st.users = append(st.users[:i], st.users[i+1:]...)
				break
			}
		}
		// foreign_keys=1: the user's token goes with it.
		for i, t := range st.userTokens {
			if t.UserUUID == u.UUID {
				st.userTokens = append(st.userTokens[:i], st.userTokens[i+1:]...)
				break
			}
		}
		return queryText(http.StatusOK, "")
	case http.MethodPut:
		if resp := st.admin(r, "create_user"); resp != nil {
			return resp
		}
		v, resp := serdeBody(r, "UpdateUserOptions", fString("email"), fOptString("new_email"),
			fOptString("new_password"), fBool("admin"), fBool("active"))
		if resp != nil {
			return resp
		}
		u := st.userByEmail(v.str["email"])
		_, hasPwd := v.str["new_password"]
		_, hasAdmin := v.boolean["admin"]
		_, hasActive := v.boolean["active"]
		if u == nil {
			if !hasPwd || !hasAdmin || !hasActive {
				return queryInternal() // the lookup of a current value finds no row
			}
			return queryText(http.StatusOK, "")
		}
		if e, ok := v.str["new_email"]; ok {
			if other := st.userByEmail(e); other != nil && other != u {
				return queryInternal() // UNIQUE constraint
			}
			u.Email = e
		}
		if hasPwd {
			u.password = v.str["new_password"]
			u.hash = passwordHash(st.mint.bytes(16), u.password)
			st.addSecret(u.password, false)
			st.addSecret(u.hash, false)
		}
		if hasAdmin {
			u.Admin = boolInt(v.boolean["admin"])
		}
		if hasActive {
			u.Active = boolInt(v.boolean["active"])
		}
		u.UpdatedAt = time.Now().Unix()
		return queryText(http.StatusOK, "")
	}
	return queryNotFound()
}

func (st *queryState) tokenByName(name string) *qsToken {
	for _, t := range st.tokens {
		if t.Name == name {
			return t
		}
	}
	return nil
}

func (st *queryState) tokenRoute(r *http.Request, sub []string) *response {
	list := len(sub) == 0
	value := len(sub) == 1 && sub[0] == "value"
	if !(list || value) {
		return queryNotFound()
	}
	switch {
	case r.Method == http.MethodGet && list:
		if resp := st.admin(r, "create_token"); resp != nil {
			return resp
		}
		return st.listTokens()
	case r.Method == http.MethodGet && value:
		if resp := st.admin(r, "create_token"); resp != nil {
			return resp
		}
		if r.URL.RawQuery == "" {
			return queryBadRequest("Missing query string")
		}
		q := r.URL.Query()
		if !q.Has("name") {
			return queryBadRequest("Missing query string: name")
		}
		b := []byte(`{"data":[`)
		if t := st.tokenByName(q.Get("name")); t != nil {
			b = append(b, `{"token":`...)
			b = appendString(b, t.token)
			b = append(b, '}')
		}
		return newResponse(http.StatusOK, append(b, "]}"...))
	case r.Method == http.MethodPost && list:
		if resp := st.admin(r, "create_token"); resp != nil {
			return resp
		}
		v, resp := serdeBody(r, "CreateTokenOptions", fString("name"), fI64("expiration_date"), fBool("active"), fBool("write"))
		if resp != nil {
			return resp
		}
		now := time.Now().Unix()
		exp := now
		if e, ok := v.i64["expiration_date"]; ok {
			if e < now {
				return queryBadRequest("The expiration_date must be greater than current time")
			}
			exp = e
		}
		if st.tokenByName(v.str["name"]) != nil {
			return queryText(http.StatusCreated, "") // INSERT OR IGNORE
		}
		active, write := 1, 1
		if a, ok := v.boolean["active"]; ok {
			active = boolInt(a)
		}
		if w, ok := v.boolean["write"]; ok {
			write = boolInt(w)
		}
		st.nextToken++
		t := &qsToken{QueryServerToken: QueryServerToken{ID: st.nextToken, Name: v.str["name"], ExpirationDate: exp,
			Active: active, Write: write, CreatedAt: now, UpdatedAt: now}}
		t.token = st.jwt(st.mint, "token", exp, now)
		st.addSecret(t.token, true)
		st.tokens = append(st.tokens, t)
		return queryText(http.StatusCreated, "")
	case r.Method == http.MethodDelete && list:
		if resp := st.admin(r, "create_token"); resp != nil {
			return resp
		}
		v, resp := serdeBody(r, "DeleteTokenOptions", fString("name"))
		if resp != nil {
			return resp
		}
		for i, t := range st.tokens {
			if t.Name == v.str["name"] {
				st.tokens = append(st.tokens[:i], st.tokens[i+1:]...)
				break
			}
		}
		return queryText(http.StatusOK, "") // a missing name is fine too
	case r.Method == http.MethodPut && list:
		if resp := st.admin(r, "create_token"); resp != nil {
			return resp
		}
		v, resp := serdeBody(r, "UpdateTokenOptions", fString("name"), fI64("expiration_date"), fBool("active"), fBool("write"))
		if resp != nil {
			return resp
		}
		t := st.tokenByName(v.str["name"])
		_, hasExp := v.i64["expiration_date"]
		_, hasActive := v.boolean["active"]
		_, hasWrite := v.boolean["write"]
		if t == nil {
			if !hasExp || !hasActive || !hasWrite {
				return queryInternal() // the lookup of a current value finds no row
			}
			return queryText(http.StatusOK, "")
		}
		// Omitted fields keep their values; no past-date check here.
		if hasExp {
			t.ExpirationDate = v.i64["expiration_date"]
		}
		if hasActive {
			t.Active = boolInt(v.boolean["active"])
		}
		if hasWrite {
			t.Write = boolInt(v.boolean["write"])
		}
		st.afterUpdate(&t.token, "token", t.ExpirationDate, &t.UpdatedAt, time.Now().Unix())
		return queryText(http.StatusOK, "")
	}
	return queryNotFound()
}

// serde emulation: the server decodes bodies with serde_json into typed
// structs. Unknown keys are ignored; a wrong type, a missing required field
// or a syntax error is a 400 whose text mimics serde's message.

type serdeField struct {
	name     string
	kind     string // "string", "i64", "bool"
	optional bool
}

func fString(n string) serdeField    { return serdeField{n, "string", false} }
func fOptString(n string) serdeField { return serdeField{n, "string", true} }
func fI64(n string) serdeField       { return serdeField{n, "i64", true} }
func fBool(n string) serdeField      { return serdeField{n, "bool", true} }

type serdeValues struct {
	str     map[string]string
	i64     map[string]int64
	boolean map[string]bool
}

func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, 1<<20))
}

func serdeBody(r *http.Request, structName string, fields ...serdeField) (serdeValues, *response) {
	raw, err := readBody(r)
	if err != nil {
		return serdeValues{}, queryInternal()
	}
	if len(raw) == 0 {
		return serdeValues{}, queryBadRequest("The body is empty")
	}
	if !utf8.Valid(raw) {
		return serdeValues{}, queryInternal()
	}
	// The server strips every control character (newlines included) before
	// parsing, so everything is on line 1.
	body := strings.Map(func(r rune) rune {
		if r < 0x20 {
			return -1
		}
		return r
	}, string(raw))
	v, msg := parseSerde(body, structName, fields)
	if msg != "" {
		return serdeValues{}, queryBadRequest(msg)
	}
	return v, nil
}

func describeSerde(tok any) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("boolean `%t`", t)
	case string:
		return fmt.Sprintf("string %q", t)
	case json.Number:
		if _, err := t.Int64(); err == nil {
			return fmt.Sprintf("integer `%s`", t)
		}
		return fmt.Sprintf("floating point `%s`", t)
	case json.Delim:
		if t == '[' {
			return "sequence"
		}
		return "map"
	}
	return "value"
}

func parseSerde(body, structName string, fields []serdeField) (serdeValues, string) {
	v := serdeValues{str: map[string]string{}, i64: map[string]int64{}, boolean: map[string]bool{}}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	at := func() string { return fmt.Sprintf(" at line 1 column %d", dec.InputOffset()) }
	syntax := func(err error) string {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Sprintf("expected value at line 1 column %d", se.Offset)
		}
		return fmt.Sprintf("EOF while parsing a value at line 1 column %d", len(body))
	}
	tok, err := dec.Token()
	if err != nil {
		return v, syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return v, fmt.Sprintf("invalid type: %s, expected struct %s%s", describeSerde(tok), structName, at())
	}
	byName := map[string]serdeField{}
	for _, f := range fields {
		byName[f.name] = f
	}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return v, syntax(err)
		}
		key, _ := kt.(string)
		f, known := byName[key]
		if !known {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return v, syntax(err)
			}
			continue
		}
		if seen[key] {
			return v, fmt.Sprintf("duplicate field `%s`%s", key, at())
		}
		seen[key] = true
		vt, err := dec.Token()
		if err != nil {
			return v, syntax(err)
		}
		if d, ok := vt.(json.Delim); ok {
			// Consume the nested value so the reported column is past it.
			depth := 1
			for depth > 0 {
				t, err := dec.Token()
				if err != nil {
					return v, syntax(err)
				}
				if dd, ok := t.(json.Delim); ok {
					if dd == '{' || dd == '[' {
						depth++
					} else {
						depth--
					}
				}
			}
			_ = d
		}
		if vt == nil && (f.optional || f.kind != "string") {
			continue // Option<T>: null is None
		}
		want := map[string]string{"string": "a string", "i64": "i64", "bool": "a boolean"}[f.kind]
		bad := fmt.Sprintf("invalid type: %s, expected %s%s", describeSerde(vt), want, at())
		switch f.kind {
		case "string":
			s, ok := vt.(string)
			if !ok {
				return v, bad
			}
			v.str[key] = s
		case "i64":
			n, ok := vt.(json.Number)
			if !ok {
				return v, bad
			}
			i, err := n.Int64()
			if err != nil {
				if f, ferr := n.Float64(); ferr == nil && f == math.Trunc(f) && !strings.ContainsAny(string(n), ".eE") {
					return v, fmt.Sprintf("invalid value: integer `%s`, expected i64%s", n, at())
				}
				return v, bad
			}
			v.i64[key] = i
		case "bool":
			b, ok := vt.(bool)
			if !ok {
				return v, bad
			}
			v.boolean[key] = b
		}
	}
	if _, err := dec.Token(); err != nil {
		return v, syntax(err)
	}
	for _, f := range fields {
		if !f.optional && !seen[f.name] {
			return v, fmt.Sprintf("missing field `%s`%s", f.name, at())
		}
	}
	if rest := strings.TrimSpace(body[dec.InputOffset():]); rest != "" {
		return v, fmt.Sprintf("trailing characters at line 1 column %d", dec.InputOffset()+1)
	}
	return v, ""
}
