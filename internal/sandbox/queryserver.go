package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

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

func (s *Sandbox) serveQueryServer(r *http.Request, path string, body []byte) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	if !d.qsAdmin(r.Header.Get("Authorization")) {
		return newResponse(http.StatusUnauthorized, nil)
	}
	switch {
	case path == "/_/user/token" && r.Method == http.MethodGet:
		rows := make([]map[string]any, 0, len(d.qsTokens))
		for _, t := range d.qsTokens {
			rows = append(rows, map[string]any{"id": t.ID, "user_uuid": t.UserUUID, "token": t.Token,
				"expiration_date": t.ExpirationDate, "active": boolInt(t.Active), "write": boolInt(t.Write),
				"created_at": t.CreatedAt, "updated_at": t.UpdatedAt})
		}
		return qsJSON(map[string]any{"data": rows})
	case path == "/_/user" && r.Method == http.MethodGet:
		rows := make([]map[string]any, 0, len(d.qsUsers))
		for _, u := range d.qsUsers {
			rows = append(rows, map[string]any{"id": u.ID, "uuid": u.UUID, "email": u.Email, "password": u.PasswordHash,
				"admin": boolInt(u.Admin), "active": boolInt(u.Active), "created_at": u.CreatedAt, "updated_at": u.UpdatedAt})
		}
		return qsJSON(map[string]any{"data": rows})
	case path == "/_/user/token" && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodDelete):
		return s.qsWrite(r.Method, body)
	}
	return qsText(http.StatusNotFound, "404 Not Found")
}

// qsAdmin applies the server's validity rule to a bearer credential: a user token row
// with that value, active, whose iat equals its updated_at, unexpired (in seconds)
// or never expiring, of an active admin. The scheme word is not checked.
func (d *data) qsAdmin(header string) bool {
	_, token, ok := strings.Cut(header, " ")
	if !ok || token == "" {
		return false
	}
	now := time.Now().Unix()
	for _, t := range d.qsTokens {
		if t.Token != token {
			continue
		}
		valid := t.Active && t.iat == t.UpdatedAt && (t.ExpirationDate > now || t.ExpirationDate == t.UpdatedAt)
		for _, u := range d.qsUsers {
			if u.UUID == t.UserUUID {
				return valid && u.Admin && u.Active
			}
		}
	}
	return false
}

// qsWrite is POST (create), PUT (update) and DELETE (body {email}) of /_/user/token.
func (s *Sandbox) qsWrite(method string, body []byte) *response {
	d := s.d
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
	u := d.qsUserByEmail(*in.Email)
	now := time.Now().Unix()
	if method == http.MethodDelete {
		if u == nil {
			return qsText(http.StatusBadRequest, "The email ("+*in.Email+") don't exist")
		}
		if i := d.qsTokenOf(u.UUID); i >= 0 {
			d.qsTokens = append(d.qsTokens[:i], d.qsTokens[i+1:]...)
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
	i := d.qsTokenOf(u.UUID)
	if method == http.MethodPost {
		if i < 0 { // INSERT OR IGNORE: a user who has a token keeps it, and the answer is the same
			d.qsNextID++
			d.qsTokens = append(d.qsTokens, QueryServerUserToken{ID: d.qsNextID, UserUUID: u.UUID, ExpirationDate: exp,
				Active: true, Write: write, CreatedAt: now, UpdatedAt: now, iat: now, Token: s.mint(jwt(s.rng, exp, now))})
		}
		return newResponse(http.StatusCreated, nil)
	}
	if i >= 0 {
		t := &d.qsTokens[i]
		// The update trigger re-mints the token with the previous updated_at as iat,
		// then moves updated_at to now: the new token validates only if both fall in
		// the same second (upstream-apis.md 2.7).
		t.iat, t.UpdatedAt, t.ExpirationDate, t.Write = t.UpdatedAt, now, exp, write
		if in.ExpirationDate == nil {
			t.ExpirationDate = now
		}
		t.Token = s.mint(jwt(s.rng, t.ExpirationDate, t.iat))
	}
	return newResponse(http.StatusOK, nil)
}
