// Command buildpowerpipe builds the Powerpipe CLI the powerpipe/ mod is tested with, at
// one pinned version, into .cache/powerpipe/powerpipe-<version>, and does nothing when
// that binary is there and reports its version (make powerpipe).
//
// go install does not work here (the module proxy refuses the version list), and a
// release build would need the dashboard UI the module does not carry; the tests need
// neither `powerpipe server` nor the UI. So: copy the exact module version out of the
// module proxy and go build it with the version stamped in (unstamped, it panics: the
// version must be semver). CGO is required (duckdb and sqlite are linked in). The
// README says how long a cold build takes.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/tools/modcopy"
)

const (
	module  = "github.com/turbot/powerpipe"
	version = "1.5.2" // pinned: the only version the module proxy serves here
	dir     = ".cache/powerpipe"
)

func main() {
	bin, err := build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildpowerpipe:", err)
		os.Exit(1)
	}
	fmt.Println(bin)
}

// Binary is where the built Powerpipe is, relative to the repository.
const Binary = dir + "/powerpipe-" + version

func build() (string, error) {
	bin, err := filepath.Abs(Binary)
	if err != nil {
		return "", err
	}
	if err := checkVersion(bin); err == nil {
		fmt.Fprintf(os.Stderr, "buildpowerpipe: %s is up to date\n", bin)
		return bin, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "buildpowerpipe: rebuilding: %v\n", err)
	}
	start := time.Now()
	work := filepath.Join(filepath.Dir(bin), "src-"+version)
	if err := modcopy.Copy(module+"@v"+version, work); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "buildpowerpipe: building %s@v%s (CGO on; about 15 minutes cold on 2 cores)\n", module, version)
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", bin+".tmp", ".")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build in %s: %w", work, err)
	}
	if err := checkVersion(bin + ".tmp"); err != nil {
		return "", err
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "buildpowerpipe: built %s in %s\n", bin, time.Since(start).Round(time.Second))
	return bin, nil
}

// checkVersion fails unless bin runs and prints the pinned version.
func checkVersion(bin string) error {
	if _, err := os.Stat(bin); err != nil {
		return err
	}
	cmd := exec.Command(bin, "--version")
	cmd.Env = append(os.Environ(), "POWERPIPE_UPDATE_CHECK=false", "POWERPIPE_TELEMETRY=none")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "v"+version) {
		return fmt.Errorf("%s --version: %v: %s", bin, err, bytes.TrimSpace(out))
	}
	return nil
}
