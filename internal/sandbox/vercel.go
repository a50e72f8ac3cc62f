package sandbox

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Vercel's user-token endpoints, served under /vercel (base URL <server>/vercel).
//
// Where the sources are silent the emulation chooses: failed authentication is 403
// forbidden with invalidToken (Vercel documents 403); a header that is not a bearer
// credential is 401. A numeric cursor is a createdAt in ms ("created strictly
// before"); the string cursor is standard base64 of the position; option
// "vercel.cursor" = number, string or mixed (the default: alternating page by page).
// The empty account answers pagination {} as the CLI's own fixture does. DELETE
// removes a token (the list no longer shows it); create answers {token,
// bearerToken}, scoped to the team given with ?teamId=. The credential is 24 bare
// alphanumerics (Vercel's own example), so that tests prove the plugin redacts it
// because it is one, not because of its shape. Faults of its own, on the token
// list: repeat_cursor, empty_page_with_next, oversized_page.

// ProviderVercel is the upstream's name, as the plugin's provider column names it.
const ProviderVercel = "vercel"

func init() {
	register(&kind{name: ProviderVercel, prefix: "/vercel", new: func(cfg Config) upstream { return &vercel{cfg: cfg} },
		faults: []string{"repeat_cursor", "empty_page_with_next", "oversized_page"},
		options: map[string]func(string) error{"cursor": func(v string) error {
			if v != "number" && v != "string" && v != "mixed" {
				return errWant("number, string or mixed")
			}
			return nil
		}}})
}

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

// Team ids of the hand-made Vercel account.
const (
	TeamPlatform  = "team_7Ab2Cd3Ef4Gh5Ij6Kl7Mn8Op"
	TeamAnalytics = "team_3Kc9Lw0PpQ1rS2tU4vW5xY6z"
)

// CurrentVercelTokenID is the id of the token the connection authenticates with.
const CurrentVercelTokenID = "9b1f0c6e2d7a4c88b0e1f7a2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6"

// vercel is the account the connection's token belongs to, and its tokens.
type vercel struct {
	cfg     Config
	rng     *rand.Rand
	account VercelAccount
	token   string            // the connection's credential
	tokens  []VercelToken     // newest first
	bearer  map[string]string // credential -> token id
}

// VercelToken is the connection's Vercel credential.
func (s *Sandbox) VercelToken() string {
	return with(s, ProviderVercel, func(v *vercel) string { return v.token })
}

// VercelAccount is the user every Vercel token belongs to.
func (s *Sandbox) VercelAccount() VercelAccount {
	return with(s, ProviderVercel, func(v *vercel) VercelAccount { return v.account })
}

// VercelTokens returns the Vercel tokens, newest first.
func (s *Sandbox) VercelTokens() []VercelToken {
	return with(s, ProviderVercel, func(v *vercel) []VercelToken { return slices.Clone(v.tokens) })
}

// VercelState is the Vercel part of /_sandbox/state.
type VercelState struct {
	Tokens int `json:"tokens"`
}

func (v *vercel) state() any { return VercelState{Tokens: len(v.tokens)} }

func (v *vercel) secrets() []string {
	out := []string{v.token, "Bearer " + v.token}
	for k := range v.bearer {
		out = append(out, k)
	}
	return out
}

func (v *vercel) connection(base string) [][2]string {
	return [][2]string{{"vercel_api_token", v.token}, {"vercel_base_url", base}}
}

func (v *vercel) wrongShape() []byte {
	return []byte(`{"tokens":{},"token":[],"user":"x","pagination":[]}`)
}

func (v *vercel) statusResponse(f *Fault) *response {
	if f.Status == http.StatusTooManyRequests {
		r := vercelError(f.Status, "too_many_requests", "Rate limit exceeded")
		r.header.Set("X-RateLimit-Remaining", "0")
		r.header.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Unix()+1, 10))
		return r
	}
	return vercelError(f.Status, statusCode(f.Status), http.StatusText(f.Status))
}

