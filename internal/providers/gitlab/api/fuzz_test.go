package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/testkit"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// sandboxBodies are GitLab's answers as the sandbox sends them, under every body
// fault: the seed corpus.
func sandboxBodies(tb testing.TB) [][]byte {
	sb, u := testkit.StartSandbox(tb, sandbox.Config{Generate: map[string]int{"gitlab": 5}})
	get := func(path string) []byte {
		tb.Helper()
		req, _ := http.NewRequest(http.MethodGet, u+"/gitlab/api/v4"+path, nil)
		req.Header.Set("PRIVATE-TOKEN", sb.GitLabToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return b.Bytes()
	}
	bodies := [][]byte{get("/personal_access_tokens?per_page=100"), get("/personal_access_tokens/7"), get("/groups/2/access_tokens"),
		get("/personal_access_tokens/999")}
	for _, kind := range []string{"wrong_shape", "html", "empty", "truncate"} {
		sb.ClearFaults()
		sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderGitLab, Kind: kind, Times: 1})
		bodies = append(bodies, get("/personal_access_tokens"))
	}
	return bodies
}

func FuzzDecodeTokens(f *testing.F) {
	for _, b := range sandboxBodies(f) {
		f.Add(b)
	}
	for _, s := range []string{`[]`, `null`, `[{}]`, `[{"id":0}]`, `[{"id":-1}]`, `[{"id":1e30}]`, `[{"id":"1"}]`,
		`[{"id":1,"expires_at":"2026-13-40"}]`, `[{"id":1,"expires_at":20260101}]`, `[{"id":1,"created_at":"yesterday"}]`,
		`[{"id":1,"scopes":"api"}]`, `[{"id":1,"token":"glpat-` + `abcdefghij0123456789"}]`, `{"message":"x"}`, ` `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tokens, err := decodeTokens(&upstream.Response{Status: 200, Body: bytes.Clone(body)})
		if err != nil {
			// The refusal describes the body without quoting it (GitLab's times are
			// strings, so whether one parses does depend on its text).
			testkit.CheckRefusal(t, body, err)
			return
		}
		if !json.Valid(bytes.TrimSpace(body)) {
			t.Fatal("accepted a body that is not JSON")
		}
		for i, tok := range tokens {
			if tok.ID == 0 {
				t.Fatalf("token %d has no id", i)
			}
			if d := tok.ExpiresAt; d != nil && (d.Location() != time.UTC || d.Hour() != 0 || d.Minute() != 0 || d.Second() != 0) {
				t.Fatalf("token %d expires at %v, not at a day's start in UTC", i, d.Time)
			}
		}
	})
}

func FuzzParseError(f *testing.F) {
	for _, s := range []string{`{"message":"404 Not found"}`, `{"message":{"name":["is too long"]}}`, `{"error":"invalid_token","error_description":"Token was revoked."}`,
		`{"error":"x"}`, `<html>`, ``, `{"message":null}`, `{"message":["a",1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, msg := parseError(body)
		// GitLab's own words, when it gives them as strings, are what the user sees.
		var env struct {
			Message     any    `json:"message"`
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &env) != nil {
			return
		}
		if m, ok := env.Message.(string); ok && m != "" && env.Error == "" && msg != m {
			t.Fatalf("message %q, want %q", msg, m)
		}
		if env.Error != "" && env.Description != "" && (code != env.Error || msg != env.Description) {
			t.Fatalf("%q %q, want %q %q", code, msg, env.Error, env.Description)
		}
	})
}
