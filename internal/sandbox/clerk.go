package sandbox

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ClerkSignInToken is a minted sign-in token as the sandbox holds it,
// without the secret token and url.
type ClerkSignInToken struct {
	ID               string `json:"id"`
	UserID           string `json:"user_id"`
	OrgID            string `json:"org_id,omitempty"` // accepted on create, never echoed
	Status           string `json:"status"`           // pending, accepted, revoked
	ExpiresInSeconds int64  `json:"expires_in_seconds"`
	CreatedAt        int64  `json:"created_at"` // ms
	UpdatedAt        int64  `json:"updated_at"` // ms
}

type clerkSIT struct {
	ClerkSignInToken
	token, url string
}

type clerkState struct {
	secretKey      string
	publishableKey string
	instance       string // sub-domain part of the sign-in URL
	instanceID     string
	ticketKey      []byte
	users          []string
	orgs           []string
	members        map[string]map[string]bool // org -> user ids
	tokens         []*clerkSIT
	byID           map[string]*clerkSIT
	mint           *gen
	addSecret      func(string, bool)

	rlMu  sync.Mutex
	limit int
	hits  []time.Time // ring of the last `limit` accepted requests
	next  int
}

// clerkOptional: SignInToken's token and url, and ClerkErrors' extras.
var clerkOptional = optionalKeys{
	"":       {"token", "url", "meta", "clerk_trace_id"},
	"errors": {"meta"},
}

var clerkAdjectives = []string{"brave", "calm", "eager", "gentle", "happy", "jolly", "kind", "lucky", "proud", "witty"}
var clerkAnimals = []string{"otter", "falcon", "badger", "lynx", "heron", "koala", "marmot", "panda", "quokka", "yak"}

func newClerkState(cfg Config, addSecret func(string, bool)) *clerkState {
	g := newGen(cfg.Seed, "clerk")
	st := &clerkState{
		secretKey:  "sk_test_" + g.base62(40),
		instance:   g.pick(clerkAdjectives) + "-" + g.pick(clerkAnimals) + "-" + strconv.Itoa(10+g.intn(90)),
		instanceID: "ins_" + g.base62(27),
		ticketKey:  g.bytes(32),
		members:    map[string]map[string]bool{},
		byID:       map[string]*clerkSIT{},
		mint:       newGen(cfg.Seed, "clerk-runtime"),
		addSecret:  addSecret,
		limit:      cfg.ClerkRateLimit,
	}
	st.publishableKey = "pk_test_" + base64.RawStdEncoding.EncodeToString([]byte("accounts."+st.instance+".example$"))
	addSecret(st.secretKey, true)
	addSecret(hex.EncodeToString(st.ticketKey), false)
	for range cfg.ClerkUsers {
		st.users = append(st.users, "user_"+g.base62(27))
	}
	for range 2 {
		org := "org_" + g.base62(27)
		st.orgs = append(st.orgs, org)
		st.members[org] = map[string]bool{}
	}
	if len(st.users) > 0 {
		st.members[st.orgs[0]][st.users[0]] = true
	}
	return st
}

func newTraceID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return hex.EncodeToString(b[:])
}

type clerkErr struct {
	code, message, long string
	meta                map[string]string
}

