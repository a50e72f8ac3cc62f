package sandbox

import (
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Okta's API tokens, users and admin roles (the Management API), served under /okta
// (okta_domain <server>/okta), as the vendor's OpenAPI document describes them
// (../shared/specs/okta/management-minimal.yaml).
//
// Where the sources are silent the emulation chooses: the token list is in id order
// and pages with `limit` (1 to 200, default 20) and an `after` cursor, the id of the
// previous page's last token; a `Link: <...>; rel="next"` header names the next page
// while tokens remain, beside rel="self". Tokens carry `_links` as the document's
// examples do (its schema says `_link`). A credential is "SSWS " and a token's secret;
// an unknown one, or one whose owner is DEPROVISIONED, is 401 E0000011. Permissions:
// an owner without an admin role is refused everything (403 E0000006); a read-only
// admin may read but not revoke. Expiry never moves in the emulation (Okta moves a
// token's expiresAt 30 days past each use), so that the data stays fixed; every
// hand-made token expires within those 30 days. Every answer carries X-Rate-Limit-
// Limit, -Remaining and -Reset; option "okta.rate_limit" (requests per window,
// default: none) with "okta.rate_window" (seconds, default 60, Okta's minute) answers
// 429 E0000047 past the limit, with X-Rate-Limit-Reset (epoch seconds) and no
// Retry-After, as Okta does. Secrets are "00" and 40 URL-safe characters, as Okta
// issues them. Faults of its own, on the token list: repeat_cursor (the next link
// names the page just served), empty_page_with_next, foreign_next (the next link
// names another list: /api/v1/users).

// ProviderOkta is the upstream's name, as the plugin's provider column names it.
const ProviderOkta = "okta"

func init() {
	register(&kind{name: ProviderOkta, prefix: "/okta", new: func(cfg Config) upstream { return &okta{cfg: cfg} },
		faults: []string{"repeat_cursor", "empty_page_with_next", "foreign_next"},
		options: map[string]func(string) error{
			"rate_limit": func(v string) error {
				if n, err := strconv.Atoi(v); err != nil || n < 1 {
					return errWant("a whole number of requests per window, 1 or more")
				}
				return nil
			},
			"rate_window": func(v string) error {
				if n, err := strconv.Atoi(v); err != nil || n < 1 {
					return errWant("a whole number of seconds, 1 or more")
				}
				return nil
			},
		}})
}

// OktaUser is a person of the org, with the admin roles assigned to them.
type OktaUser struct {
	ID, Email, FirstName, LastName string
	Status                         string   // ACTIVE, SUSPENDED, DEPROVISIONED, ...
	Roles                          []string // role types: SUPER_ADMIN, READ_ONLY_ADMIN, CUSTOM, ...
	Created                        time.Time
}

// OktaToken is one API token. Network nil: the token has no network key.
type OktaToken struct {
	ID, Name, ClientName, UserID string
	Network                      *OktaNetwork
	Created, LastUpdated         time.Time
	ExpiresAt                    time.Time
	secret                       string
}

// OktaNetwork is a token's network condition.
type OktaNetwork struct {
	Connection       string // ANYWHERE or ZONE
	Include, Exclude []string
}

// Ids of the hand-made Okta org: the connection's token and the others, as
// docs/tables/user_tokens.md and the tests name them.
const (
	OktaTokenAudit     = "00Tst3ampAud1tT0k4g7" // the connection's: grace (super admin), usable anywhere
	OktaTokenTerraform = "00Tterraf0rmZ0n3s4g7" // grace's second, limited to the corporate zones
	OktaTokenReporting = "00Tr3p0rt1ngN0N3t4g7" // the read-only admin's, no network key, expires in 3 days
	OktaTokenHelpdesk  = "00Th3lpd3skB0tCu4g7x" // a custom role's, usable anywhere
	OktaTokenFormer    = "00Tf0rm3rAdm1nSy4g7x" // a deactivated owner's
	OktaTokenOnLeave   = "00T0nL3av3Scr1pt4g7x" // a suspended owner's, a zone with an exclusion
	OktaTokenExpiredPW = "00Tpassw0rdExp1r4g7x" // an owner whose password expired and who has no admin role left
	OktaZoneCorporate  = "nzo1c0rp0rat3VPN4g7x"
	OktaZoneOffice     = "nzo2h3adQuart3rs4g7x"
	OktaZoneBlocked    = "nzo3bl0ck3dT0r0ut4g7"
)

// okta is one org: its users and their API tokens.
type okta struct {
	cfg    Config
	rng    *rand.Rand
	users  []OktaUser
	tokens []OktaToken // in id order, as the list pages them
	gone   []string    // the secrets of tokens revoked since the last build: a client may have logged them
	conn   string      // the connection's token's secret
	window struct {
		start time.Time
		count int
	}
}

// OktaAPIToken is the connection's Okta credential.
func (s *Sandbox) OktaAPIToken() string {
	return with(s, ProviderOkta, func(o *okta) string { return o.conn })
}

// OktaTokens returns the org's API tokens in id order.
func (s *Sandbox) OktaTokens() []OktaToken {
	return with(s, ProviderOkta, func(o *okta) []OktaToken { return slices.Clone(o.tokens) })
}

// OktaUsers returns the org's users.
func (s *Sandbox) OktaUsers() []OktaUser {
	return with(s, ProviderOkta, func(o *okta) []OktaUser { return slices.Clone(o.users) })
}

// OktaTokenSecret is the secret of one of the org's tokens, "" for none: a test signs
// in with another admin's token.
func (s *Sandbox) OktaTokenSecret(id string) string {
	return with(s, ProviderOkta, func(o *okta) string {
		if i := o.tokenIndex(id); i >= 0 {
			return o.tokens[i].secret
		}
		return ""
	})
}

// OktaState is the Okta part of /_sandbox/state.
type OktaState struct {
	APITokens int `json:"api_tokens"`
}

func (o *okta) state() any { return OktaState{APITokens: len(o.tokens)} }

func (o *okta) secrets() []string {
	out := append([]string{o.conn, "SSWS " + o.conn}, o.gone...)
	for _, t := range o.tokens {
		out = append(out, t.secret)
	}
	return out
}

func (o *okta) connection(base string) [][2]string {
	return [][2]string{{"okta_domain", base}, {"okta_api_token", o.conn}}
}

func (o *okta) wrongShape() []byte {
	return []byte(`{"id":{},"userId":[],"profile":"x","status":{},"type":7}`)
}

func (o *okta) statusResponse(f *Fault) *response {
	r := oktaError(f.Status)
	if f.Status == http.StatusTooManyRequests {
		r.header.Set("X-Rate-Limit-Limit", "600")
		r.header.Set("X-Rate-Limit-Remaining", "0")
		r.header.Set("X-Rate-Limit-Reset", strconv.FormatInt(time.Now().Unix()+1, 10))
	}
	return r
}

// oktaError is Okta's error body for a status, with the codes Okta's examples give.
func oktaError(status int) *response {
	code, summary := "E0000009", "Internal Server Error"
	switch {
	case status == http.StatusBadRequest:
		code, summary = "E0000001", "Api validation failed: limit"
	case status == http.StatusUnauthorized:
		code, summary = "E0000011", "Invalid token provided"
	case status == http.StatusForbidden:
		code, summary = "E0000006", "You do not have permission to perform the requested action"
	case status == http.StatusNotFound:
		code, summary = "E0000007", "Not found: Resource not found"
	case status == http.StatusTooManyRequests:
		code, summary = "E0000047", "API call exceeded rate limit due to too many requests."
	case status < 500:
		summary = http.StatusText(status)
	}
	return jsonResponse(status, map[string]any{"errorCode": code, "errorSummary": summary, "errorLink": code,
		"errorId": "sandbox" + strconv.Itoa(status), "errorCauses": []any{}})
}

// build makes the hand-made org of the estate, then the generated tokens.
func (o *okta) build(s *Sandbox, rng *rand.Rand) {
	o.rng, o.users, o.tokens, o.gone = rng, nil, nil, nil
	o.window.start, o.window.count = time.Time{}, 0
	day := s.day
	user := func(id, first, last, status string, created float64, roles ...string) OktaUser {
		return OktaUser{ID: id, FirstName: first, LastName: last, Email: strings.ToLower(first) + "@example.org",
			Status: status, Roles: roles, Created: day(created)}
	}
	anywhere := &OktaNetwork{Connection: "ANYWHERE"}
	grace := user("00u1gr4c3H0pp3rSu4g7", "Grace", "Hopper", "ACTIVE", -900, "SUPER_ADMIN")
	auditor := user("00u2aud1t0rR3ad04g7x", "Auditor", "Bot", "ACTIVE", -500, "READ_ONLY_ADMIN")
	if o.cfg.Estate == "clean" {
		o.users = []OktaUser{auditor}
		o.add(OktaToken{ID: OktaTokenAudit, Name: "steampipe-audit", ClientName: "Okta API", UserID: auditor.ID,
			Network: &OktaNetwork{Connection: "ZONE", Include: []string{OktaZoneCorporate}}, Created: day(-10),
			LastUpdated: day(-10), ExpiresAt: day(29.5)})
	} else {
		helpdesk := user("00u3h3lpd3skCust4g7x", "Helpdesk", "Lead", "ACTIVE", -300, "CUSTOM")
		former := user("00u4f0rm3rAdm1n04g7x", "Former", "Admin", "DEPROVISIONED", -800, "ORG_ADMIN")
		onLeave := user("00u50nl3av3Susp04g7x", "Onleave", "Engineer", "SUSPENDED", -400, "USER_ADMIN")
		expiredPW := user("00u6pwExp1r3dN0r4g7x", "Expired", "Password", "PASSWORD_EXPIRED", -600)
		o.users = []OktaUser{grace, auditor, helpdesk, former, onLeave, expiredPW}
		zone := func(include, exclude []string) *OktaNetwork {
			return &OktaNetwork{Connection: "ZONE", Include: include, Exclude: exclude}
		}
		for _, t := range []OktaToken{
			{ID: OktaTokenAudit, Name: "steampipe-audit", UserID: grace.ID, Network: anywhere,
				Created: day(-120), LastUpdated: day(-120), ExpiresAt: day(29.5)},
			{ID: OktaTokenTerraform, Name: "terraform", UserID: grace.ID, Network: zone([]string{OktaZoneCorporate, OktaZoneOffice}, nil),
				Created: day(-100), LastUpdated: day(-50), ExpiresAt: day(29)},
			{ID: OktaTokenReporting, Name: "reporting", UserID: auditor.ID,
				Created: day(-400), LastUpdated: day(-400), ExpiresAt: day(3)},
			{ID: OktaTokenHelpdesk, Name: "helpdesk bot", UserID: helpdesk.ID, Network: anywhere,
				Created: day(-60), LastUpdated: day(-60), ExpiresAt: day(25)},
			{ID: OktaTokenFormer, Name: "former admin's sync", UserID: former.ID, Network: anywhere,
				Created: day(-200), LastUpdated: day(-200), ExpiresAt: day(10)},
			{ID: OktaTokenOnLeave, Name: "on-leave script", UserID: onLeave.ID,
				Network: zone([]string{OktaZoneOffice}, []string{OktaZoneBlocked}), Created: day(-30), LastUpdated: day(-30), ExpiresAt: day(20)},
			{ID: OktaTokenExpiredPW, Name: "password-expired owner", UserID: expiredPW.ID, Network: anywhere,
				Created: day(-45), LastUpdated: day(-45), ExpiresAt: day(15)},
		} {
			t.ClientName = "Okta API"
			o.add(t)
		}
	}
	o.conn = o.tokens[o.tokenIndex(OktaTokenAudit)].secret
	o.generate(s, o.cfg.Generate[ProviderOkta])
}

// add gives a token its secret and keeps the list in id order.
func (o *okta) add(t OktaToken) {
	t.secret = oktaSecret(o.rng)
	i, _ := slices.BinarySearchFunc(o.tokens, t.ID, func(x OktaToken, id string) int { return strings.Compare(x.ID, id) })
	o.tokens = slices.Insert(o.tokens, i, t)
}

// oktaSecret is a token as Okta issues it: "00" and 40 URL-safe characters.
func oktaSecret(rng *rand.Rand) string {
	const urlSafe = alphabet + "-_"
	b := []byte("00")
	for range 40 {
		b = append(b, urlSafe[rng.IntN(len(urlSafe))])
	}
	return string(b)
}

// generate adds the benchmarks' tokens: 50 per generated service account, half of
// them admins who can write, half read-only; every other token limited to a zone.
func (o *okta) generate(s *Sandbox, n int) {
	for i := range n {
		if i%50 == 0 {
			role := "ORG_ADMIN"
			if (i/50)%2 == 1 {
				role = "READ_ONLY_ADMIN"
			}
			o.users = append(o.users, OktaUser{ID: "00u" + alnum(o.rng, 17), FirstName: "Svc" + strconv.Itoa(i/50+1), LastName: "Automation",
				Email: "svc-" + strconv.Itoa(i/50+1) + "@example.org", Status: "ACTIVE", Roles: []string{role}, Created: s.day(-700)})
		}
		created := s.day(-float64(i%300) - 1)
		t := OktaToken{ID: "00T" + alnum(o.rng, 17), Name: "generated " + strconv.Itoa(i+1), ClientName: "Okta API",
			UserID: o.users[len(o.users)-1].ID, Network: &OktaNetwork{Connection: "ANYWHERE"}, Created: created, LastUpdated: created,
			ExpiresAt: s.day(float64(i%29) + 1)}
		if i%2 == 1 {
			t.Network = &OktaNetwork{Connection: "ZONE", Include: []string{OktaZoneCorporate}}
		}
		o.add(t)
	}
}

// revoke removes a token; its secret no longer authenticates.
func (o *okta) revoke(i int) {
	o.gone = append(o.gone, o.tokens[i].secret)
	o.tokens = slices.Delete(o.tokens, i, i+1)
}

func (o *okta) tokenIndex(id string) int {
	for i := range o.tokens {
		if o.tokens[i].ID == id {
			return i
		}
	}
	return -1
}

func (o *okta) user(id string) *OktaUser {
	for i := range o.users {
		if o.users[i].ID == id {
			return &o.users[i]
		}
	}
	return nil
}

// oktaTime is Okta's timestamp: UTC with milliseconds.
func oktaTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func (o *okta) tokenJSON(base string, t *OktaToken) map[string]any {
	m := map[string]any{"id": t.ID, "name": t.Name, "userId": t.UserID, "clientName": t.ClientName, "tokenWindow": "P30D",
		"created": oktaTime(t.Created), "lastUpdated": oktaTime(t.LastUpdated), "expiresAt": oktaTime(t.ExpiresAt),
		"_links": map[string]any{
			"self": map[string]any{"href": base + "/api/v1/api-tokens/" + t.ID, "hints": map[string]any{"allow": []string{"GET", "DELETE"}}},
			"user": map[string]any{"href": base + "/api/v1/users/" + t.UserID, "hints": map[string]any{"allow": []string{"GET"}}},
		}}
	if n := t.Network; n != nil {
		net := map[string]any{"connection": n.Connection}
		if n.Connection == "ZONE" {
			net["include"], net["exclude"] = orEmpty(n.Include), orEmpty(n.Exclude)
		}
		m["network"] = net
	}
	return m
}

// orEmpty sends a missing list as [], as Okta does.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (o *okta) userJSON(base string, u *OktaUser) map[string]any {
	activated := oktaTime(u.Created.Add(time.Hour))
	if u.Status == "STAGED" || u.Status == "PROVISIONED" {
		activated = nil
	}
	return map[string]any{"id": u.ID, "status": u.Status, "created": oktaTime(u.Created), "activated": activated,
		"statusChanged": oktaTime(u.Created.Add(time.Hour)), "lastLogin": nil, "lastUpdated": oktaTime(u.Created.Add(time.Hour)),
		"passwordChanged": nil, "type": map[string]any{"id": "oty1usertype0default"},
		"profile": map[string]any{"firstName": u.FirstName, "lastName": u.LastName, "email": u.Email, "login": u.Email,
			"mobilePhone": nil, "secondEmail": nil},
		"credentials": map[string]any{"provider": map[string]any{"type": "OKTA", "name": "OKTA"}},
		"_links":      map[string]any{"self": map[string]any{"href": base + "/api/v1/users/" + u.ID}},
	}
}

