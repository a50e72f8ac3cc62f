//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/pgcluster"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// docWant is what a documented example returns on the sandbox's audit estate, written
// out from internal/sandbox/data.go: the values of one column (as a set, or in order),
// and for an action the requests that changed something.
type docWant struct {
	column  string
	values  []string // fmt.Sprint of each row's value; nil: only the count
	rows    int
	ordered bool
	writes  int // requests other than GETs the example made
	check   func(t *testing.T, rows []map[string]any)
}

var docWants = map[string]docWant{
	"user_tokens.md: Basic info": {rows: 35},
	"user_tokens.md: List active tokens that never expire": {column: "id", rows: 6, values: []string{
		"6", "tok_0ldM0n1t0r1ng4Lp8Kq", "1", sandbox.CurrentVercelTokenID, "tok_L3ak3dK3yGh4Jk5Lm6N", "2"}},
	"user_tokens.md: List active Vercel tokens not used in 90 days": {column: "name", rows: 1, values: []string{"old monitoring"}},
	"user_tokens.md: List tokens that can write where read-only tokens exist": {column: "email", rows: 16, values: []string{
		"admin@example.com", "dev@example.com", "disabled@example.com", "former@example.com", // the Query Server's writers
		"root@example.com", "alice@example.com", "alice@example.com", "bob@example.com", // GitLab's api tokens, and bots' with write_ scopes
		"group_2_bot_a1b2c3@noreply.gitlab.example.com", "project_10_bot_d4e5f6@noreply.gitlab.example.com", "group_3_bot_g7h8i9@noreply.gitlab.example.com",
		"former@example.org", "grace@example.org", "grace@example.org", "helpdesk@example.org", "onleave@example.org"}}, // Okta's admins who can write
	"user_tokens.md: List tokens of deactivated owners":                       {column: "email", rows: 1, values: []string{"former@example.com"}},
	"user_tokens.md: List leaked tokens":                                      {column: "name", rows: 2, ordered: true, values: []string{"leaked key", "leaked then revoked"}},
	"user_tokens.md: List tokens expiring in the next 7 days":                 {column: "title", rows: 2, values: []string{`deploy "prod" <main> & ünïcödé ✓`, "reporting"}},
	"user_tokens.md: Count Vercel tokens per team":                            {column: "tokens", rows: 3, ordered: true, values: []string{"7", "2", "2"}},
	"user_tokens.md: Get one token by id":                                     {column: "name", rows: 1, values: []string{"steampipe-audit"}},
	"user_tokens.md: Show the tokens this connection uses":                    {column: "provider", rows: 3, ordered: true, values: []string{"gitlab", "query_server", "vercel"}},
	"user_tokens.md: List GitLab tokens with the api scope that never expire": {column: "id", rows: 1, values: []string{"2"}},
	"user_tokens.md: List group and project tokens with where they act": {column: "team_id", rows: 3, ordered: true, values: []string{
		"acme/platform", "acme/platform/api", "other"}},
	"user_tokens.md: List Okta tokens and the admin power behind them": {column: "name", rows: 7, ordered: true, values: []string{
		"reporting", "password-expired owner", "former admin's sync", "steampipe-audit", "terraform", "helpdesk bot", "on-leave script"}},
	"user_tokens.md: List Okta tokens usable from any network": {column: "name", rows: 4, ordered: true, values: []string{
		"helpdesk bot", "password-expired owner", "reporting", "steampipe-audit"}},
	"user_tokens.md: List Okta tokens whose owner is not active":            {column: "name", rows: 2, ordered: true, values: []string{"former admin's sync", "on-leave script"}},
	"user_tokens.md: List Okta tokens that lapse within 7 days unless used": {column: "name", rows: 1, values: []string{"reporting"}},

	"token_providers.md: Basic info":                                 {column: "provider", rows: 5, ordered: true, values: []string{"clerk", "gitlab", "okta", "query_server", "vercel"}},
	"token_providers.md: List what each configured provider records": {column: "records_last_use", rows: 5, ordered: true, values: []string{"false", "true", "false", "false", "true"}},
	"token_providers.md: List active tokens whose last use is not recorded": {column: "id", rows: 10, ordered: true, values: []string{
		sandbox.OktaTokenOnLeave, sandbox.OktaTokenHelpdesk, sandbox.OktaTokenExpiredPW, sandbox.OktaTokenReporting, sandbox.OktaTokenAudit,
		sandbox.OktaTokenTerraform, "1", "2", "3", "6"}},

	"sign_in_tokens.md: Create a sign-in link for one user":                         {rows: 1, writes: 1},
	"sign_in_tokens.md: Create a short-lived link that signs in to an organization": {rows: 1, writes: 1},
	"sign_in_tokens.md: Create links for a list of users":                           {column: "user_id", rows: 2, writes: 2, values: sandbox.ClerkUsers[:2]},
	"sign_in_tokens.md: Create links for the users of another table":                {column: "email", rows: 3, writes: 3, values: []string{"ada@example.com", "grace@example.com", "alan@example.com"}},
	"sign_in_tokens.md: Revoke a sign-in token":                                     {column: "status", rows: 1, writes: 1, values: []string{"revoked"}},

	"user_token_actions.md: Revoke every Vercel token unused for 90 days": {column: "id", rows: 1, writes: 1, values: []string{"tok_0ldM0n1t0r1ng4Lp8Kq"}},
	"user_token_actions.md: Create a Vercel token that expires in 30 days": {rows: 1, writes: 1, check: func(t *testing.T, rows []map[string]any) {
		exp, ok := rows[0]["expires_at"].(time.Time)
		if tok, _ := rows[0]["token"].(string); len(tok) != 24 || !ok || exp.Before(time.Now().Add(29*24*time.Hour)) {
			t.Errorf("row %v", rows[0]["expires_at"])
		}
	}},
	"user_token_actions.md: Take the write flag away from a Query Server token":           {column: "can_write", rows: 1, writes: 1, values: []string{"false"}},
	"user_token_actions.md: Revoke the Query Server tokens of several users":              {column: "email", rows: 2, writes: 2, values: []string{"analyst@example.com", "former@example.com"}},
	"user_token_actions.md: Revoke the tokens of deactivated Query Server users":          {column: "email", rows: 1, writes: 1, values: []string{"former@example.com"}},
	"user_token_actions.md: Create a read-only Query Server token that expires in a week": {column: "email", rows: 1, writes: 1, values: []string{"newhire@example.com"}},
	"user_token_actions.md: Rotate a GitLab token, with an expiry in 30 days": {column: "new_id", rows: 1, writes: 1, values: []string{"12"},
		check: func(t *testing.T, rows []map[string]any) {
			exp, ok := rows[0]["expires_at"].(time.Time)
			if tok, _ := rows[0]["token"].(string); !strings.HasPrefix(tok, "glpat-") || !ok || !exp.Equal(sb.Now().AddDate(0, 0, 30)) {
				t.Errorf("row %v", rows[0])
			}
		}},
	"user_token_actions.md: Revoke the GitLab tokens of blocked or deactivated users": {column: "id", rows: 2, writes: 2, values: []string{"5", "6"}},
	"user_token_actions.md: Revoke the Okta tokens of owners who are not active":      {column: "id", rows: 2, writes: 2, values: []string{sandbox.OktaTokenFormer, sandbox.OktaTokenOnLeave}},
}

