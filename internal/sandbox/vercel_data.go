package sandbox

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// VercelUser is the account behind the sandbox's Vercel tokens (GET /v2/user).
type VercelUser struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	Name          string `json:"name"`
	Username      string `json:"username"`
	DefaultTeamID string `json:"defaultTeamId"`
}

// VercelToken is Vercel's AuthToken. Zero values are optional fields that
// the API leaves out entirely (it never sends null for them).
type VercelToken struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Type      string        `json:"type"`
	Prefix    string        `json:"prefix,omitempty"`
	Suffix    string        `json:"suffix,omitempty"`
	Origin    string        `json:"origin,omitempty"`
	Scopes    []VercelScope `json:"scopes,omitempty"` // nil: key absent
	CreatedAt int64         `json:"createdAt"`        // ms
	ActiveAt  int64         `json:"activeAt"`         // ms
	ExpiresAt int64         `json:"expiresAt,omitempty"`
	RevokedAt int64         `json:"revokedAt,omitempty"`
	LeakedAt  int64         `json:"leakedAt,omitempty"`
	LeakedURL string        `json:"leakedUrl,omitempty"`
}

// VercelScope is one entry of AuthToken.scopes: type "user" or "team".
type VercelScope struct {
	Type      string      `json:"type"`
	TeamID    string      `json:"teamId,omitempty"`
	Origin    string      `json:"origin,omitempty"`
	CreatedAt int64       `json:"createdAt"`
	ExpiresAt int64       `json:"expiresAt,omitempty"`
	Sudo      *VercelSudo `json:"sudo,omitempty"`
}

// VercelSudo is a user scope's step-up state.
type VercelSudo struct {
	Origin     string `json:"origin"`
	VerifiedAt int64  `json:"verifiedAt,omitempty"`
	ExpiresAt  int64  `json:"expiresAt"`
}

func (t VercelToken) clone() VercelToken {
	if t.Scopes != nil {
		sc := make([]VercelScope, len(t.Scopes))
		for i, s := range t.Scopes {
			if s.Sudo != nil {
				sudo := *s.Sudo
				s.Sudo = &sudo
			}
			sc[i] = s
		}
		t.Scopes = sc
	}
	return t
}

type vercelState struct {
	account          VercelUser
	accountCreatedAt int64
	teams            []string

	tokens []VercelToken     // createdAt desc, then id asc: list order
	index  map[string]int    // id -> position in tokens
	bearer map[string]string // secret -> token id

	currentID string
	current   VercelToken // kept even when not listed (VercelTokens: -1)
	currentBT string

	mint        *gen // ids and secrets minted at run time
	escapedName bool

	rlMu sync.Mutex
	rl   map[string]*rateWindow
}

type rateWindow struct {
	reset time.Time
	used  int
}

type vercelProfile int

const (
	vpCurrent vercelProfile = iota
	vpPlain
	vpExpired
	vpExpiringSoon
	vpRevoked
	vpLeaked
	vpTeamA
	vpTeamB
	vpTeamMulti
	vpSudo
	vpBare
	vpStale
	vpGitHub
	vpCount
)

var vercelNames = map[vercelProfile][]string{
	vpPlain:        {"ci-deployer", "local dev", "terraform", "backup-script", "raycast"},
	vpExpired:      {"hackathon 2024", "temp migration", "contractor access"},
	vpExpiringSoon: {"preview-bot", "release week", "on-call laptop"},
	vpRevoked:      {"old laptop", "compromised? rotated", "zapier (removed)"},
	vpLeaked:       {"pasted in gist", "public repo .env"},
	vpTeamA:        {"github-actions", "team ci"},
	vpTeamB:        {"saml sso session", "enterprise sync"},
	vpTeamMulti:    {"monorepo deploys", "cross-team automation"},
	vpSudo:         {"Vercel CLI on laptop", "dashboard sudo"},
	vpBare:         {"legacy token", "now-cli (2019)"},
	vpStale:        {"forgotten cron", "abandoned integration", "old monitoring"},
	vpGitHub:       {"GitHub integration", "vercel for github"},
}

var (
	firstNames = []string{"ada", "grace", "alan", "edsger", "barbara", "ken", "radia", "linus", "margaret", "donald"}
	lastNames  = []string{"lovelace", "hopper", "turing", "dijkstra", "liskov", "thompson", "perlman", "torvalds", "hamilton", "knuth"}
)

const dayMs = int64(24 * time.Hour / time.Millisecond)

