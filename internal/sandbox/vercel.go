package sandbox

import (
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

// The JSON Vercel sends: ms epochs, optional keys absent.
type vercelTokenJSON struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Prefix    string            `json:"prefix,omitempty"`
	Suffix    string            `json:"suffix,omitempty"`
	Origin    string            `json:"origin,omitempty"`
	Scopes    []vercelScopeJSON `json:"scopes,omitempty"`
	CreatedAt int64             `json:"createdAt"`
	ActiveAt  int64             `json:"activeAt"`
	ExpiresAt int64             `json:"expiresAt,omitempty"`
	RevokedAt int64             `json:"revokedAt,omitempty"`
	LeakedAt  int64             `json:"leakedAt,omitempty"`
	LeakedURL string            `json:"leakedUrl,omitempty"`
}

type vercelScopeJSON struct {
	Type      string          `json:"type"`
	TeamID    string          `json:"teamId,omitempty"`
	Origin    string          `json:"origin,omitempty"`
	CreatedAt int64           `json:"createdAt"`
	ExpiresAt int64           `json:"expiresAt,omitempty"`
	Sudo      *vercelSudoJSON `json:"sudo,omitempty"`
}

type vercelSudoJSON struct {
	Origin     string `json:"origin"`
	VerifiedAt int64  `json:"verifiedAt,omitempty"`
	ExpiresAt  int64  `json:"expiresAt"`
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func (t *VercelToken) wire() vercelTokenJSON {
	j := vercelTokenJSON{ID: t.ID, Name: t.Name, Type: t.Type, Prefix: t.Prefix, Suffix: t.Suffix, Origin: t.Origin,
		CreatedAt: ms(t.CreatedAt), ActiveAt: ms(t.ActiveAt), ExpiresAt: ms(t.ExpiresAt), RevokedAt: ms(t.RevokedAt),
		LeakedAt: ms(t.LeakedAt), LeakedURL: t.LeakedURL}
	for _, s := range t.Scopes {
		sj := vercelScopeJSON{Type: s.Type, TeamID: s.TeamID, Origin: s.Origin, CreatedAt: ms(s.CreatedAt), ExpiresAt: ms(s.ExpiresAt)}
		if s.Sudo != nil {
			sj.Sudo = &vercelSudoJSON{Origin: s.Sudo.Origin, VerifiedAt: ms(s.Sudo.VerifiedAt), ExpiresAt: ms(s.Sudo.ExpiresAt)}
		}
		j.Scopes = append(j.Scopes, sj)
	}
	return j
}

func vercelError(status int, code, message string) *response {
	type body struct {
		Code         string `json:"code"`
		Message      string `json:"message"`
		InvalidToken bool   `json:"invalidToken,omitempty"`
	}
	b := body{Code: code, Message: message, InvalidToken: status == http.StatusForbidden}
	return jsonResponse(status, map[string]body{"error": b})
}

func (s *Sandbox) serveVercel(r *http.Request, path, fault string) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	scheme, credential, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if r.Header.Get("Authorization") != "" && !strings.EqualFold(scheme, "Bearer") {
		return vercelError(http.StatusUnauthorized, "unauthorized", "The Authorization header must carry a Bearer token")
	}
	callerID, ok := d.vercelBearer[credential]
	caller := d.vercelTokenIndex(callerID)
	if !ok || caller < 0 || !d.vercelTokens[caller].RevokedAt.IsZero() ||
		(!d.vercelTokens[caller].ExpiresAt.IsZero() && !d.vercelTokens[caller].ExpiresAt.After(time.Now())) {
		return vercelError(http.StatusForbidden, "forbidden", "Not authorized")
	}
	resp := func() *response {
		switch {
		case path == "/v6/user/tokens" && r.Method == http.MethodGet:
			return s.vercelList(r.URL.Query(), fault)
		case path == "/v2/user" && r.Method == http.MethodGet:
			return jsonResponse(http.StatusOK, map[string]any{"user": map[string]string{"id": d.vercelAccount.ID,
				"email": d.vercelAccount.Email, "name": d.vercelAccount.Name, "username": d.vercelAccount.Username,
				"defaultTeamId": d.vercelAccount.DefaultTeamID}})
		case path == "/v3/user/tokens" && r.Method == http.MethodPost:
			return s.vercelCreate(r)
		}
		for _, route := range []struct{ method, prefix string }{{http.MethodGet, "/v5/user/tokens/"}, {http.MethodDelete, "/v3/user/tokens/"}} {
			seg, found := strings.CutPrefix(path, route.prefix)
			if !found || r.Method != route.method || strings.Contains(seg, "/") {
				continue
			}
			id, err := url.PathUnescape(seg)
			if err != nil {
				break
			}
			if id == "current" {
				id = callerID
			}
			i := d.vercelTokenIndex(id)
			if i < 0 {
				return vercelError(http.StatusNotFound, "not_found", "The token was not found")
			}
			if r.Method == http.MethodGet {
				return jsonResponse(http.StatusOK, map[string]any{"token": d.vercelTokens[i].wire()})
			}
			d.vercelTokens = append(d.vercelTokens[:i], d.vercelTokens[i+1:]...)
			for k, v := range d.vercelBearer {
				if v == id {
					delete(d.vercelBearer, k)
				}
			}
			return jsonResponse(http.StatusOK, map[string]string{"tokenId": id})
		}
		return vercelError(http.StatusNotFound, "not_found", "The requested API endpoint was not found")
	}()
	reset := time.Now().Truncate(time.Minute).Add(time.Minute).Unix()
	if resp.header.Get("X-RateLimit-Remaining") == "" {
		resp.header.Set("X-RateLimit-Limit", "10000")
		resp.header.Set("X-RateLimit-Remaining", "9999")
		resp.header.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
	}
	return resp
}