// build makes the hand-made account of the estate, then the generated tokens.
func (v *vercel) build(s *Sandbox, rng *rand.Rand) {
	v.rng, v.bearer = rng, map[string]string{}
	day := s.day
	v.account = VercelAccount{ID: "usr_4dA1oV3lAcE5eXaMpLe9", Email: "ada@example.com", Name: "Ada Lovelace",
		Username: "ada", DefaultTeamID: TeamPlatform}
	v.token = alnum(rng, 24)
	v.bearer[v.token] = CurrentVercelTokenID
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
	if v.cfg.Estate == "clean" {
		current.Scopes, current.CreatedAt, current.ExpiresAt = team(-10, TeamPlatform), day(-10), day(60)
		v.tokens = []VercelToken{current}
	} else {
		v.tokens = []VercelToken{
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
	}
	v.generate(v.cfg.Generate[ProviderVercel])
}

// generate adds the benchmarks' tokens after the hand-made ones: older than all of
// them, each created one second apart so numeric cursors stay exact.
func (v *vercel) generate(n int) {
	rng := v.rng
	oldest := v.tokens[len(v.tokens)-1].CreatedAt
	for _, t := range v.tokens {
		oldest = minTime(oldest, t.CreatedAt)
	}
	for i := range n {
		created := oldest.Add(-time.Duration(i+1) * time.Second)
		t := VercelToken{ID: "tok_" + alnum(rng, 20), Name: "generated " + strconv.Itoa(i+1), Type: "oauth2-token", Origin: "manual",
			Prefix: "vcp_", Suffix: alnum(rng, 6), Scopes: []VercelScope{{Type: "user", Origin: "manual", CreatedAt: created}},
			CreatedAt: created, ActiveAt: created.Add(time.Hour)}
		if i%3 == 0 {
			t.ExpiresAt = v.cfg.Now.Add(time.Duration(i%400) * time.Hour)
		}
		if i%7 == 0 {
			t.Scopes = append(t.Scopes, VercelScope{Type: "team", TeamID: TeamPlatform, Origin: "manual", CreatedAt: created})
		}
		v.tokens = append(v.tokens, t)
	}
	sortNewestFirst(v.tokens)
}

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

func (v *vercel) serve(s *Sandbox, r *http.Request, path string, _ []byte, fault string) *response {
	scheme, credential, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if r.Header.Get("Authorization") != "" && !strings.EqualFold(scheme, "Bearer") {
		return vercelError(http.StatusUnauthorized, "unauthorized", "The Authorization header must carry a Bearer token")
	}
	callerID, ok := v.bearer[credential]
	caller := v.tokenIndex(callerID)
	if !ok || caller < 0 || !v.tokens[caller].RevokedAt.IsZero() ||
		(!v.tokens[caller].ExpiresAt.IsZero() && !v.tokens[caller].ExpiresAt.After(time.Now())) {
		return vercelError(http.StatusForbidden, "forbidden", "Not authorized")
	}
	resp := func() *response {
		switch {
		case path == "/v6/user/tokens" && r.Method == http.MethodGet:
			return v.list(r.URL.Query(), fault)
		case path == "/v2/user" && r.Method == http.MethodGet:
			return jsonResponse(http.StatusOK, map[string]any{"user": map[string]string{"id": v.account.ID,
				"email": v.account.Email, "name": v.account.Name, "username": v.account.Username,
				"defaultTeamId": v.account.DefaultTeamID}})
		case path == "/v3/user/tokens" && r.Method == http.MethodPost:
			return v.create(s, r)
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
			i := v.tokenIndex(id)
			if i < 0 {
				return vercelError(http.StatusNotFound, "not_found", "The token was not found")
			}
			if r.Method == http.MethodGet {
				return jsonResponse(http.StatusOK, map[string]any{"token": v.tokens[i].wire()})
			}
			v.tokens = append(v.tokens[:i], v.tokens[i+1:]...)
			for k, tokenID := range v.bearer {
				if tokenID == id {
					delete(v.bearer, k)
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

func (v *vercel) tokenIndex(id string) int {
	for i := range v.tokens {
		if v.tokens[i].ID == id {
			return i
		}
	}
	return -1
}

// list serves one page. Cursors: a number is a createdAt in ms (the next page
// holds the tokens created strictly before it); a string is standard base64 (with
// "+", "/" and "=", so an unescaped query value breaks) of the next position.
func (v *vercel) list(q url.Values, fault string) *response {
	tokens := v.tokens
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
	cursor := cmp.Or(v.cfg.option(ProviderVercel, "cursor"), "mixed")
	stringCursor := cursor == "string" || (cursor == "mixed" && numeric)
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

// create mints a token: POST /v3/user/tokens?teamId= with {name, expiresAt}.
func (v *vercel) create(s *Sandbox, r *http.Request) *response {
	var body struct {
		Name      *string  `json:"name"`
		ExpiresAt *float64 `json:"expiresAt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Name == nil || strings.TrimSpace(*body.Name) == "" {
		return vercelError(http.StatusBadRequest, "bad_request", "Invalid request: missing required property `name`.")
	}
	now := time.Now()
	t := VercelToken{ID: "tok_" + alnum(v.rng, 20), Name: *body.Name, Type: "oauth2-token", Origin: "manual", Prefix: "vcp_",
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
	bearer := s.mint(alnum(v.rng, 24))
	t.Suffix = bearer[len(bearer)-6:]
	v.bearer[bearer] = t.ID
	v.tokens = append(v.tokens, t)
	sortNewestFirst(v.tokens)
	return jsonResponse(http.StatusOK, map[string]any{"token": t.wire(), "bearerToken": bearer})
}

func sortNewestFirst(tokens []VercelToken) {
	sort.SliceStable(tokens, func(i, j int) bool {
		a, b := tokens[i], tokens[j]
		return a.CreatedAt.After(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID)
	})
}