var sqlBlock = regexp.MustCompile("(?s)```sql\\+postgres\n(.*?)```")

// docSignInTokenID is the sign-in token the revoke example names; the example runs
// with a token created just before in its place.
const docSignInTokenID = "sit_2pR1aB3cD4eF5gH6iJ7kL8mN9oP"

// Every example in docs/tables runs through PostgreSQL against a fresh sandbox, and
// returns what the data implies; an action makes one request per action.
func TestEveryDocumentedExampleReturnsWhatTheDataImplies(t *testing.T) {
	conns := map[*testing.T]*pgx.Conn{} // one session per example
	runDocExamples(t, func(t *testing.T, sql string) []map[string]any {
		c, ok := conns[t]
		if !ok {
			c = connect(t)
			conns[t] = c
		}
		return mustRows(t, c, sql)
	})
}

// runDocExamples runs every sql+postgres example of docs/tables with query (which
// fails the test on an error) against a fresh sandbox, in a subtest named "file:
// title", and checks that it returns what docWants says, with the requests that
// change something it says; every docWants entry must name an example.
func runDocExamples(t *testing.T, query func(t *testing.T, sql string) []map[string]any) {
	files, _ := filepath.Glob("../docs/tables/*.md")
	if len(files) == 0 {
		t.Fatal("no docs/tables/*.md")
	}
	ran := map[string]bool{}
	for _, f := range files {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		titles := exampleTitles(doc)
		for i, m := range sqlBlock.FindAllSubmatch(doc, -1) {
			name := fmt.Sprintf("%s: %s", filepath.Base(f), titles[i])
			ran[name] = true
			t.Run(name, func(t *testing.T) {
				want, ok := docWants[name]
				if !ok {
					t.Fatalf("no expected result for this example: add one to docWants")
				}
				sb.Reset()
				t.Cleanup(sb.Reset)
				sql := string(m[1])
				if strings.Contains(sql, docSignInTokenID) { // a token to revoke
					made := query(t, "select id, url from sign_in_tokens where user_id = "+pgcluster.Quote(sandbox.ClerkUsers[0]))
					if len(made) != 1 {
						t.Fatalf("creating a sign-in token to revoke: %d rows", len(made))
					}
					sql = strings.ReplaceAll(sql, docSignInTokenID, made[0]["id"].(string))
					sb.ResetRequests()
				}
				checkDocRows(t, want, query(t, sql), sql)
			})
		}
	}
	for name := range docWants {
		if !ran[name] {
			t.Errorf("docWants has %q, which no doc has", name)
		}
	}
}

