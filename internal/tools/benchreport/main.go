// Command benchreport runs the benchmarks and writes BENCHMARKS.md with what they
// measured, the machine, and each figure against its target (issue 13). It also takes
// CPU and heap profiles of one full listing.
//
//	go run ./internal/tools/benchreport -run [-count 3]   run, then report (make bench)
//	go run ./internal/tools/benchreport FILE...           report on saved go test -bench output
//	go run ./internal/tools/benchreport -profile          profiles into build/profile (make profile)
//
// Run it from the repository root, with the extension built (make fdw).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

func main() {
	run := flag.Bool("run", false, "run the benchmarks (in process and through PostgreSQL) before reporting")
	count := flag.Int("count", 3, "runs of each benchmark")
	out := flag.String("o", "BENCHMARKS.md", "report to write")
	profile := flag.Bool("profile", false, "write CPU and heap profiles of one full listing to build/profile instead")
	flag.Parse()
	var err error
	switch {
	case *profile:
		err = profiles("build/profile")
	case *run:
		var files []string
		if files, err = runBenchmarks("build/bench", *count); err == nil {
			err = report(files, *out)
		}
	case flag.NArg() > 0:
		err = report(flag.Args(), *out)
	default:
		err = fmt.Errorf("usage: benchreport -run, benchreport -profile, or benchreport FILE [FILE]")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// patchedSDK builds the in-process benchmarks as make build and make install build
// the plugin: against the SDK with patches/ applied (make sdk-patched).
var patchedSDK = []string{"-modfile=.cache/sdk-patched.mod", "-tags", "sdkpatched"}

// runBenchmarks runs each suite once per count, saving its output in dir and
// echoing it to stderr as it comes.
func runBenchmarks(dir string, count int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	n := strconv.Itoa(count)
	suites := []struct {
		file string
		env  []string
		args []string
	}{
		{"inprocess.txt", nil, append([]string{"test"}, append(patchedSDK, "-run", "^$", "-bench", ".", "-benchtime", "1x", "-count", n, "-timeout", "120m", "./tokens")...)},
		{"postgres.txt", []string{"TOKENS_E2E_BENCH=1"},
			[]string{"test", "-tags", "e2e", "-run", "^$", "-bench", ".", "-benchtime", "1x", "-count", n, "-timeout", "120m", "./e2e"}},
	}
	var files []string
	for _, s := range suites {
		path := filepath.Join(dir, s.file)
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		// benchfmt configuration: the report names the commit that was measured
		fmt.Fprintf(f, "commit: %s\n", commit())
		fmt.Fprintf(os.Stderr, "==> go %v\n", s.args)
		cmd := exec.Command("go", s.args...)
		cmd.Env = append(os.Environ(), s.env...)
		cmd.Stdout, cmd.Stderr = io.MultiWriter(f, os.Stderr), os.Stderr
		err = cmd.Run()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("go %v: %w (output in %s)", s.args, err, path)
		}
		files = append(files, path)
	}
	return files, nil
}