func (o *okta) rolesJSON(base string, u *OktaUser) []any {
	out := []any{}
	for i, typ := range u.Roles {
		assignee := map[string]any{"href": base + "/api/v1/users/" + u.ID}
		r := map[string]any{"id": "ra" + strconv.Itoa(i+1) + strings.ToLower(u.ID[3:]), "label": strings.ReplaceAll(strings.ToLower(typ), "_", " "),
			"type": typ, "status": "ACTIVE", "created": oktaTime(u.Created), "lastUpdated": oktaTime(u.Created),
			"assignmentType": "USER", "_links": map[string]any{"assignee": assignee}}
		if typ == "CUSTOM" {
			r["label"], r["role"], r["resource-set"] = "Token auditor", "cr0t0k3nAud1t0r4g7x0", "iamT0k3nsR3s0urc3S3t"
			r["_links"] = map[string]any{"assignee": assignee,
				"role":         map[string]any{"href": base + "/api/v1/iam/roles/cr0t0k3nAud1t0r4g7x0"},
				"resource-set": map[string]any{"href": base + "/api/v1/iam/resource-sets/iamT0k3nsR3s0urc3S3t"}}
		}
		out = append(out, r)
	}
	return out
}

// limited counts the request in the current window; the reset is the window's end.
func (o *okta) limited() (limit, remaining int, reset time.Time, throttled bool) {
	limit, _ = strconv.Atoi(o.cfg.option(ProviderOkta, "rate_limit"))
	window := 60 * time.Second
	if v, err := strconv.Atoi(o.cfg.option(ProviderOkta, "rate_window")); err == nil {
		window = time.Duration(v) * time.Second
	}
	now := time.Now()
	if now.Sub(o.window.start) >= window {
		o.window.start, o.window.count = now.Truncate(time.Second), 0
	}
	reset = o.window.start.Add(window)
	if limit == 0 {
		return 600, 599, reset, false
	}
	if o.window.count >= limit {
		return limit, 0, reset, true
	}
	o.window.count++
	return limit, limit - o.window.count, reset, false
}

