package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// State is the summary GET /_sandbox/state returns.
type State struct {
	VercelTokens          int      `json:"vercel_tokens"`
	VercelAccountEmail    string   `json:"vercel_account_email"`
	CurrentVercelTokenID  string   `json:"current_vercel_token_id"`
	QueryServerUsers      int      `json:"query_server_users"`
	QueryServerUserTokens int      `json:"query_server_user_tokens"`
	QueryServerTokens     int      `json:"query_server_tokens"`
	QueryServerTokenPath  string   `json:"query_server_token_path"`
	ClerkUserIDs          []string `json:"clerk_user_ids"`
	ClerkOrgIDs           []string `json:"clerk_org_ids"`
	ClerkSignInTokens     int      `json:"clerk_sign_in_tokens"`
	Requests              int      `json:"requests"`
	Faults                int      `json:"faults"`
	Seed                  int64    `json:"seed"`
}

// State summarizes the sandbox.
func (s *Sandbox) State() State {
	s.mu.RLock()
	st := State{
		VercelTokens:          len(s.vercel.tokens),
		VercelAccountEmail:    s.vercel.account.Email,
		CurrentVercelTokenID:  s.vercel.currentID,
		QueryServerUsers:      len(s.query.users),
		QueryServerUserTokens: len(s.query.userTokens),
		QueryServerTokens:     len(s.query.tokens),
		QueryServerTokenPath:  s.cfg.QueryServerTokenPath,
		ClerkUserIDs:          append([]string{}, s.clerk.users...),
		ClerkOrgIDs:           append([]string{}, s.clerk.orgs...),
		ClerkSignInTokens:     len(s.clerk.tokens),
		Seed:                  s.cfg.Seed,
	}
	s.mu.RUnlock()
	s.logMu.Lock()
	st.Requests = len(s.log)
	s.logMu.Unlock()
	st.Faults = s.faultCount()
	return st
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// serveControl is the JSON control API for out-of-process use. It is not
// logged and has no latency or faults.
func (s *Sandbox) serveControl(w http.ResponseWriter, r *http.Request, path string) {
	type route struct{ method, path string }
	switch (route{r.Method, path}) {
	case route{http.MethodGet, "/requests"}:
		reqs := s.Requests()
		if reqs == nil {
			reqs = []Request{}
		}
		writeJSON(w, http.StatusOK, reqs)
	case route{http.MethodDelete, "/requests"}:
		s.ResetRequests()
		w.WriteHeader(http.StatusNoContent)
	case route{http.MethodPost, "/faults"}:
		var f Fault
		raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err == nil {
			err = checkFaultKeys(raw)
		}
		if err == nil {
			err = json.Unmarshal(raw, &f)
		}
		if err != nil {
			controlError(w, http.StatusBadRequest, "fault: "+err.Error())
			return
		}
		id, err := s.addFault(f)
		if err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"id": id})
	case route{http.MethodDelete, "/faults"}:
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case route{http.MethodGet, "/secrets"}:
		writeJSON(w, http.StatusOK, s.Secrets())
	case route{http.MethodGet, "/state"}:
		writeJSON(w, http.StatusOK, s.State())
	case route{http.MethodPost, "/reset"}:
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		// POST /_sandbox/clerk/sign_in_tokens/{id}/accept: what a user
		// following the url would do.
		if rest, ok := strings.CutPrefix(path, "/clerk/sign_in_tokens/"); ok && r.Method == http.MethodPost {
			if seg, ok := strings.CutSuffix(rest, "/accept"); ok && !strings.Contains(seg, "/") {
				id, err := url.PathUnescape(seg)
				if err == nil && s.AcceptClerkSignInToken(id) {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				controlError(w, http.StatusNotFound, "no pending sign-in token with that id")
				return
			}
		}
		controlError(w, http.StatusNotFound, "unknown control route "+r.Method+" /_sandbox"+path)
	}
}

// checkFaultKeys rejects misspelt fault fields, which would otherwise be
// ignored and leave a fault that fires more broadly than intended.
func checkFaultKeys(raw []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	known := map[string]bool{"upstream": true, "method": true, "path": true, "after": true, "times": true,
		"every": true, "kind": true, "status": true, "retry_after": true, "rate_limit_reset": true, "delay": true}
	for k := range m {
		if !known[k] {
			return fmt.Errorf("unknown field %q", k)
		}
	}
	return nil
}