// clerkError builds a ClerkErrors body; the trace id is also sent as the
// Clerk-Trace-Id header.
func clerkError(status int, errs ...clerkErr) *response {
	trace := newTraceID()
	b := []byte(`{"errors":[`)
	for i, e := range errs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"message":`...)
		b = appendString(b, e.message)
		b = append(b, `,"long_message":`...)
		b = appendString(b, e.long)
		b = append(b, `,"code":`...)
		b = appendString(b, e.code)
		b = append(b, `,"meta":{`...)
		first := true
		for _, k := range []string{"param_name"} {
			if v, ok := e.meta[k]; ok {
				if !first {
					b = append(b, ',')
				}
				first = false
				b = appendKey(b, k)
				b = appendString(b, v)
			}
		}
		b = append(b, "}}"...)
	}
	b = append(b, `],"clerk_trace_id":`...)
	b = appendString(b, trace)
	resp := newResponse(status, append(b, '}'))
	resp.header.Set("Clerk-Trace-Id", trace)
	return resp
}

func clerkTooMany(retryAfter int) *response {
	resp := clerkError(http.StatusTooManyRequests, clerkErr{code: "too_many_requests", message: "Too many requests",
		long: "Too many requests, please try again later."})
	resp.header.Set("Retry-After", strconv.Itoa(retryAfter))
	return resp
}

// clerkStatusError is Clerk's ClerkErrors body for an injected status.
func clerkStatusError(status int) *response {
	e := map[int]clerkErr{
		400: {code: "bad_request", message: "bad request", long: "The request could not be processed."},
		401: {code: "authentication_invalid", message: "Unauthorized request", long: "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct."},
		402: {code: "payment_required", message: "payment required", long: "This feature is not included in the instance's plan."},
		403: {code: "authorization_invalid", message: "Unauthorized request", long: "You are not authorized to perform this request."},
		404: {code: "resource_not_found", message: "not found", long: "The requested resource was not found."},
		409: {code: "conflict", message: "conflict", long: "The request conflicts with the current state of the resource."},
		410: {code: "deprecated_endpoint", message: "deprecated", long: "This endpoint is deprecated and pending removal."},
		422: {code: "form_param_value_invalid", message: "is invalid", long: "One of the request parameters is invalid."},
		423: {code: "locked", message: "locked", long: "The resource is locked."},
		429: {code: "too_many_requests", message: "Too many requests", long: "Too many requests, please try again later."},
		500: {code: "internal_clerk_error", message: "Oops, an unexpected error occurred", long: "There was an internal error on our servers. We've been notified and are working on fixing it."},
	}[status]
	if e.code == "" {
		e = clerkErr{code: snakeStatus(status), message: strings.ToLower(http.StatusText(status)), long: http.StatusText(status) + "."}
	}
	return clerkError(status, e)
}

// auth: a missing or unknown key is 401 authentication_invalid; a
// publishable key is 403 authorization_invalid.
func (st *clerkState) auth(r *http.Request) *response {
	h := r.Header.Get("Authorization")
	scheme, key, _ := strings.Cut(h, " ")
	key = strings.TrimSpace(key)
	switch {
	case h == "":
		return clerkError(http.StatusUnauthorized, clerkErr{code: "authentication_invalid", message: "Unauthorized request",
			long: "You need to send an Authorization header to perform this request. You can find your Secret Key in the Clerk Dashboard."})
	case strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(key, "pk_"):
		return clerkError(http.StatusForbidden, clerkErr{code: "authorization_invalid", message: "Unauthorized request",
			long: "The provided key is a Publishable Key. Backend API requests must use a Secret Key (sk_...)."})
	case !strings.EqualFold(scheme, "Bearer") || key != st.secretKey:
		return clerkError(http.StatusUnauthorized, clerkErr{code: "authentication_invalid", message: "Unauthorized request",
			long: "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct."})
	}
	return nil
}

// allow applies the per-key sliding 10 s window; it returns the seconds to
// wait when the request is refused.
func (st *clerkState) allow(now time.Time) (bool, int) {
	if st.limit <= 0 {
		return true, 0
	}
	st.rlMu.Lock()
	defer st.rlMu.Unlock()
	if st.hits == nil {
		st.hits = make([]time.Time, st.limit)
	}
	oldest := st.hits[st.next]
	if !oldest.IsZero() && now.Sub(oldest) < 10*time.Second {
		wait := 10*time.Second - now.Sub(oldest)
		return false, max(1, int(math.Ceil(wait.Seconds())))
	}
	st.hits[st.next] = now
	st.next = (st.next + 1) % st.limit
	return true, 0
}

func (s *Sandbox) serveClerk(r *http.Request, path string) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.clerk
	if resp := st.auth(r); resp != nil {
		return resp
	}
	if ok, wait := st.allow(time.Now()); !ok {
		return clerkTooMany(wait)
	}
	notFound := clerkError(http.StatusNotFound, clerkErr{code: "resource_not_found", message: "not found",
		long: "The requested resource was not found."})
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return notFound
	}
	segs := strings.Split(rest, "/")
	switch {
	case len(segs) == 1 && segs[0] == "sign_in_tokens" && r.Method == http.MethodPost:
		return st.createSignInToken(r)
	case len(segs) == 3 && segs[0] == "sign_in_tokens" && segs[2] == "revoke" && r.Method == http.MethodPost:
		id, err := url.PathUnescape(segs[1])
		if err != nil || id == "" {
			return notFound
		}
		return st.revoke(id)
	}
	return notFound
}

func clerkParamErr(status int, code, message, long, param string) *response {
	return clerkError(status, clerkErr{code: code, message: message, long: long, meta: map[string]string{"param_name": param}})
}

func (st *clerkState) createSignInToken(r *http.Request) *response {
	raw, err := readBody(r)
	if err != nil {
		return clerkStatusError(http.StatusBadRequest)
	}
	params := map[string]json.RawMessage{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	invalidBody := clerkError(http.StatusBadRequest, clerkErr{code: "request_body_invalid", message: "Request body invalid",
		long: "The request body is invalid. Please consult the API documentation for more information."})
	switch {
	case ct == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			return invalidBody
		}
		for k := range form {
			v := form.Get(k)
			if k == "expires_in_seconds" {
				params[k] = json.RawMessage(v)
			} else {
				params[k], _ = json.Marshal(v)
			}
		}
	case len(strings.TrimSpace(string(raw))) > 0:
		if json.Unmarshal(raw, &params) != nil {
			return invalidBody
		}
	}
	var userID, orgID string
	var expires int64 = 2592000 // 30 days
	for k, v := range params {
		switch k {
		case "user_id":
			if json.Unmarshal(v, &userID) != nil {
				return clerkParamErr(422, "form_param_format_invalid", "is invalid", "user_id must be a string.", k)
			}
		case "org_id":
			if string(v) != "null" && json.Unmarshal(v, &orgID) != nil {
				return clerkParamErr(422, "form_param_format_invalid", "is invalid", "org_id must be a string.", k)
			}
		case "expires_in_seconds":
			if string(v) == "null" {
				continue
			}
			var f float64
			if json.Unmarshal(v, &f) != nil || f != math.Trunc(f) {
				return clerkParamErr(422, "form_param_format_invalid", "is invalid", "expires_in_seconds must be an integer.", k)
			}
			if f < 1 {
				return clerkParamErr(422, "form_param_value_invalid", "is invalid", "expires_in_seconds must be at least 1.", k)
			}
			expires = int64(f)
		default:
			return clerkParamErr(422, "form_param_unknown", "is unknown", k+" is not a valid parameter for this request.", k)
		}
	}
	if userID == "" {
		return clerkParamErr(422, "form_param_missing", "missing required parameter", "user_id must be included.", "user_id")
	}
	if !contains(st.users, userID) {
		return clerkError(http.StatusNotFound, clerkErr{code: "resource_not_found", message: "not found",
			long: "No user was found with id " + userID + "."})
	}
	if orgID != "" {
		members, ok := st.members[orgID]
		if !ok {
			return clerkParamErr(422, "form_param_value_invalid", "is invalid",
				"org_id does not match any organization of this instance.", "org_id")
		}
		if !members[userID] {
			return clerkParamErr(422, "form_param_value_invalid", "is invalid",
				"The user is not a member of organization "+orgID+".", "org_id")
		}
	}
	now := time.Now().UnixMilli()
	t := &clerkSIT{ClerkSignInToken: ClerkSignInToken{ID: "sit_" + st.mint.base62(27), UserID: userID, OrgID: orgID,
		Status: "pending", ExpiresInSeconds: expires, CreatedAt: now, UpdatedAt: now}}
	t.token = st.ticket(t, now/1000+expires)
	t.url = "https://accounts." + st.instance + ".example/sign-in?__clerk_ticket=" + t.token
	st.addSecret(t.token, false)
	st.addSecret(t.url, false)
	st.tokens = append(st.tokens, t)
	st.byID[t.ID] = t
	return newResponse(http.StatusOK, appendSignInToken(nil, t, true))
}

// ticket is a JWT-shaped ticket signed with the instance key.
func (st *clerkState) ticket(t *clerkSIT, exp int64) string {
	payload := fmt.Sprintf(`{"eis":%d,"exp":%d,"iid":%q,"sid":%q,"st":"sign_in_token"}`, t.ExpiresInSeconds, exp, st.instanceID, t.ID)
	signing := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"`+st.instanceID+`","typ":"JWT"}`)) +
		"." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	return signing + "." + hs256(st.ticketKey, signing)
}