func (o *okta) serve(s *Sandbox, r *http.Request, path string, _ []byte, fault string) *response {
	limit, remaining, reset, throttled := o.limited()
	resp := func() *response {
		if throttled {
			return oktaError(http.StatusTooManyRequests)
		}
		scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		caller := -1
		if strings.EqualFold(scheme, "SSWS") && secret != "" {
			caller = slices.IndexFunc(o.tokens, func(t OktaToken) bool { return t.secret == secret })
		}
		var owner *OktaUser
		if caller >= 0 {
			owner = o.user(o.tokens[caller].UserID)
		}
		if owner == nil || owner.Status == "DEPROVISIONED" || !o.tokens[caller].ExpiresAt.After(time.Now()) {
			return oktaError(http.StatusUnauthorized)
		}
		if len(owner.Roles) == 0 {
			return oktaError(http.StatusForbidden)
		}
		base := "http://" + r.Host + strings.TrimSuffix(r.URL.EscapedPath(), path)
		switch {
		case path == "/api/v1/api-tokens" && r.Method == http.MethodGet:
			return o.list(base, r.URL.Query(), fault)
		case path == "/api/v1/api-tokens/current" && r.Method == http.MethodDelete:
			o.revoke(caller)
			return newResponse(http.StatusNoContent, nil)
		}
		if seg, ok := strings.CutPrefix(path, "/api/v1/api-tokens/"); ok && !strings.Contains(seg, "/") {
			id, err := url.PathUnescape(seg)
			i := o.tokenIndex(id)
			switch {
			case err != nil || i < 0:
				return oktaError(http.StatusNotFound)
			case r.Method == http.MethodGet:
				return jsonResponse(http.StatusOK, o.tokenJSON(base, &o.tokens[i]))
			case r.Method == http.MethodDelete && !slices.ContainsFunc(owner.Roles, func(t string) bool { return t != "READ_ONLY_ADMIN" }):
				return oktaError(http.StatusForbidden)
			case r.Method == http.MethodDelete:
				o.revoke(i)
				return newResponse(http.StatusNoContent, nil)
			}
		}
		if rest, ok := strings.CutPrefix(path, "/api/v1/users/"); ok && r.Method == http.MethodGet {
			seg, roles := strings.CutSuffix(rest, "/roles")
			id, err := url.PathUnescape(seg)
			u := o.user(id)
			switch {
			case err != nil || strings.Contains(seg, "/") || u == nil:
				return oktaError(http.StatusNotFound)
			case roles:
				return jsonResponse(http.StatusOK, o.rolesJSON(base, u))
			}
			return jsonResponse(http.StatusOK, o.userJSON(base, u))
		}
		return oktaError(http.StatusNotFound)
	}()
	resp.header.Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
	resp.header.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	resp.header.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
	return resp
}