func newVercelState(cfg Config, addSecret func(string, bool)) *vercelState {
	g := newGen(cfg.Seed, "vercel")
	st := &vercelState{mint: newGen(cfg.Seed, "vercel-runtime"), rl: map[string]*rateWindow{}}
	for range 3 {
		st.teams = append(st.teams, "team_"+g.base62(24))
	}
	first, last := g.pick(firstNames), g.pick(lastNames)
	st.account = VercelUser{
		ID:            g.base62(24),
		Email:         first + "." + last + "@example.com",
		Name:          strings.ToUpper(first[:1]) + first[1:] + " " + strings.ToUpper(last[:1]) + last[1:],
		Username:      first + last[:1] + g.lower(3),
		DefaultTeamID: st.teams[0],
	}
	now := cfg.Now.UnixMilli()
	st.accountCreatedAt = now - 1600*dayMs - g.between(0, dayMs)

	used := map[int64]bool{}
	unique := func(t int64) int64 {
		for used[t] {
			t--
		}
		used[t] = true
		return t
	}
	make1 := func(p vercelProfile) (VercelToken, string) {
		t, secret := st.makeToken(g, p, now, unique)
		addSecret(secret, true)
		return t, secret
	}
	st.current, st.currentBT = make1(vpCurrent)
	st.currentID = st.current.ID
	st.bearer = map[string]string{st.currentBT: st.currentID}
	if cfg.VercelTokens > 0 {
		st.tokens = make([]VercelToken, 0, cfg.VercelTokens)
		st.tokens = append(st.tokens, st.current.clone())
		order := g.perm(int(vpCount) - 1)
		for i := 0; i < cfg.VercelTokens-1; i++ {
			t, secret := make1(vercelProfile(order[i%len(order)] + 1))
			st.tokens = append(st.tokens, t)
			st.bearer[secret] = t.ID
		}
	}
	st.sortAndIndex()
	return st
}

// makeToken builds one token of a profile with times relative to now (ms).
// Each profile picks its createdAt range so its story holds: a stale token
// is old enough to be unused for 90 days, an expired one expired after it
// was created, and so on.
func (st *vercelState) makeToken(g *gen, p vercelProfile, now int64, unique func(int64) int64) (VercelToken, string) {
	t := VercelToken{ID: g.hex(32), Type: "oauth2-token"}
	var secret string
	if p == vpBare {
		secret = g.base62(24)
		t.Type = "classic"
	} else {
		secret = "vcp_" + g.base62(56)
		t.Prefix = "vcp_"
		t.Suffix = secret[len(secret)-6:]
	}
	switch {
	case p == vpCurrent:
		t.Name = "steampipe tokens audit"
	case p == vpPlain && !st.escapedName:
		// One name that needs JSON escaping and is not ASCII, always.
		t.Name = `deploy "prod" <main> & ünïcödé ✓`
		st.escapedName = true
	default:
		t.Name = g.pick(vercelNames[p])
	}
	created := func(loDays, hiDays int64) int64 {
		return unique(g.between(now-loDays*dayMs, now-hiDays*dayMs))
	}
	recentActivity := func() int64 { return g.between(max(t.CreatedAt, now-60*dayMs), now-g.between(1, 3600)*1000) }
	userScope := func(origin string) []VercelScope {
		return []VercelScope{{Type: "user", Origin: origin, CreatedAt: t.CreatedAt}}
	}
	switch p {
	case vpCurrent:
		t.CreatedAt = created(30, 2)
		t.ActiveAt = now - 5*60*1000
		t.Origin = "manual"
		t.Scopes = userScope("manual")
	case vpPlain:
		t.CreatedAt = created(700, 0)
		t.ActiveAt = recentActivity()
		t.Origin = g.pick([]string{"manual", "email", "passkey"})
		t.Scopes = userScope(t.Origin)
	case vpExpired:
		t.CreatedAt = created(700, 40)
		t.ExpiresAt = g.between(t.CreatedAt+dayMs, now-dayMs)
		t.ActiveAt = g.between(t.CreatedAt, t.ExpiresAt)
		t.Origin = "manual"
		t.Scopes = userScope("manual")
		t.Scopes[0].ExpiresAt = t.ExpiresAt
	case vpExpiringSoon:
		t.CreatedAt = created(200, 1)
		t.ExpiresAt = g.between(now+2*dayMs, now+5*dayMs)
		t.ActiveAt = recentActivity()
		t.Origin = "manual"
		t.Scopes = userScope("manual")
		t.Scopes[0].ExpiresAt = t.ExpiresAt
	case vpRevoked:
		t.CreatedAt = created(700, 20)
		t.RevokedAt = g.between(t.CreatedAt+3600*1000, now-3600*1000)
		t.ActiveAt = g.between(t.CreatedAt, t.RevokedAt)
		t.Origin = "email"
		t.Scopes = userScope("email")
	case vpLeaked:
		t.CreatedAt = created(400, 10)
		t.LeakedAt = g.between(t.CreatedAt+dayMs, now-3600*1000)
		t.LeakedURL = "https://github.com/" + st.account.Username + "/" + g.pick([]string{"dotfiles", "side-project", "demo-app"}) + "/blob/main/.env.local"
		t.ActiveAt = g.between(t.LeakedAt, now)
		t.Origin = "manual"
		t.Scopes = userScope("manual")
	case vpTeamA:
		t.CreatedAt = created(500, 1)
		t.ActiveAt = recentActivity()
		t.Origin = "github"
		t.Scopes = []VercelScope{{Type: "team", TeamID: st.teams[0], Origin: "github", CreatedAt: t.CreatedAt}}
	case vpTeamB:
		t.CreatedAt = created(200, 1)
		t.ActiveAt = recentActivity()
		t.ExpiresAt = t.CreatedAt + 365*dayMs
		t.Origin = "saml"
		t.Scopes = []VercelScope{{Type: "team", TeamID: st.teams[1], Origin: "saml", CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}}
	case vpTeamMulti:
		t.CreatedAt = created(500, 1)
		t.ActiveAt = recentActivity()
		t.Origin = "manual"
		t.Scopes = []VercelScope{
			{Type: "user", Origin: "manual", CreatedAt: t.CreatedAt},
			{Type: "team", TeamID: st.teams[2], Origin: "manual", CreatedAt: t.CreatedAt},
			{Type: "team", TeamID: st.teams[0], CreatedAt: t.CreatedAt},
		}
	case vpSudo:
		t.CreatedAt = created(300, 1)
		t.ActiveAt = recentActivity()
		t.Origin = "email"
		verified := t.CreatedAt + g.between(1000, 60*1000)
		t.Scopes = []VercelScope{{Type: "user", Origin: "email", CreatedAt: t.CreatedAt,
			Sudo: &VercelSudo{Origin: g.pick([]string{"totp", "webauthn", "email-otp"}), VerifiedAt: verified, ExpiresAt: verified + 5*60*1000}}}
	case vpBare:
		t.CreatedAt = created(1500, 800)
		t.ActiveAt = recentActivity()
	case vpStale:
		t.CreatedAt = created(700, 100)
		t.ActiveAt = g.between(t.CreatedAt, now-91*dayMs)
		t.Origin = "manual"
		t.Scopes = userScope("manual")
	case vpGitHub:
		t.CreatedAt = created(600, 1)
		t.ActiveAt = recentActivity()
		t.Origin = "github"
		t.Scopes = userScope("github")
	}
	t.ActiveAt = max(t.ActiveAt, t.CreatedAt)
	return t, secret
}