// checkDocRows: rows are what want says, and the sandbox saw want.writes requests that
// change something.
func checkDocRows(t *testing.T, want docWant, rows []map[string]any, sql string) {
	t.Helper()
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprint(r[want.column]))
	}
	wantValues := slices.Clone(want.values)
	if !want.ordered {
		slices.Sort(got)
		slices.Sort(wantValues)
	}
	if len(rows) != want.rows || (want.values != nil && !slices.Equal(got, wantValues)) {
		t.Fatalf("%d rows %q, want %d %q\n%s", len(rows), got, want.rows, wantValues, sql)
	}
	if want.check != nil {
		want.check(t, rows)
	}
	if w := writes(); len(w) != want.writes {
		t.Fatalf("%d requests that change something, want %d: %v", len(w), want.writes, sb.Requests())
	}
}

// exampleTitles lists the H3 headings, one per example.
func exampleTitles(doc []byte) []string {
	var titles []string
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "### ") {
			titles = append(titles, strings.TrimPrefix(line, "### "))
		}
	}
	return titles
}

// remediationValues stand in for the placeholders of the Powerpipe controls' remediation
// examples. "<admin email>" is the admin whose token the tokens connection uses: its
// example runs from a second admin's connection, as its doc says (secondAdmin).
var remediationValues = strings.NewReplacer(
	"<admin email>", "admin@example.com",
	"<owner email>", "dev@example.com",
	"<provider>", "vercel",
	"<token id>", "tok_0ldM0n1t0r1ng4Lp8Kq",
	"<okta token id>", sandbox.OktaTokenHelpdesk,
	"<gitlab token id>", "2", // alice's laptop token: api, never expires
)

// remediationWants: per control doc, the statuses of its examples' rows in order (an
// example that only reads lists none).
var remediationWants = map[string][][]string{
	"user_token_connection_short_lived_read_only.md": {{"updated"}},
	"user_token_expiry_set.md":                       {{"revoked"}, {"updated"}},
	"user_token_leaked_revoked.md":                   {{"revoked"}},
	"user_token_least_privilege.md":                  {{"updated"}, {"revoked"}, {"revoked"}, {"revoked"}},
	"user_token_not_expiring_soon.md":                {{"updated"}},
	"user_token_one_active_per_owner.md":             {nil, {"revoked"}},
	"user_token_owner_active.md":                     {{"revoked"}, {"revoked"}},
	"user_token_network_restricted.md":               {{"revoked"}},
	"user_token_rotated_within_max_age.md":           {{"revoked"}, {"revoked"}},
	"user_token_used_recently.md":                    {{"revoked"}},
}

// secondAdmin adds an admin with a token of its own to the sandbox, and points c at a
// connection that authenticates with it (schema second_admin).
func secondAdmin(t *testing.T, c *pgx.Conn) {
	uuid := sb.AddQueryServerUser("second-admin@example.com", true)
	var token string
	for _, tok := range sb.QueryServerUserTokens() {
		if tok.UserUUID == uuid {
			token = tok.Token
		}
	}
	mapping := strings.Replace(string(sb.ConnectionConfig(sbURL, nil)), sb.QueryServerAdminToken(), token, 1)
	ctx := context.Background()
	stmts := append([]string{"drop schema if exists second_admin cascade", "drop server if exists second_admin cascade"},
		pgcluster.ServerStatements("second_admin", "allow_user_token_update = true", mapping)...)
	if err := pgcluster.Exec(ctx, c, append(stmts, "set search_path to second_admin, public")...); err != nil {
		t.Fatal(err)
	}
}

var remediationBlock = regexp.MustCompile("(?s)```sql\n(.*?)```")

