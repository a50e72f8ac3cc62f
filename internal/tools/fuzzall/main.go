// Command fuzzall runs every fuzz target of the module, one after another, for a
// while each (make fuzz-brief: 3 s each, in make test; make fuzz: FUZZTIME each).
//
//	go run ./internal/tools/fuzzall [-fuzztime 1m] [-minimize 10s]
//
// Targets are found with go test -list. The corpus a run grows stays in the Go build
// cache; a failing input is written to <package>/testdata/fuzz/<target>/: keep it,
// plain go test then runs it as a regression test.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	fuzztime := flag.String("fuzztime", "1m", "how long to fuzz each target (as go test -fuzztime takes it)")
	minimize := flag.String("minimize", "10s", "how long to minimize a failing input")
	flag.Parse()
	out, err := exec.Command("go", "test", "-list", "^Fuzz", "./...").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "fuzzall: listing the fuzz targets: %v\n%s", err, out)
		os.Exit(1)
	}
	// go test -list prints a package's targets, then "ok  <package>  <time>"
	type target struct{ pkg, name string }
	var targets []target
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Fuzz"):
			names = append(names, line)
		case strings.HasPrefix(line, "ok"):
			for _, n := range names {
				targets = append(targets, target{strings.Fields(line)[1], n})
			}
			names = nil
		}
	}
	if len(targets) == 0 {
		fmt.Fprintln(os.Stderr, "fuzzall: no fuzz targets found")
		os.Exit(1)
	}
	fmt.Printf("fuzzall: %d targets, %s each\n", len(targets), *fuzztime)
	var failed []string
	for _, t := range targets {
		start := time.Now()
		cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+t.name+"$", "-fuzztime", *fuzztime, "-fuzzminimizetime", *minimize, t.pkg)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			failed = append(failed, t.name+" ("+t.pkg+")")
		}
		fmt.Printf("--- %s %s\n", t.name, time.Since(start).Round(time.Second))
	}
	if len(failed) > 0 {
		fmt.Fprintf(os.Stderr, "fuzzall: %d of %d targets failed:\n  %s\n", len(failed), len(targets), strings.Join(failed, "\n  "))
		os.Exit(1)
	}
	fmt.Printf("fuzzall: all %d targets passed\n", len(targets))
}