func vercelLess(a, b *VercelToken) int {
	switch {
	case a.CreatedAt > b.CreatedAt:
		return -1
	case a.CreatedAt < b.CreatedAt:
		return 1
	}
	return strings.Compare(a.ID, b.ID)
}

func (st *vercelState) sortAndIndex() {
	slices.SortFunc(st.tokens, func(a, b VercelToken) int { return vercelLess(&a, &b) })
	st.index = make(map[string]int, len(st.tokens))
	for i := range st.tokens {
		st.index[st.tokens[i].ID] = i
	}
}

// record returns the stored record of a token id, the unlisted current
// token included.
func (st *vercelState) record(id string) (VercelToken, bool) {
	if i, ok := st.index[id]; ok {
		return st.tokens[i], true
	}
	if id == st.currentID && st.current.ID != "" {
		return st.current, true
	}
	return VercelToken{}, false
}

// VercelToken returns the bearer token the plugin is configured with: a
// classic personal token with full account scope, listed among the tokens.
func (s *Sandbox) VercelToken() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.vercel.currentBT
}

// CurrentVercelTokenID is the id of the token VercelToken authenticates as.
func (s *Sandbox) CurrentVercelTokenID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.vercel.currentID
}

// VercelAccount returns the account behind the tokens.
func (s *Sandbox) VercelAccount() VercelUser {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.vercel.account
}

// VercelTeamIDs returns the teams that team-scoped tokens are bound to.
func (s *Sandbox) VercelTeamIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.vercel.teams)
}

// VercelTokens returns the token list in list order (newest createdAt first).
func (s *Sandbox) VercelTokens() []VercelToken {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]VercelToken, len(s.vercel.tokens))
	for i, t := range s.vercel.tokens {
		out[i] = t.clone()
	}
	return out
}

// SetVercelTokens replaces the token list. The current token is kept (or
// added) so that VercelToken still authenticates; a record with the current
// id replaces the current token's record (e.g. to revoke it). Tokens that
// share a createdAt may be skipped by numeric cursors, as on the real API.
func (s *Sandbox) SetVercelTokens(tokens []VercelToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.vercel
	st.tokens = make([]VercelToken, 0, len(tokens)+1)
	haveCurrent := false
	for _, t := range tokens {
		t = t.clone()
		if t.ID == st.currentID {
			haveCurrent = true
			st.current = t.clone()
		}
		st.tokens = append(st.tokens, t)
	}
	if !haveCurrent {
		st.tokens = append(st.tokens, st.current.clone())
	}
	st.sortAndIndex()
}
