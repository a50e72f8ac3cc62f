package tokens

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// A provider defined only in this file: three tokens and a revoke. Registered in a
// plugin of its own, it appears in every table and in the generated docs, with no
// edit anywhere else. New providers copy its shape into internal/providers/<name>:
// the Provider value, a Source embedding providers.Base, ListTokens, TokenActions.

var fakeKey = providers.Argument{Name: "fake_key", Env: "FAKE_KEY", Shown: providers.Secret, Meaning: "the fake's key"}

var fakeProvider = &providers.Provider{
	Name:         "fake",
	Title:        "Fake",
	Table:        providers.UserTokens,
	Arguments:    []providers.Argument{fakeKey},
	Required:     []providers.Argument{fakeKey},
	Advice:       providers.Advice{Credential: fakeKey, Address: fakeKey, Hint: "any text will do"},
	Limiter:      providers.Limiter{FillRate: 5, BucketSize: 5},
	Capabilities: providers.Capabilities{RecordsLastUse: true, KnowsCurrentToken: true},
	Actions:      []providers.ActionForm{{Verb: "revoke", Target: "id", Status: "revoked", Usage: "id = '...'"}},
	Refusals:     map[string]string{"create": "the fake's tokens are made by hand"},
	Connect: func(p *providers.Provider, c *providers.Connection) providers.Source {
		s := &fakeSource{Base: providers.Base{Provider: p, Conn: c, Set: c.AnySet(fakeKey)}}
		for i, name := range []string{"alpha", "beta", "gamma"} {
			s.tokens = append(s.tokens, providers.UserToken{Provider: p.Name, ID: "f" + string(rune('1'+i)), Name: providers.Ptr(name),
				Title: providers.Ptr(name), Active: providers.Ptr(true), IsCurrent: providers.Ptr(i == 0),
				LastUsedAt: providers.Ptr(time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC))})
		}
		return s
	},
}

type fakeSource struct {
	providers.Base
	mu     sync.Mutex
	tokens []providers.UserToken
}

func (s *fakeSource) ListTokens(_ context.Context, q *providers.Query, rows providers.Rows) error {
	s.mu.Lock()
	tokens := slices.Clone(s.tokens)
	s.mu.Unlock()
	for i := range tokens {
		if !rows.Send(&tokens[i]) {
			return nil
		}
	}
	return nil
}

func (s *fakeSource) TokenActions(verb string, in providers.ActionInput, _ providers.Scan) []providers.Action {
	var list []providers.Action
	for _, id := range in.Targets {
		list = append(list, providers.Action{Key: verb + " " + id, Do: func(context.Context) (any, *providers.Undo, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			i := slices.IndexFunc(s.tokens, func(t providers.UserToken) bool { return t.ID == id })
			if i < 0 {
				return nil, nil, &providers.UsageError{Table: "user_token_actions", Message: "the fake has no token " + id}
			}
			s.tokens[i].Active = providers.Ptr(false)
			return &providers.ActionOutcome{Action: verb, Provider: s.Provider.Name, ID: &s.tokens[i].ID, Status: "revoked"}, nil, nil
		}})
	}
	return list
}