// Every remediation example in the Powerpipe controls' docs runs through PostgreSQL,
// with its placeholders filled in, and acts as it says.
func TestEveryRemediationExampleActs(t *testing.T) {
	files, _ := filepath.Glob("../powerpipe/docs/controls/*.md")
	if len(files) != len(remediationWants) {
		t.Errorf("%d control docs, remediationWants has %d", len(files), len(remediationWants))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			doc, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			wants := remediationWants[filepath.Base(f)]
			var blocks []string
			for _, m := range remediationBlock.FindAllSubmatch(doc, -1) {
				for _, stmt := range strings.Split(string(m[1]), ";") {
					if strings.TrimSpace(stmt) != "" {
						blocks = append(blocks, remediationValues.Replace(stmt))
					}
				}
			}
			if len(blocks) != len(wants) {
				t.Fatalf("%d examples, want %d", len(blocks), len(wants))
			}
			for i, sql := range blocks {
				c := fresh(t)
				if strings.Contains(sql, "'admin@example.com'") {
					// From the connection itself, the plugin refuses: the update would
					// re-mint the token it authenticates with.
					if _, err := rowsOf(t, c, sql); err == nil || !strings.Contains(err.Error(), "lock") {
						t.Fatalf("example %d from the connection's own token: %v", i+1, err)
					}
					secondAdmin(t, c)
				}
				rows := mustRows(t, c, sql)
				var got []string
				for _, r := range rows {
					if s, ok := r["status"].(string); ok {
						got = append(got, s)
					}
				}
				acted := len(writes()) > 0
				if !slices.Equal(got, wants[i]) || acted != (wants[i] != nil) {
					t.Errorf("example %d: statuses %q, want %q; writes %v\n%s", i+1, got, wants[i], writes(), sql)
				}
			}
		})
	}
}

// indexExample is docs/index.md's first query and the output shown under it.
var indexExample = regexp.MustCompile("(?s)```sql\n(.*?)```\n\n```\n(.*?)```")

// docs/index.md shows its example's output as psql prints it, from the sandbox's audit
// estate; UPDATE_DOCS=1 rewrites it from the query's rows.
func TestIndexExampleShowsWhatTheQueryReturns(t *testing.T) {
	const path = "../docs/index.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := indexExample.FindSubmatchIndex(doc)
	if m == nil {
		t.Fatal("no example with its output in docs/index.md")
	}
	c := fresh(t)
	rows, err := c.Query(t.Context(), string(doc[m[2]:m[3]]))
	if err != nil {
		t.Fatal(err)
	}
	var header []string
	for _, f := range rows.FieldDescriptions() {
		header = append(header, f.Name)
	}
	var cells [][]string
	var numeric []bool
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		if numeric == nil {
			numeric = make([]bool, len(vals))
		}
		var line []string
		for i, v := range vals {
			switch v.(type) {
			case int16, int32, int64, float32, float64:
				numeric[i] = true
			}
			line = append(line, fmt.Sprint(v))
		}
		cells = append(cells, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	got := psqlAligned(header, cells, numeric)
	if shown := string(doc[m[4]:m[5]]); shown != got {
		if os.Getenv("UPDATE_DOCS") == "1" {
			updated := append(append(slices.Clone(doc[:m[4]]), got...), doc[m[5]:]...)
			if err := os.WriteFile(path, updated, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("docs/index.md shows\n%s\nthe query returns\n%s(UPDATE_DOCS=1 rewrites it)", shown, got)
	}
}

// psqlAligned prints text and number columns in psql's aligned format: headers
// centred, numbers right-aligned, text left-aligned, then the row count. (Other types
// would print as Go shows them: the example sticks to text and numbers.)
func psqlAligned(header []string, rows [][]string, numeric []bool) string {
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = len([]rune(h))
		for _, r := range rows {
			width[i] = max(width[i], len([]rune(r[i])))
		}
	}
	var b strings.Builder
	line := func(cell func(i int) string) {
		var parts []string
		for i := range header {
			parts = append(parts, " "+cell(i)+" ")
		}
		b.WriteString(strings.TrimRight(strings.Join(parts, "|"), " ") + "\n")
	}
	pad := func(s string, n int) string { return strings.Repeat(" ", max(n, 0)) + s }
	line(func(i int) string {
		gap := width[i] - len([]rune(header[i]))
		return pad(header[i], gap/2) + strings.Repeat(" ", gap-gap/2)
	})
	var rule []string
	for _, w := range width {
		rule = append(rule, strings.Repeat("-", w+2))
	}
	b.WriteString(strings.Join(rule, "+") + "\n")
	for _, r := range rows {
		line(func(i int) string {
			gap := width[i] - len([]rune(r[i]))
			if numeric != nil && numeric[i] {
				return pad(r[i], gap)
			}
			return r[i] + strings.Repeat(" ", gap)
		})
	}
	if len(rows) == 1 {
		b.WriteString("(1 row)\n")
	} else {
		fmt.Fprintf(&b, "(%d rows)\n", len(rows))
	}
	return b.String()
}
