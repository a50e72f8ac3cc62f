package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// vercelRateLimit is what X-RateLimit-Limit reports per token and minute.
// It is reported, not enforced: a benchmark walking 1,000 pages must not hit
// it, and 429s are injected with faults instead.
const (
	vercelRateLimit  = 10000
	vercelRateWindow = time.Minute
)

// vercelOptional lists the keys the OpenAPI leaves optional, for the
// missing_optional and null_optional faults.
var vercelOptional = func() optionalKeys {
	token := []string{"prefix", "suffix", "origin", "scopes", "expiresAt", "revokedAt", "leakedAt", "leakedUrl"}
	scope := []string{"origin", "expiresAt", "sudo"}
	sudo := []string{"verifiedAt"}
	return optionalKeys{
		"tokens": token, "tokens.scopes": scope, "tokens.scopes.sudo": sudo,
		"token": token, "token.scopes": scope, "token.scopes.sudo": sudo,
		"user":  {"name", "avatar", "defaultTeamId", "softBlock"},
		"error": {"invalidToken", "limit"},
	}
}()

func vercelError(status int, code, message string, extra func([]byte) []byte) *response {
	b := make([]byte, 0, 128)
	b = append(b, `{"error":{"code":`...)
	b = appendString(b, code)
	b = append(b, `,"message":`...)
	b = appendString(b, message)
	if extra != nil {
		b = extra(b)
	}
	b = append(b, "}}"...)
	return newResponse(status, b)
}

func vercelInvalidToken() *response {
	return vercelError(http.StatusForbidden, "forbidden", "Not authorized", func(b []byte) []byte {
		return append(b, `,"invalidToken":true`...)
	})
}

func vercelBadRequest(msg string) *response {
	return vercelError(http.StatusBadRequest, "bad_request", msg, nil)
}

func vercelNotFound(msg string) *response {
	return vercelError(http.StatusNotFound, "not_found", msg, nil)
}

// vercelStatusError is Vercel's own error envelope for an injected status.
func vercelStatusError(f *Fault) *response {
	switch f.Status {
	case http.StatusTooManyRequests:
		reset := time.Now().Unix() + int64(max(f.RateLimitReset, 1))
		resp := vercelError(http.StatusTooManyRequests, "too_many_requests", "Rate limit exceeded", func(b []byte) []byte {
			b = append(b, `,"limit":{"remaining":0,"reset":`...)
			b = appendInt(b, reset)
			b = append(b, `,"resetMs":`...)
			b = appendInt(b, reset*1000)
			b = append(b, `,"total":`...)
			b = appendInt(b, vercelRateLimit)
			return append(b, '}')
		})
		resp.header.Set("X-RateLimit-Limit", strconv.Itoa(vercelRateLimit))
		resp.header.Set("X-RateLimit-Remaining", "0")
		resp.header.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
		return resp
	case http.StatusForbidden:
		return vercelInvalidToken()
	case http.StatusBadRequest:
		return vercelBadRequest("Invalid request")
	case http.StatusUnauthorized:
		return vercelError(f.Status, "unauthorized", "The request is not authenticated", nil)
	case http.StatusNotFound:
		return vercelNotFound("The requested resource was not found")
	case http.StatusInternalServerError:
		return vercelError(f.Status, "internal_server_error", "An unexpected internal error occurred", nil)
	}
	return vercelError(f.Status, snakeStatus(f.Status), http.StatusText(f.Status), nil)
}

func (s *Sandbox) vercelRateHeaders(r *http.Request, resp *response) {
	if resp.header.Get("X-RateLimit-Remaining") != "" {
		return
	}
	st := s.vercelState()
	now := time.Now()
	key := r.Header.Get("Authorization")
	st.rlMu.Lock()
	w := st.rl[key]
	if w == nil || !now.Before(w.reset) {
		if len(st.rl) > 10000 { // unbounded distinct keys would grow forever
			clear(st.rl)
		}
		w = &rateWindow{reset: now.Add(vercelRateWindow)}
		st.rl[key] = w
	}
	w.used++
	remaining, reset := max(vercelRateLimit-w.used, 0), w.reset.Unix()
	st.rlMu.Unlock()
	resp.header.Set("X-RateLimit-Limit", strconv.Itoa(vercelRateLimit))
	resp.header.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	resp.header.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
}