// appendSignInToken writes exactly the SignInToken schema's keys. A revoked
// token has url null and no token key.
func appendSignInToken(b []byte, t *clerkSIT, secrets bool) []byte {
	b = append(b, `{"object":"sign_in_token","id":`...)
	b = appendString(b, t.ID)
	b = append(b, `,"status":`...)
	b = appendString(b, t.Status)
	b = append(b, `,"user_id":`...)
	b = appendString(b, t.UserID)
	if secrets {
		b = append(b, `,"token":`...)
		b = appendString(b, t.token)
		b = append(b, `,"url":`...)
		b = appendString(b, t.url)
	} else {
		b = append(b, `,"url":null`...)
	}
	b = append(b, `,"created_at":`...)
	b = appendInt(b, t.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendInt(b, t.UpdatedAt)
	return append(b, '}')
}

func (st *clerkState) revoke(id string) *response {
	t, ok := st.byID[id]
	if !ok {
		return clerkError(http.StatusNotFound, clerkErr{code: "resource_not_found", message: "not found",
			long: "No sign-in token was found with id " + id + "."})
	}
	if t.Status != "pending" {
		return clerkError(http.StatusBadRequest, clerkErr{code: "sign_in_token_cannot_be_revoked", message: "cannot be revoked",
			long: "Sign-in token " + id + " cannot be revoked because its status is " + t.Status + "; only pending tokens can be revoked."})
	}
	t.Status = "revoked"
	t.UpdatedAt = max(time.Now().UnixMilli(), t.UpdatedAt+1)
	return newResponse(http.StatusOK, appendSignInToken(nil, t, false))
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ClerkSecretKey returns the instance's secret key (sk_test_...).
func (s *Sandbox) ClerkSecretKey() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clerk.secretKey
}

// ClerkPublishableKey returns the instance's publishable key (pk_test_...),
// which the Backend API refuses with 403.
func (s *Sandbox) ClerkPublishableKey() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clerk.publishableKey
}

// ClerkUserIDs returns the users' ids.
func (s *Sandbox) ClerkUserIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string(nil), s.clerk.users...)
}

// ClerkOrgIDs returns the two organizations: [0] has ClerkUserIDs()[0] as a
// member, [1] has no members.
func (s *Sandbox) ClerkOrgIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string(nil), s.clerk.orgs...)
}

// ClerkSignInTokens returns every sign-in token minted so far, in creation
// order, without the secret token and url.
func (s *Sandbox) ClerkSignInTokens() []ClerkSignInToken {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]ClerkSignInToken, len(s.clerk.tokens))
	for i, t := range s.clerk.tokens {
		out[i] = t.ClerkSignInToken
	}
	return out
}

// AcceptClerkSignInToken marks a pending token accepted, as if the user had
// followed its url (Clerk has no Backend API call for that). It reports
// whether the token existed and was pending.
func (s *Sandbox) AcceptClerkSignInToken(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.clerk.byID[id]
	if !ok || t.Status != "pending" {
		return false
	}
	t.Status = "accepted"
	t.UpdatedAt = max(time.Now().UnixMilli(), t.UpdatedAt+1)
	return true
}
