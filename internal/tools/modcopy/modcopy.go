// Package modcopy makes writable copies of Go modules from the module proxy, for the
// tools that build with patched or pinned third-party source.
package modcopy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Copy downloads module@version through the module proxy (an exact version: the proxy
// refuses version lists for some modules) and copies it into dst, replacing dst and
// making it writable (the module cache is read-only).
func Copy(modVersion, dst string) error {
	cmd := exec.Command("go", "mod", "download", "-json", modVersion)
	cmd.Dir = os.TempDir() // outside any module: the version given, and no go.mod touched
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var m struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &m); m.Dir == "" || m.Error != "" {
		return fmt.Errorf("go mod download %s: %v %v %s %s", modVersion, err, jerr, m.Error, strings.TrimSpace(stderr.String()))
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.CopyFS(dst, os.DirFS(m.Dir)); err != nil {
		return fmt.Errorf("copying %s: %w", m.Dir, err)
	}
	return filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
}