// list serves one page of the tokens whose id follows `after`.
func (o *okta) list(base string, q url.Values, fault string) *response {
	limit := 20
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > 200 {
			return oktaError(http.StatusBadRequest)
		}
		limit = n
	}
	now := time.Now()
	var live []*OktaToken // Okta lists the active tokens: an expired one is gone
	for i := range o.tokens {
		if o.tokens[i].ExpiresAt.After(now) {
			live = append(live, &o.tokens[i])
		}
	}
	start := 0
	if after := q.Get("after"); after != "" {
		start, _ = slices.BinarySearchFunc(live, after, func(t *OktaToken, id string) int { return strings.Compare(t.ID, id) })
		if start < len(live) && live[start].ID == after {
			start++
		}
	}
	end := min(start+limit, len(live))
	if fault == "empty_page_with_next" {
		end = start
	}
	page := []any{}
	for _, t := range live[start:end] {
		page = append(page, o.tokenJSON(base, t))
	}
	resp := jsonResponse(http.StatusOK, page)
	self := url.Values{"limit": {strconv.Itoa(limit)}}
	if q.Has("after") {
		self.Set("after", q.Get("after"))
	}
	resp.header.Add("Link", "<"+base+"/api/v1/api-tokens?"+self.Encode()+`>; rel="self"`)
	next := url.Values{"limit": {strconv.Itoa(limit)}}
	switch {
	case fault == "repeat_cursor":
		next = self
	case fault == "empty_page_with_next" || fault == "foreign_next":
		next.Set("after", "00Tzzzzzzzzzzzzzzzzz")
	case end < len(live):
		next.Set("after", live[end-1].ID)
	default:
		return resp
	}
	list := "/api/v1/api-tokens"
	if fault == "foreign_next" {
		list = "/api/v1/users"
	}
	resp.header.Add("Link", "<"+base+list+"?"+next.Encode()+`>; rel="next"`)
	return resp
}