func (d *data) vercelTokenIndex(id string) int {
	for i := range d.vercelTokens {
		if d.vercelTokens[i].ID == id {
			return i
		}
	}
	return -1
}

// vercelList serves one page. Cursors: a number is a createdAt in ms (the next page
// holds the tokens created strictly before it); a string is standard base64 (with
// "+", "/" and "=", so an unescaped query value breaks) of the next position.
func (s *Sandbox) vercelList(q url.Values, fault string) *response {
	tokens := s.d.vercelTokens
	limit := 20
	if q.Has("limit") {
		f, err := strconv.ParseFloat(q.Get("limit"), 64)
		if err != nil || f != math.Trunc(f) || f < 1 || f > 100 {
			return vercelError(http.StatusBadRequest, "bad_request", "Invalid request: query.limit should be an integer from 1 to 100.")
		}
		limit = int(f)
	}
	start, numeric := 0, false
	if until := q.Get("until"); until != "" {
		if f, err := strconv.ParseFloat(until, 64); err == nil {
			numeric = true
			start = sort.Search(len(tokens), func(i int) bool { return float64(ms(tokens[i].CreatedAt)) < f })
		} else if raw, err := base64.StdEncoding.DecodeString(until); err == nil && strings.HasPrefix(string(raw), "pos:") {
			start, _ = strconv.Atoi(strings.TrimPrefix(string(raw), "pos:"))
			start = min(max(start, 0), len(tokens))
		} else {
			return vercelError(http.StatusBadRequest, "bad_request", "Invalid request: query.until is not a valid cursor.")
		}
	}
	if len(tokens) == 0 {
		return jsonResponse(http.StatusOK, map[string]any{"tokens": []any{}, "pagination": map[string]any{}})
	}
	size := limit
	if fault == "oversized_page" {
		size = 5 * limit
	}
	end := min(start+size, len(tokens))
	if fault == "empty_page_with_next" {
		end = start
	}
	page := make([]vercelTokenJSON, 0, end-start)
	for i := start; i < end; i++ {
		page = append(page, tokens[i].wire())
	}
	stringCursor := s.cfg.VercelCursor == "string" || (s.cfg.VercelCursor == "mixed" && numeric)
	var next any
	switch {
	case fault == "repeat_cursor" || fault == "empty_page_with_next":
		next = json.RawMessage(strconv.Quote(q.Get("until")))
		if q.Get("until") == "" {
			next = ms(tokens[0].CreatedAt) + 1
		}
	case end >= len(tokens):
		next = nil
	case stringCursor:
		next = base64.StdEncoding.EncodeToString([]byte("pos:" + strconv.Itoa(end)))
	default:
		next = ms(tokens[end-1].CreatedAt)
	}
	// prev takes next's type: the list's oneOf has a string-cursor and a numeric
	// variant, and a page must match one of them. A page past the end has no prev.
	var prev any
	if start > 0 && start < len(tokens) {
		prev = ms(tokens[start].CreatedAt)
		if stringCursor {
			prev = base64.StdEncoding.EncodeToString([]byte("pos:" + strconv.Itoa(start)))
		}
	}
	return jsonResponse(http.StatusOK, map[string]any{"tokens": page, "pagination": map[string]any{"count": len(page), "next": next, "prev": prev}})
}

// vercelCreate mints a token: POST /v3/user/tokens?teamId= with {name, expiresAt}.
func (s *Sandbox) vercelCreate(r *http.Request) *response {
	d := s.d
	var body struct {
		Name      *string  `json:"name"`
		ExpiresAt *float64 `json:"expiresAt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Name == nil || strings.TrimSpace(*body.Name) == "" {
		return vercelError(http.StatusBadRequest, "bad_request", "Invalid request: missing required property `name`.")
	}
	now := time.Now()
	t := VercelToken{ID: "tok_" + alnum(s.rng, 20), Name: *body.Name, Type: "oauth2-token", Origin: "manual", Prefix: "vcp_",
		CreatedAt: now, ActiveAt: now, Scopes: []VercelScope{{Type: "user", Origin: "manual", CreatedAt: now}}}
	if team := r.URL.Query().Get("teamId"); team != "" {
		if team != TeamPlatform && team != TeamAnalytics {
			return vercelError(http.StatusForbidden, "forbidden", "You don't have permission to access the team "+team+".")
		}
		t.Scopes = []VercelScope{{Type: "team", TeamID: team, Origin: "manual", CreatedAt: now}}
	}
	if body.ExpiresAt != nil {
		exp := time.UnixMilli(int64(*body.ExpiresAt))
		if !exp.After(now) {
			return vercelError(http.StatusBadRequest, "bad_request", "Invalid request: `expiresAt` must be in the future.")
		}
		t.ExpiresAt = exp
	}
	bearer := s.mint(alnum(s.rng, 24))
	t.Suffix = bearer[len(bearer)-6:]
	d.vercelBearer[bearer] = t.ID
	d.vercelTokens = append(d.vercelTokens, t)
	sortNewestFirst(d.vercelTokens)
	return jsonResponse(http.StatusOK, map[string]any{"token": t.wire(), "bearerToken": bearer})
}
