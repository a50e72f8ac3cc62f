// Command tokens-sandbox serves the offline emulation of the Vercel, Query
// Server and Clerk APIs (internal/sandbox) as a standalone process, for
// Postgres end-to-end tests and demos.
//
//	tokens-sandbox -listen 127.0.0.1:0 -config-out tokens.conf -ready-file addr
//
// It writes the plugin's connection-config body (HCL) to -config-out with
// mode 0600, prints the base URL and the config path (never a secret),
// writes the listen address to -ready-file once it accepts connections, and
// exits cleanly on SIGINT or SIGTERM. The control API lives under
// <base URL>/_sandbox/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokens-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	seed := fs.Int64("seed", 1, "seed for the generated data and credentials")
	vercelTokens := fs.Int("vercel-tokens", 0, "generated Vercel tokens (0: default 30, -1: none)")
	vercelCursor := fs.String("vercel-cursor", "mixed", "Vercel pagination cursor type: number, string or mixed")
	qsUsers := fs.Int("query-server-users", 0, "Query Server users including the admin (0: default 6, -1: admin only)")
	qsPath := fs.String("query-server-token-path", "/_/user/token", "user-token route: /_/user/token or /_/user-token")
	clerkUsers := fs.Int("clerk-users", 0, "Clerk users (0: default 5, -1: none)")
	clerkRate := fs.Int("clerk-rate-limit", 0, "Clerk requests per 10 s before 429 (0: default 100, -1: off)")
	latency := fs.Duration("latency", 0, "latency added to every upstream request")
	configOut := fs.String("config-out", "", "write the plugin connection-config body (HCL, mode 0600) here")
	readyFile := fs.String("ready-file", "", "write the listen address here once serving")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tokens-sandbox: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	cfg := sandbox.Config{
		Seed: *seed, VercelTokens: *vercelTokens, VercelCursor: *vercelCursor,
		QueryServerUsers: *qsUsers, QueryServerTokenPath: *qsPath,
		ClerkUsers: *clerkUsers, ClerkRateLimit: *clerkRate, Latency: *latency,
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "tokens-sandbox: %v\n", err)
		return 2
	}
	if *seed == 0 {
		fmt.Fprintln(stderr, "tokens-sandbox: -seed 0 means the default seed 1")
	}

	// Catch signals before anyone can learn we are ready.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "tokens-sandbox: %v\n", err)
		return 1
	}
	addr := dialable(ln.Addr().(*net.TCPAddr))
	base := "http://" + addr
	sb := sandbox.New(cfg)

	if *configOut != "" {
		if err := writeFileAtomic(*configOut, []byte(connectionConfig(sb, base, *seed))); err != nil {
			fmt.Fprintf(stderr, "tokens-sandbox: writing -config-out: %v\n", err)
			ln.Close()
			return 1
		}
	}

	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	fmt.Fprintf(stdout, "tokens-sandbox listening on %s\n", base)
	fmt.Fprintf(stdout, "  vercel:       %s/vercel\n  query server: %s/query\n  clerk:        %s/clerk/v1\n  control:      %s/_sandbox/\n",
		base, base, base, base)
	if *configOut != "" {
		fmt.Fprintf(stdout, "connection config written to %s\n", *configOut)
	}
	if *readyFile != "" {
		if err := writeFileAtomic(*readyFile, []byte(addr+"\n")); err != nil {
			fmt.Fprintf(stderr, "tokens-sandbox: writing -ready-file: %v\n", err)
			srv.Close()
			return 1
		}
		defer os.Remove(*readyFile)
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		fmt.Fprintf(stderr, "tokens-sandbox: %v\n", err)
		return 1
	}
	// Requests stalled by a "hang" fault may never finish on their own:
	// give in-flight requests a moment, then drop them.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(stderr, "tokens-sandbox: shutdown: %v\n", err)
	}
	srv.Close()
	fmt.Fprintln(stdout, "tokens-sandbox stopped")
	return 0
}

// dialable turns a wildcard listen address (":8080" listens on every
// interface, loopback included) into one a client can dial.
func dialable(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}

// connectionConfig is the body of a `connection "tokens" { ... }` block.
func connectionConfig(sb *sandbox.Sandbox, base string, seed int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by tokens-sandbox (seed %d). The credentials are generated and only\n", seed)
	b.WriteString("# valid against this sandbox; the file is still mode 0600, like a real config.\n")
	for _, kv := range [][2]string{
		{"vercel_api_token", sb.VercelToken()},
		{"vercel_base_url", base + "/vercel"},
		{"query_server_url", base + "/query"},
		{"query_server_token", sb.QueryServerAdminToken()},
		{"clerk_secret_key", sb.ClerkSecretKey()},
		{"clerk_base_url", base + "/clerk/v1"},
	} {
		fmt.Fprintf(&b, "%-18s = %s\n", kv[0], hclString(kv[1]))
	}
	return b.String()
}

// hclString quotes s as an HCL string literal, escaping template syntax.
func hclString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`, "${", "$${", "%{", "%%{")
	return `"` + r.Replace(s) + `"`
}

// writeFileAtomic writes via a 0600 temp file and a rename, so a reader
// polling for the file never sees it half written or world-readable.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