func TestAProviderDefinedInATestJoinsEveryTable(t *testing.T) {
	reg := append(slices.Clone(registry), fakeProvider)
	srv := plugin.Server(&plugin.ServeOpts{PluginFunc: func(context.Context) *plugin.Plugin { return newPlugin(reg) }})
	if _, err := srv.SetCacheOptions(&proto.SetCacheOptionsRequest{Enabled: true, Ttl: 300, MaxSizeMb: 16}); err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, srv, sandbox.Config{}, func(sb *sandbox.Sandbox, url string) string {
		return string(sb.ConnectionConfig(url, map[string]string{"fake_key": "k", "allow_user_token_revoke": "true", "request_timeout": "5"}))
	})

	// user_tokens: the fake's rows beside the others, and alone with provider = 'fake'
	all := e.mustRun(query{table: "user_tokens", columns: []string{"provider", "id", "name", "is_current", "last_used_at"}})
	byProvider := map[string]int{}
	for _, r := range all {
		byProvider[r["provider"].(string)]++
	}
	if byProvider["fake"] != 3 || byProvider["vercel"] != 11 || byProvider["query_server"] != 6 || byProvider["gitlab"] != 11 || byProvider["okta"] != 7 {
		t.Fatalf("rows by provider: %v", byProvider)
	}
	e.sb.ResetRequests()
	fake := e.mustRun(query{table: "user_tokens", columns: []string{"provider", "id", "name", "is_current", "last_used_at", "active"}, quals: map[string]any{"provider": "fake"}})
	assertRows(t, fake, []row{
		{"provider": "fake", "id": "f1", "name": "alpha", "is_current": true, "last_used_at": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "active": true},
		{"provider": "fake", "id": "f2", "name": "beta", "is_current": false, "last_used_at": time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), "active": true},
		{"provider": "fake", "id": "f3", "name": "gamma", "is_current": false, "last_used_at": time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), "active": true},
	})
	if n := len(e.sb.Requests()); n != 0 {
		t.Fatalf("provider = 'fake' made %d requests to the other providers", n)
	}

	// user_token_actions: the fake's revoke, its refusal, and the usage text naming it
	rows := e.mustRun(uta(map[string]any{"action": "revoke", "provider": "fake", "id": "f2"}, "id", "status"))
	if len(rows) != 1 || rows[0]["id"] != "f2" || rows[0]["status"] != "revoked" {
		t.Fatalf("revoke: %v", rows)
	}
	after := e.mustRun(query{table: "user_tokens", columns: []string{"id", "active"}, quals: map[string]any{"provider": "fake", "id": "f2"}})
	if len(after) != 1 || after[0]["active"] != false {
		t.Fatalf("after the revoke: %v", after)
	}
	_, err := e.run(uta(map[string]any{"action": "create", "provider": "fake", "id": "f9"}, "id"))
	assertErrorMentions(t, err, "the fake's tokens are made by hand", "revoke Fake tokens:", "action = 'revoke' and provider = 'fake' and id = '...'")

	// token_providers: the fake's row, its capabilities as declared
	tp := e.mustRun(query{table: "token_providers", columns: []string{"provider", "title", "table_name", "configured", "config_error",
		"records_last_use", "knows_current_token", "detects_leaks", "supports_create", "supports_revoke"}})
	i := slices.IndexFunc(tp, func(r row) bool { return r["provider"] == "fake" })
	if i < 0 || len(tp) != len(registry)+1 {
		t.Fatalf("token_providers: %v", tp)
	}
	if want := (row{"provider": "fake", "title": "Fake", "table_name": "user_tokens", "configured": true, "config_error": nil,
		"records_last_use": true, "knows_current_token": true, "detects_leaks": false, "supports_create": false, "supports_revoke": true}); !equalRows(tp[i], want) {
		t.Fatalf("token_providers' fake row %v, want %v", tp[i], want)
	}

	// a connection without the fake's key: no fake rows, and the fake named among what to set
	bare := e.connect(``)
	_, err = runOn(t, bare, query{table: "user_tokens", columns: []string{"id"}}, e.sb)
	assertErrorMentions(t, err, "user_tokens has no upstream configured", "fake_key (or FAKE_KEY) for Fake")

	// the generated docs, regenerated with the fake registered, show it
	args, caps := renderArguments(reg), renderCapabilities(reg)
	if !strings.Contains(args, "| `fake_key` | `FAKE_KEY` | none | the fake's key |") || !strings.Contains(caps, " `fake` |") ||
		!strings.Contains(caps, "| records_last_use | yes | no | yes | no | no | yes |") {
		t.Fatalf("generated docs without the fake:\n%s\n%s", args, caps)
	}
}

// equalRows compares the columns want names.
func equalRows(got, want row) bool {
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}
