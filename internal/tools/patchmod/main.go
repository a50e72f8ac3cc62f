// Command patchmod makes a patched copy of a Go module the plugin is built with: the
// one mechanism for the SDK and wrapper defects only a patched build can fix
// (patches/README.md).
//
//	patchmod [-modfile OUT.mod] DIR MODULE@VERSION
//
// It copies MODULE@VERSION out of the module cache into DIR (replacing DIR) and
// applies patches/<last element of MODULE, without a /vN suffix>/VERSION/*.patch in
// name order with patch -p1; a patch that does not apply exactly fails it, so a new
// version needs its patches checked. With -modfile it also writes a copy of go.mod
// (and of go.sum beside it) that replaces the module with DIR, for go test -modfile:
// the race-detector test run builds against the patched SDK that way, and the
// extension build replaces the SDK with DIR in its own go.mod.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/tools/modcopy"
)

func main() {
	modfile := flag.String("modfile", "", "also write a go.mod copy that replaces the module with DIR")
	patches := flag.String("patches", "patches", "the patches directory")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: patchmod [-modfile OUT.mod] DIR MODULE@VERSION")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *patches, *modfile); err != nil {
		fmt.Fprintln(os.Stderr, "patchmod:", err)
		os.Exit(1)
	}
}

func run(dir, modVersion, patchRoot, modfile string) error {
	module, version, ok := strings.Cut(modVersion, "@")
	if !ok {
		return fmt.Errorf("%q: want MODULE@VERSION", modVersion)
	}
	files, err := patchFiles(patchRoot, module, version)
	if err != nil {
		return err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	if err := modcopy.Copy(modVersion, dir); err != nil {
		return err
	}
	for _, p := range files {
		if err := apply(dir, p); err != nil {
			return err
		}
	}
	fmt.Printf("patchmod: %s in %s, %d patches applied\n", modVersion, dir, len(files))
	if modfile == "" {
		return nil
	}
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		return err
	}
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		return err
	}
	mod = append(mod, fmt.Sprintf("\nreplace %s => %s\n", module, dir)...)
	if err := os.WriteFile(modfile, mod, 0o644); err != nil {
		return err
	}
	return os.WriteFile(strings.TrimSuffix(modfile, ".mod")+".sum", sum, 0o644)
}

var majorSuffix = regexp.MustCompile(`/v[0-9]+$`)

// patchFiles are the module version's patches, in name order.
func patchFiles(root, module, version string) ([]string, error) {
	name := path.Base(majorSuffix.ReplaceAllString(module, ""))
	files, err := filepath.Glob(filepath.Join(root, name, version, "*.patch"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no patches in %s", filepath.Join(root, name, version))
	}
	sort.Strings(files)
	return files, nil
}

func apply(dir, patch string) error {
	cmd := exec.Command("patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-r", "-", "-d", dir, "-i", mustAbs(patch))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		var notFound *exec.Error
		if errors.As(err, &notFound) {
			return fmt.Errorf("the patch command is missing (apt-get install patch): %w", err)
		}
		return fmt.Errorf("%s does not apply to %s: %v\n%s", filepath.Base(patch), dir, err, out.String())
	}
	return nil
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
