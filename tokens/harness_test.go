package tokens

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/turbot/steampipe-plugin-sdk/v5/anywhere"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The tests drive the plugin in process through the SDK's own execution paths, with
// real quals, LIMITs and connection configs, against the sandbox: Execute with a
// gRPC-style stream (what Steampipe calls), or CallExecuteAsync with a local stream
// (what the PostgreSQL extension calls: query.local).

var (
	server *grpc.PluginServer
	logs   = &lockedBuffer{}
	// every sandbox a test started, so the final log scan knows all their secrets
	sandboxes    []*sandbox.Sandbox
	sandboxesMu  sync.Mutex
	connSeq      atomic.Int64
	benchmarking bool
	// connServers: the plugin server of each connection made on another server than
	// the shared one (TestAProviderDefinedInATestJoinsEveryTable)
	connServers sync.Map
	// configMu keeps connection changes apart from running queries: the SDK
	// re-initialises every table when a connection is added, writing the table
	// definitions that running queries read (sdk_workarounds.go, defect 4).
	configMu sync.RWMutex
)

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestMain(m *testing.M) {
	// Log everything the SDK and the plugin say, and keep it for the final scan;
	// benchmarks measure the plugin, not the logging.
	flag.Parse()
	benchmarking = flag.Lookup("test.bench").Value.String() != ""
	if benchmarking {
		os.Setenv("STEAMPIPE_LOG_LEVEL", "WARN")
	} else {
		os.Setenv("STEAMPIPE_LOG_LEVEL", "TRACE")
	}
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	realStderr := os.Stderr
	os.Stderr = w
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(logs, r)
		close(copied)
	}()

	server = plugin.Server(&plugin.ServeOpts{PluginFunc: Plugin})
	if _, err := server.SetCacheOptions(&proto.SetCacheOptionsRequest{Enabled: true, Ttl: 300, MaxSizeMb: 16}); err != nil {
		panic(err)
	}
	code := m.Run()
	if sandboxBin != "" {
		os.Remove(sandboxBin) // built by the benchmarks
	}

	w.Close()
	<-copied
	os.Stderr = realStderr
	if code == 0 && !benchmarking {
		code = scanLogsForSecrets(realStderr)
	}
	os.Exit(code)
}

// scanLogsForSecrets fails the run if any log line of any test holds a secret.
func scanLogsForSecrets(out io.Writer) int {
	text := logs.String()
	sandboxesMu.Lock()
	defer sandboxesMu.Unlock()
	if len(sandboxes) == 0 {
		return 0 // no test of this run used a provider
	}
	if len(text) < 1000 {
		fmt.Fprintln(out, "secret scan: the tests produced no logs to scan; is STEAMPIPE_LOG_LEVEL honoured?")
		return 1
	}
	for _, sb := range sandboxes {
		for _, secret := range sb.Secrets() {
			if i := strings.Index(text, secret); i >= 0 {
				fmt.Fprintf(out, "secret scan: a sandbox secret (%d chars) appears in the plugin logs at byte %d\n", len(secret), i)
				return 1
			}
		}
	}
	fmt.Fprintf(out, "secret scan: %d bytes of TRACE logs from %d sandboxes hold no secret\n", len(text), len(sandboxes))
	return 0
}

// env is one sandbox and a connection to it.
type env struct {
	t    testing.TB
	sb   *sandbox.Sandbox
	url  string
	conn string
	srv  *grpc.PluginServer // nil: the shared server
}