func (s *Sandbox) vercelState() *vercelState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.vercel
}

// vercelAuth resolves the caller. Vercel documents failed authentication
// as 403: a missing, unknown, revoked or expired token gets 403 forbidden
// with invalidToken. The sandbox answers 401 only for a header that is not
// a bearer credential at all (another scheme, e.g. "Basic ..."), the case
// the OpenAPI's "401 not authorized" plausibly covers.
func (st *vercelState) auth(r *http.Request) (VercelToken, *response) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return VercelToken{}, vercelInvalidToken()
	}
	scheme, secret, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return VercelToken{}, vercelError(http.StatusUnauthorized, "unauthorized",
			"The Authorization header must carry a Bearer token", nil)
	}
	id, ok := st.bearer[strings.TrimSpace(secret)]
	if !ok {
		return VercelToken{}, vercelInvalidToken()
	}
	t, ok := st.record(id)
	nowMs := time.Now().UnixMilli()
	if !ok || t.RevokedAt != 0 || (t.ExpiresAt != 0 && t.ExpiresAt <= nowMs) {
		return VercelToken{}, vercelInvalidToken()
	}
	return t, nil
}

func (s *Sandbox) serveVercel(r *http.Request, path, fault string) *response {
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if write {
		s.mu.Lock()
		defer s.mu.Unlock()
	} else {
		s.mu.RLock()
		defer s.mu.RUnlock()
	}
	st := s.vercel
	caller, errResp := st.auth(r)
	if errResp != nil {
		return errResp
	}
	const one = "/v5/user/tokens/"
	const del = "/v3/user/tokens/"
	switch {
	case path == "/v6/user/tokens" && r.Method == http.MethodGet:
		return s.vercelList(r, fault)
	case strings.HasPrefix(path, one) && r.Method == http.MethodGet:
		id, ok := pathID(path[len(one):])
		if !ok {
			break
		}
		return st.get(caller, id)
	case path == "/v2/user" && r.Method == http.MethodGet:
		return st.user()
	case path == "/v3/user/tokens" && r.Method == http.MethodPost:
		return s.vercelCreate(r, caller)
	case strings.HasPrefix(path, del) && r.Method == http.MethodDelete:
		id, ok := pathID(path[len(del):])
		if !ok {
			break
		}
		return st.delete(caller, id)
	}
	return vercelNotFound("The requested API endpoint was not found")
}

// pathID unescapes one escaped path segment; a "/" in the escaped form
// means more segments, which no token route has.
func pathID(seg string) (string, bool) {
	if seg == "" || strings.Contains(seg, "/") {
		return "", false
	}
	id, err := url.PathUnescape(seg)
	return id, err == nil
}

