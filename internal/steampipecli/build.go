// Package steampipecli builds the Steampipe CLI the plugin is tested with, and the
// database it runs, from source (make steampipe), and installs that database where
// Steampipe looks for it (the e2e Steampipe stage).
//
// Steampipe v1.1.3 downloads its embedded PostgreSQL 14.17 and its foreign data wrapper
// from ghcr.io, which these machines cannot reach. Stand-ins: Debian's PostgreSQL 15
// and steampipe-postgres-fdw built in its multi-plugin mode (its plain make target).
// v1.1.3 pins FDW 1.12.5, which the module proxy refuses (403); v1.13.0 is the nearest
// it serves, built unpatched: users of Steampipe run the released wrapper, not the
// patched one make fdw builds. InstallDatabase says which of Steampipe's install
// checks the stand-ins satisfy and how.
package steampipecli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/tools/modcopy"
)

const (
	Module     = "github.com/turbot/steampipe"
	Version    = "1.1.3"
	FDWModule  = "github.com/turbot/steampipe-postgres-fdw"
	FDWVersion = "1.13.0" // the nearest the module proxy serves to the pinned 1.12.5
	// PinnedFDWVersion is the FDW version Steampipe v1.1.3 installs and checks for
	// (constants.FdwVersion).
	PinnedFDWVersion = "1.12.5"
	// DatabaseVersion names the directory of Steampipe's database
	// ($STEAMPIPE_INSTALL_DIR/db/14.17.0), and PostgresImageDigest is the digest of
	// the image v1.1.3 installs it from (constants.PostgresImageDigest).
	DatabaseVersion     = "14.17.0"
	PostgresImageDigest = "sha256:4d66131a30139b2b912abe17bcd93c6b4e6a89224874960fea0f141ca51168e7"
	// PGBin is the PostgreSQL that stands in for the embedded one.
	PGBin = "/usr/lib/postgresql/15/bin"

	dir     = ".cache/steampipe"
	fdwBase = "steampipe_postgres_fdw"
)

// FDWFiles are the wrapper's three files, as PostgreSQL and Steampipe name them.
var FDWFiles = []string{fdwBase + ".so", fdwBase + ".control", fdwBase + "--1.0.sql"}

// Binary is the built Steampipe, relative to the repository.
const Binary = dir + "/steampipe-" + Version

// FDWDir holds the built wrapper's FDWFiles, relative to the repository.
const FDWDir = dir + "/fdw-" + FDWVersion

// Build builds Steampipe and the wrapper into .cache/steampipe under repo, unless
// .cache/steampipe/built-from says they were built from the same inputs and the files
// are those it recorded. Progress goes to w.
func Build(repo string, w io.Writer) error {
	cache := filepath.Join(repo, dir)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	inputs, err := inputsHash(repo)
	if err != nil {
		return err
	}
	stamp := filepath.Join(cache, "built-from")
	outputs := append([]string{filepath.Join(repo, Binary)}, fdwPaths(repo)...)
	if b, err := os.ReadFile(stamp); err == nil {
		if want, err := stampText(inputs, outputs); err == nil && string(b) == want {
			fmt.Fprintf(w, "buildsteampipe: %s and %s are up to date\n", Binary, FDWDir)
			return nil
		}
	}
	if err := os.Remove(stamp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	start := time.Now()
	if err := buildSteampipe(repo, w); err != nil {
		return err
	}
	if err := buildFDW(repo, w); err != nil {
		return err
	}
	text, err := stampText(inputs, outputs)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "buildsteampipe: built in %s\n", time.Since(start).Round(time.Second))
	return os.WriteFile(stamp, []byte(text), 0o644)
}

func fdwPaths(repo string) []string {
	var p []string
	for _, f := range FDWFiles {
		p = append(p, filepath.Join(repo, FDWDir, f))
	}
	return p
}

// inputsHash covers what the outputs are built from: the versions, the toolchains and
// this recipe.
func inputsHash(repo string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s@%s %s@%s %s %s/%s\n", Module, Version, FDWModule, FDWVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, args := range [][]string{{"go", "version"}, {filepath.Join(PGBin, "pg_config"), "--version"}} {
		out, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			return "", fmt.Errorf("%s: %w (make deps installs PostgreSQL 15)", strings.Join(args, " "), err)
		}
		h.Write(out)
	}
	recipe, err := os.ReadFile(filepath.Join(repo, "internal/steampipecli/build.go"))
	if err != nil {
		return "", err
	}
	h.Write(recipe)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// stampText is the inputs' hash and each output's hash, one a line.
func stampText(inputs string, outputs []string) (string, error) {
	var b strings.Builder
	b.WriteString(inputs + "\n")
	for _, p := range outputs {
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%x  %s\n", h.Sum(nil), filepath.Base(p))
	}
	return b.String(), nil
}

// buildSteampipe: go install refuses the module (its go.mod has replace directives),
// so the module is copied out of the module proxy and built in place. Its version is
// in its source; no flags needed.
func buildSteampipe(repo string, w io.Writer) error {
	src := filepath.Join(repo, dir, "src-steampipe")
	if err := modcopy.Copy(Module+"@v"+Version, src); err != nil {
		return err
	}
	bin := filepath.Join(repo, Binary)
	fmt.Fprintf(w, "buildsteampipe: building %s@v%s\n", Module, Version)
	cmd := exec.Command("go", "build", "-o", bin+".tmp", ".")
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build in %s: %w", src, err)
	}
	return os.Rename(bin+".tmp", bin)
}

// buildFDW runs the wrapper's plain make (the multi-plugin build Steampipe loads,
// unpatched) against PostgreSQL 15's pg_config, and keeps its three files, stripped of
// debug symbols (it still loads).
func buildFDW(repo string, w io.Writer) error {
	src := filepath.Join(repo, dir, "src-fdw")
	if err := modcopy.Copy(FDWModule+"@v"+FDWVersion, src); err != nil {
		return err
	}
	logPath := filepath.Join(repo, dir, "fdw-make.log")
	fmt.Fprintf(w, "buildsteampipe: building %s@v%s, multi-plugin (log: %s)\n", FDWModule, FDWVersion, logPath)
	var log bytes.Buffer
	cmd := exec.Command("make", "-C", src)
	cmd.Env = append(os.Environ(), "PATH="+PGBin+":/usr/local/go/bin:"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = &log, &log
	err := cmd.Run()
	if werr := os.WriteFile(logPath, log.Bytes(), 0o644); werr != nil {
		return werr
	}
	if err != nil {
		lines := strings.Split(strings.TrimSpace(log.String()), "\n")
		return fmt.Errorf("make in %s: %w (is postgresql-server-dev-15 installed? make deps)\n%s", src, err,
			strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
	out := filepath.Join(repo, FDWDir)
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	built := filepath.Join(src, "build-Linux") // build-$(uname)
	for _, f := range FDWFiles {
		if f == fdwBase+".so" {
			if out, err := exec.Command("strip", "--strip-debug", "-o", filepath.Join(out, f), filepath.Join(built, f)).CombinedOutput(); err != nil {
				return fmt.Errorf("strip: %w: %s", err, out)
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(built, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, f), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