// newEnv starts a sandbox and a connection to all three providers, with fast
// failures and the extra arguments given (name = value lines).
func newEnv(t testing.TB, sbc sandbox.Config, extra ...string) *env {
	t.Helper()
	return newEnvWith(t, sbc, func(sb *sandbox.Sandbox, url string) string {
		args := map[string]string{"request_timeout": "5"}
		for _, line := range extra {
			k, v, _ := strings.Cut(line, "=")
			args[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
		return string(sb.ConnectionConfig(url, args))
	})
}

// newEnvWith starts a sandbox and a connection whose config cfg builds from it.
func newEnvWith(t testing.TB, sbc sandbox.Config, cfg func(sb *sandbox.Sandbox, url string) string) *env {
	t.Helper()
	return newEnvOn(t, nil, sbc, cfg)
}

// newEnvOn is newEnvWith on another plugin server than the shared one (nil: the shared one).
func newEnvOn(t testing.TB, srv *grpc.PluginServer, sbc sandbox.Config, cfg func(sb *sandbox.Sandbox, url string) string) *env {
	t.Helper()
	sb := sandbox.New(sbc)
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	sandboxesMu.Lock()
	sandboxes = append(sandboxes, sb)
	sandboxesMu.Unlock()
	e := &env{t: t, sb: sb, url: ts.URL, srv: srv}
	e.conn = e.connect(cfg(sb, ts.URL))
	return e
}

// connect adds a connection with the given config body and returns its name. Each
// test gets its own connection, so cached clients never cross tests.
func (e *env) connect(config string) string {
	e.t.Helper()
	name := fmt.Sprintf("tokens_t%d", connSeq.Add(1))
	srv := server
	if e.srv != nil {
		srv = e.srv
		connServers.Store(name, srv)
	}
	configMu.Lock()
	defer configMu.Unlock()
	// -1: the query cache was made once in TestMain, as Steampipe does at start; a
	// size here would make the SDK build a new cache on every call.
	res, err := srv.SetAllConnectionConfigs(&proto.SetAllConnectionConfigsRequest{
		Configs: []*proto.ConnectionConfig{{
			Connection: name, Plugin: "tokens", PluginShortName: "tokens", PluginInstance: "tokens", Config: config,
		}},
		MaxCacheSizeMb: -1,
	})
	if err != nil {
		e.t.Fatalf("set connection config: %v", err)
	}
	if msg := res.FailedConnections[name]; msg != "" {
		e.t.Fatalf("connection %s failed to load: %s", name, msg)
	}
	return name
}

// query describes one scan.
type query struct {
	table   string
	columns []string       // nil: every column
	quals   map[string]any // column -> value (string, int64, bool, time.Time), []string for IN, or op{...}
	limit   int64          // 0: no limit
	cache   bool
	local   bool // through CallExecuteAsync and a local stream, as the PostgreSQL extension runs it
}

// op is a condition with another operator than =.
type op struct {
	operator string
	value    any
}

type row map[string]any

// run executes a scan and returns its rows, or the error the user would see. Every
// row and error is checked for secrets first.
func (e *env) run(q query) ([]row, error) {
	e.t.Helper()
	return runOn(e.t, e.conn, q, e.sb)
}

func (e *env) mustRun(q query) []row {
	e.t.Helper()
	rows, err := e.run(q)
	if err != nil {
		e.t.Fatalf("query %s %v: %v", q.table, q.quals, err)
	}
	return rows
}

func runOn(t testing.TB, conn string, q query, sbs ...*sandbox.Sandbox) ([]row, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runWithContext(ctx, t, conn, q, sbs...)
}

// runWithContext runs a scan that ends when ctx does, as a cancelled query would.
func runWithContext(ctx context.Context, t testing.TB, conn string, q query, sbs ...*sandbox.Sandbox) ([]row, error) {
	t.Helper()
	var rows []row
	err := execute(ctx, t, conn, q, func(r *proto.Row) { rows = append(rows, decodeRow(t, r)) })
	assertNoSecrets(t, q.table, rows, err, sbs...)
	return rows, err
}

func request(t testing.TB, conn string, q query) *proto.ExecuteRequest {
	cols := q.columns
	if len(cols) == 0 {
		cols = columnsOf(q.table)
	}
	limit := int64(-1)
	var limitProto *proto.NullableInt
	if q.limit > 0 {
		limit = q.limit
		limitProto = &proto.NullableInt{Value: q.limit}
	}
	return &proto.ExecuteRequest{
		Table:        q.table,
		QueryContext: proto.NewQueryContext(cols, qualMap(t, q.quals), limit, nil),
		CallId:       grpc.BuildCallId(),
		Connection:   conn,
		ExecuteConnectionData: map[string]*proto.ExecuteConnectionData{
			conn: {Limit: limitProto, CacheEnabled: q.cache, CacheTtl: 300},
		},
	}
}

// serverOf is the plugin server a connection was made on.
func serverOf(conn string) *grpc.PluginServer {
	if s, ok := connServers.Load(conn); ok {
		return s.(*grpc.PluginServer)
	}
	return server
}

// execute runs one scan and hands each row to onRow.
func execute(ctx context.Context, t testing.TB, conn string, q query, onRow func(*proto.Row)) error {
	configMu.RLock()
	defer configMu.RUnlock()
	req := request(t, conn, q)
	server := serverOf(conn)
	if q.local {
		// As the extension's scan iterator reads it: the first nil row ends the results.
		stream := anywhere.NewLocalPluginStream(ctx)
		server.CallExecuteAsync(req, stream)
		for {
			resp, err := stream.Recv()
			if err != nil || resp == nil {
				return err
			}
			if resp.Row != nil {
				onRow(resp.Row)
			}
		}
	}
	stream := &rowStream{ctx: ctx, rows: make(chan *proto.ExecuteResponse)}
	done := make(chan error, 1)
	go func() { done <- server.Execute(req, stream) }()
	for {
		select {
		case resp := <-stream.rows:
			if resp.Row != nil {
				onRow(resp.Row)
			}
		case err := <-done:
			return err
		}
	}
}

// rowStream receives what the plugin streams, as Steampipe's gRPC server would.
type rowStream struct {
	ctx  context.Context
	rows chan *proto.ExecuteResponse
}

func (s *rowStream) Send(r *proto.ExecuteResponse) error {
	select {
	case s.rows <- r:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}
func (s *rowStream) Context() context.Context     { return s.ctx }
func (s *rowStream) SetHeader(metadata.MD) error  { return nil }
func (s *rowStream) SendHeader(metadata.MD) error { return nil }
func (s *rowStream) SetTrailer(metadata.MD)       {}
func (s *rowStream) SendMsg(any) error            { return nil }
func (s *rowStream) RecvMsg(any) error            { return nil }

// secretColumns are the columns a table exists to return secrets in.
var secretColumns = map[string][]string{"sign_in_tokens": {"token", "url"}, "user_token_actions": {"token"}}

// assertNoSecrets: no secret in any column but the ones the table returns secrets
// in, and none in the error text.
func assertNoSecrets(t testing.TB, table string, rows []row, err error, sbs ...*sandbox.Sandbox) {
	t.Helper()
	var texts []string
	for _, r := range rows {
		for col, v := range r {
			if !contains(secretColumns[table], col) {
				texts = append(texts, fmt.Sprint(v))
			}
		}
	}
	if err != nil {
		texts = append(texts, err.Error())
	}
	all := strings.Join(texts, "\n")
	for _, sb := range sbs {
		for _, secret := range sb.Secrets() {
			if strings.Contains(all, secret) {
				t.Fatalf("a secret (%d chars) reached a %s column or error", len(secret), table)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func qualMap(t testing.TB, quals map[string]any) map[string]*proto.Quals {
	m := map[string]*proto.Quals{}
	for col, v := range quals {
		operator := "="
		if o, ok := v.(op); ok {
			operator, v = o.operator, o.value
		}
		m[col] = &proto.Quals{Quals: []*proto.Qual{{
			FieldName: col,
			Operator:  &proto.Qual_StringValue{StringValue: operator},
			Value:     qualValue(t, v),
		}}}
	}
	return m
}

func qualValue(t testing.TB, v any) *proto.QualValue {
	switch x := v.(type) {
	case string:
		return &proto.QualValue{Value: &proto.QualValue_StringValue{StringValue: x}}
	case int64:
		return &proto.QualValue{Value: &proto.QualValue_Int64Value{Int64Value: x}}
	case int:
		return &proto.QualValue{Value: &proto.QualValue_Int64Value{Int64Value: int64(x)}}
	case bool:
		return &proto.QualValue{Value: &proto.QualValue_BoolValue{BoolValue: x}}
	case time.Time:
		return &proto.QualValue{Value: &proto.QualValue_TimestampValue{TimestampValue: timestamppb.New(x)}}
	case []string:
		list := &proto.QualValueList{}
		for _, s := range x {
			list.Values = append(list.Values, qualValue(t, s))
		}
		return &proto.QualValue{Value: &proto.QualValue_ListValue{ListValue: list}}
	}
	t.Fatalf("unsupported qual value %T", v)
	return nil
}

// decodeRow turns a streamed row into Go values: nil for NULL, string, bool, int64,
// time.Time (UTC) and decoded JSON.
func decodeRow(t testing.TB, r *proto.Row) row {
	out := row{}
	for name, c := range r.Columns {
		if name == "sp_connection_name" || name == "sp_ctx" || name == "_ctx" {
			continue
		}
		switch v := c.Value.(type) {
		case *proto.Column_NullValue:
			out[name] = nil
		case *proto.Column_StringValue:
			out[name] = v.StringValue
		case *proto.Column_BoolValue:
			out[name] = v.BoolValue
		case *proto.Column_IntValue:
			out[name] = v.IntValue
		case *proto.Column_DoubleValue:
			out[name] = v.DoubleValue
		case *proto.Column_TimestampValue:
			out[name] = v.TimestampValue.AsTime().UTC()
		case *proto.Column_JsonValue:
			var j any
			if err := json.Unmarshal(v.JsonValue, &j); err != nil {
				t.Fatalf("column %s: invalid JSON: %v", name, err)
			}
			out[name] = j
		default:
			t.Fatalf("column %s: unexpected value type %T", name, c.Value)
		}
	}
	return out
}

// columnsOf lists a table's columns from the plugin's own schema.
func columnsOf(table string) []string {
	var cols []string
	for _, c := range Plugin(context.Background()).TableMap[table].Columns {
		cols = append(cols, c.Name)
	}
	return cols
}

func assertErrorMentions(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %v", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

// revokesNamed counts a failed scan's creates and revokes in the sandbox's request
// log, and checks that err names each token revoked.
func (e *env) revokesNamed(err error, create func(sandbox.Request) bool, revoke func(sandbox.Request) (id string, ok bool)) (creates, revokes int) {
	e.t.Helper()
	for _, r := range e.sb.Requests() {
		if create(r) {
			creates++
		} else if id, ok := revoke(r); ok {
			revokes++
			if !strings.Contains(err.Error(), id) {
				e.t.Errorf("the error does not name %s, which was revoked: %v", id, err)
			}
		}
	}
	return creates, revokes
}