func appendVercelToken(b []byte, t *VercelToken) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, t.ID)
	b = append(b, `,"name":`...)
	b = appendString(b, t.Name)
	b = append(b, `,"type":`...)
	b = appendString(b, t.Type)
	if t.Prefix != "" {
		b = append(b, `,"prefix":`...)
		b = appendString(b, t.Prefix)
	}
	if t.Suffix != "" {
		b = append(b, `,"suffix":`...)
		b = appendString(b, t.Suffix)
	}
	if t.Origin != "" {
		b = append(b, `,"origin":`...)
		b = appendString(b, t.Origin)
	}
	if t.Scopes != nil {
		b = append(b, `,"scopes":[`...)
		for i := range t.Scopes {
			if i > 0 {
				b = append(b, ',')
			}
			sc := &t.Scopes[i]
			b = append(b, `{"type":`...)
			b = appendString(b, sc.Type)
			if sc.TeamID != "" {
				b = append(b, `,"teamId":`...)
				b = appendString(b, sc.TeamID)
			}
			if sc.Origin != "" {
				b = append(b, `,"origin":`...)
				b = appendString(b, sc.Origin)
			}
			b = append(b, `,"createdAt":`...)
			b = appendInt(b, sc.CreatedAt)
			if sc.ExpiresAt != 0 {
				b = append(b, `,"expiresAt":`...)
				b = appendInt(b, sc.ExpiresAt)
			}
			if sc.Sudo != nil {
				b = append(b, `,"sudo":{"origin":`...)
				b = appendString(b, sc.Sudo.Origin)
				if sc.Sudo.VerifiedAt != 0 {
					b = append(b, `,"verifiedAt":`...)
					b = appendInt(b, sc.Sudo.VerifiedAt)
				}
				b = append(b, `,"expiresAt":`...)
				b = appendInt(b, sc.Sudo.ExpiresAt)
				b = append(b, '}')
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"createdAt":`...)
	b = appendInt(b, t.CreatedAt)
	b = append(b, `,"activeAt":`...)
	b = appendInt(b, t.ActiveAt)
	for _, f := range [...]struct {
		key string
		v   int64
	}{{"expiresAt", t.ExpiresAt}, {"revokedAt", t.RevokedAt}, {"leakedAt", t.LeakedAt}} {
		if f.v != 0 {
			b = append(b, ',')
			b = appendKey(b, f.key)
			b = appendInt(b, f.v)
		}
	}
	if t.LeakedURL != "" {
		b = append(b, `,"leakedUrl":`...)
		b = appendString(b, t.LeakedURL)
	}
	return append(b, '}')
}

// Cursors. A numeric cursor is a createdAt in ms: the next page holds the
// tokens created strictly before it. A string cursor is opaque: standard
// base64 (with "+", "/" and "=", so a client that forgets to escape the
// query value breaks) of a version tag, createdAt and id; it resumes exactly
// after that token, even among equal createdAt values.
type cursorKind int

const (
	cursorNone cursorKind = iota
	cursorNumber
	cursorString
)

type cursor struct {
	kind      cursorKind
	number    float64
	createdAt int64
	id        string
}

func encodeStringCursor(createdAt int64, id string) string {
	return base64.StdEncoding.EncodeToString([]byte("tok.v1|" + strconv.FormatInt(createdAt, 10) + "|" + id))
}

func parseCursor(v string) (cursor, bool) {
	if v == "" {
		return cursor{}, true
	}
	// Vercel is JavaScript: a numeric cursor is whatever Number() accepts.
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !strings.ContainsAny(v, "xX_") {
		return cursor{kind: cursorNumber, number: f}, true
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return cursor{}, false
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 || parts[0] != "tok.v1" {
		return cursor{}, false
	}
	c, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return cursor{}, false
	}
	return cursor{kind: cursorString, createdAt: c, id: parts[2]}, true
}

// start finds the first token after the cursor by binary search.
func (st *vercelState) start(c cursor) int {
	toks := st.tokens
	switch c.kind {
	case cursorNumber:
		return sort.Search(len(toks), func(i int) bool { return float64(toks[i].CreatedAt) < c.number })
	case cursorString:
		return sort.Search(len(toks), func(i int) bool {
			t := &toks[i]
			return t.CreatedAt < c.createdAt || (t.CreatedAt == c.createdAt && t.ID > c.id)
		})
	}
	return 0
}

func (s *Sandbox) vercelList(r *http.Request, fault string) *response {
	st := s.vercel
	q := r.URL.Query()
	limit := 20
	if q.Has("limit") {
		v := q.Get("limit")
		f, err := strconv.ParseFloat(v, 64)
		switch {
		case err != nil || math.IsNaN(f):
			return vercelBadRequest("Invalid request: query.limit should be number.")
		case f != math.Trunc(f):
			return vercelBadRequest("Invalid request: query.limit should be integer.")
		case f < 1:
			return vercelBadRequest("Invalid request: query.limit should be >= 1.")
		case f > 100:
			return vercelBadRequest("Invalid request: query.limit should be <= 100.")
		}
		limit = int(f)
	}
	until := q.Get("until")
	cur, ok := parseCursor(until)
	if !ok {
		return vercelBadRequest("Invalid request: query.until is not a valid cursor.")
	}
	toks := st.tokens
	pb := pooledBody()
	b := *pb
	if len(toks) == 0 {
		// The empty account's pagination is {} (as in the CLI's own fixture).
		b = append(b, `{"tokens":[],"pagination":{}}`...)
		return &response{status: http.StatusOK, header: http.Header{}, body: b, pooled: pb}
	}
	start := st.start(cur)
	size := limit
	if fault == "oversized_page" {
		size = 5 * limit
	}
	end := min(start+size, len(toks))
	stringCursor := s.cfg.VercelCursor == "string" || (s.cfg.VercelCursor == "mixed" && cur.kind == cursorNumber)
	appendCursor := func(b []byte, t *VercelToken) []byte {
		if stringCursor {
			return appendString(b, encodeStringCursor(t.CreatedAt, t.ID))
		}
		return appendInt(b, t.CreatedAt)
	}
	// A cursor that yields this same page again: the one sent, or for the
	// first page one just above the newest token.
	appendSameCursor := func(b []byte) []byte {
		switch cur.kind {
		case cursorNumber:
			return strconv.AppendFloat(b, cur.number, 'f', -1, 64)
		case cursorString:
			return appendString(b, until)
		}
		if stringCursor {
			return appendString(b, encodeStringCursor(toks[0].CreatedAt+1, ""))
		}
		return appendInt(b, toks[0].CreatedAt+1)
	}
	if fault == "empty_page_with_next" {
		end = start
	}
	b = append(b, `{"tokens":[`...)
	for i := start; i < end; i++ {
		if i > start {
			b = append(b, ',')
		}
		b = appendVercelToken(b, &toks[i])
	}
	b = append(b, `],"pagination":{"count":`...)
	b = strconv.AppendInt(b, int64(end-start), 10)
	b = append(b, `,"next":`...)
	switch {
	case fault == "repeat_cursor" || fault == "empty_page_with_next":
		b = appendSameCursor(b)
	case end < len(toks):
		b = appendCursor(b, &toks[end-1])
	default:
		b = append(b, "null"...)
	}
	b = append(b, `,"prev":`...)
	if end > start {
		b = appendCursor(b, &toks[start])
	} else {
		b = append(b, "null"...)
	}
	b = append(b, "}}"...)
	return &response{status: http.StatusOK, header: http.Header{}, body: b, pooled: pb}
}

func (st *vercelState) get(caller VercelToken, id string) *response {
	t := caller
	if id != "current" {
		var ok bool
		if t, ok = st.record(id); !ok {
			return vercelNotFound("Token not found")
		}
	}
	b := []byte(`{"token":`)
	b = appendVercelToken(b, &t)
	return newResponse(http.StatusOK, append(b, '}'))
}

func (st *vercelState) user() *response {
	a := st.account
	b := []byte(`{"user":{"id":`)
	b = appendString(b, a.ID)
	b = append(b, `,"email":`...)
	b = appendString(b, a.Email)
	b = append(b, `,"name":`...)
	b = appendString(b, a.Name)
	b = append(b, `,"username":`...)
	b = appendString(b, a.Username)
	b = append(b, `,"avatar":null,"defaultTeamId":`...)
	b = appendString(b, a.DefaultTeamID)
	b = append(b, `,"createdAt":`...)
	b = appendInt(b, st.accountCreatedAt)
	b = append(b, `,"softBlock":null,"version":"northstar"}}`...)
	return newResponse(http.StatusOK, b)
}

func (s *Sandbox) vercelCreate(r *http.Request, caller VercelToken) *response {
	st := s.vercel
	// Only a token that can act as the user may mint tokens (the CLI shows
	// this 403 for team-restricted tokens).
	if caller.Scopes != nil && !hasUserScope(caller.Scopes) {
		return vercelError(http.StatusForbidden, "forbidden",
			"To create a token you must be authenticated to scope your personal account", nil)
	}
	var body map[string]json.RawMessage
	raw, _ := readBody(r)
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&body); err != nil || body == nil {
		return vercelBadRequest("Invalid request: body should be object.")
	}
	var name string
	var expiresAt float64
	for k, v := range body {
		switch k {
		case "name":
			if json.Unmarshal(v, &name) != nil {
				return vercelBadRequest("Invalid request: body.name should be string.")
			}
		case "expiresAt":
			if json.Unmarshal(v, &expiresAt) != nil {
				return vercelBadRequest("Invalid request: body.expiresAt should be number.")
			}
		case "projectId":
			var p string
			if json.Unmarshal(v, &p) != nil {
				return vercelBadRequest("Invalid request: body.projectId should be string.")
			}
		default:
			return vercelBadRequest("Invalid request: body should NOT have additional property `" + k + "`.")
		}
	}
	if _, ok := body["name"]; !ok {
		return vercelBadRequest("Invalid request: body should have required property 'name'.")
	}
	now := time.Now().UnixMilli()
	if expiresAt != 0 && int64(expiresAt) <= now {
		return vercelBadRequest("Invalid request: expiresAt must be in the future.")
	}
	secret := "vcp_" + st.mint.base62(56)
	t := VercelToken{ID: st.mint.hex(32), Name: name, Type: "oauth2-token", Prefix: "vcp_",
		Suffix: secret[len(secret)-6:], Origin: "manual", ActiveAt: now, ExpiresAt: int64(expiresAt)}
	// createdAt doubles as the numeric cursor, so keep it unique.
	for {
		i := sort.Search(len(st.tokens), func(i int) bool { return st.tokens[i].CreatedAt <= now })
		if i == len(st.tokens) || st.tokens[i].CreatedAt != now {
			break
		}
		now++
	}
	t.CreatedAt, t.ActiveAt = now, now
	scope := VercelScope{Type: "user", Origin: "manual", CreatedAt: now, ExpiresAt: t.ExpiresAt}
	if team := r.URL.Query().Get("teamId"); team != "" {
		scope = VercelScope{Type: "team", TeamID: team, Origin: "manual", CreatedAt: now, ExpiresAt: t.ExpiresAt}
	}
	t.Scopes = []VercelScope{scope}
	st.tokens = append(st.tokens, t)
	st.sortAndIndex()
	st.bearer[secret] = t.ID
	s.addSecretLocked(secret, true)
	b := []byte(`{"token":`)
	b = appendVercelToken(b, &t)
	b = append(b, `,"bearerToken":`...)
	b = appendString(b, secret)
	return newResponse(http.StatusOK, append(b, '}'))
}

func hasUserScope(scopes []VercelScope) bool {
	for _, s := range scopes {
		if s.Type == "user" {
			return true
		}
	}
	return false
}

func (st *vercelState) delete(caller VercelToken, id string) *response {
	if id == "current" {
		id = caller.ID
	}
	i, ok := st.index[id]
	if !ok && id != st.currentID {
		return vercelNotFound("Token not found")
	}
	if ok {
		st.tokens = append(st.tokens[:i], st.tokens[i+1:]...)
		st.sortAndIndex()
	}
	// The secret stops working but stays in Secrets().
	for secret, tid := range st.bearer {
		if tid == id {
			delete(st.bearer, secret)
		}
	}
	b := []byte(`{"tokenId":`)
	b = appendString(b, id)
	return newResponse(http.StatusOK, append(b, '}'))
}
