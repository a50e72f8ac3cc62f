// Command tokens-sandbox serves the emulation of every provider (internal/sandbox) as
// a process of its own: for the benchmarks, which keep its data out of the measured
// heap, and for trying the plugin by hand (make sandbox).
//
//	tokens-sandbox -listen 127.0.0.1:0 -config-out tokens.hcl -ready-file addr \
//	  -generate vercel=9989 -option vercel.cursor=string
//
// It writes the plugin's connection-config body to -config-out (mode 0600), the
// address to -ready-file once it accepts connections, prints neither secret, and
// stops on SIGINT or SIGTERM. The control API is under <address>/_sandbox/.
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tokens-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	var cfg sandbox.Config
	fs.StringVar(&cfg.Estate, "estate", "audit", "the hand-made data: audit (every finding) or clean (nothing to find)")
	cfg.Generate, cfg.Options = map[string]int{}, map[string]string{}
	fs.Func("generate", "`upstream=count`: generated tokens (users, for query_server and clerk) added to the hand-made ones; repeatable",
		func(v string) error {
			name, count, _ := strings.Cut(v, "=")
			n, err := strconv.Atoi(count)
			if err != nil {
				return fmt.Errorf("want upstream=count")
			}
			cfg.Generate[name] = n
			return nil
		})
	fs.Func("option", "`upstream.option=value`: an upstream's quirk (vercel.cursor=number|string|mixed, clerk.rate_limit=N|-1); repeatable",
		func(v string) error {
			key, value, ok := strings.Cut(v, "=")
			if !ok {
				return fmt.Errorf("want upstream.option=value")
			}
			cfg.Options[key] = value
			return nil
		})
	fs.DurationVar(&cfg.Latency, "latency", 0, "time from each upstream request's arrival to its answer")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the credentials and generated data")
	configOut := fs.String("config-out", "", "write the connection-config body (HCL, mode 0600) here")
	readyFile := fs.String("ready-file", "", "write the listen address here once serving")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := cfg.Validate(); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "tokens-sandbox:", errors.Join(err, unexpected(fs.Args())))
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "tokens-sandbox:", err)
		return 1
	}
	addr := ln.Addr().String()
	sb := sandbox.New(cfg)
	if *configOut != "" {
		if err := os.WriteFile(*configOut, sb.ConnectionConfig("http://"+addr, nil), 0o600); err != nil {
			fmt.Fprintln(stderr, "tokens-sandbox:", err)
			return 1
		}
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "tokens-sandbox on http://%s (control API: /_sandbox/)\n", addr)
	if *readyFile != "" {
		if err := os.WriteFile(*readyFile, []byte(addr+"\n"), 0o644); err != nil {
			fmt.Fprintln(stderr, "tokens-sandbox:", err)
			return 1
		}
		defer os.Remove(*readyFile)
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintln(stderr, "tokens-sandbox:", err)
		return 1
	}
	// A request stalled by a "hang" fault may never end on its own: give the others a moment.
	shutdown, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	return 0
}

func unexpected(args []string) error {
	if len(args) == 0 {
		return nil
	}
	return fmt.Errorf("unexpected arguments %q", args)
}
