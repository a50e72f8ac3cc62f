package steampipecli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// InstallDatabase puts the stand-in database and wrapper (fdwDir holds FDWFiles) where
// Steampipe v1.1.3 looks for an installed database in installDir (its
// STEAMPIPE_INSTALL_DIR), so that it never tries to download one. Its checks
// (pkg/db/db_local/install.go), and what satisfies each:
//
//   - IsDBInstalled: db/14.17.0/postgres/bin/initdb and bin/postgres exist. bin is a
//     symlink into a copy of PostgreSQL 15's binaries laid out as under /usr
//     (lib/postgresql/15/bin), because PostgreSQL finds its lib and share directories
//     relative to its own resolved path; those hold symlinks to the system's files
//     (contrib's ltree and tablefunc, which Steampipe creates, among them) and the
//     wrapper's.
//   - dbNeedsUpdate: db/versions.json's embedded_db.image_digest is v1.1.3's
//     PostgresImageDigest.
//   - IsFDWInstalled: lib/postgresql/steampipe_postgres_fdw.so and
//     share/postgresql/extension/steampipe_postgres_fdw{.control,--1.0.sql} exist
//     (symlinks to the copies PostgreSQL loads).
//   - fdwNeedsUpdate: fdw_extension.version is 1.12.5, the pinned version, although
//     the wrapper is v1.13.0; installed_from says so.
//   - needsInit: there is no data/pg_hba.conf, so Steampipe runs its own first-run
//     setup (initdb, its database, roles and foreign server) as on a user's machine.
//
// Unlike a user's machine: PostgreSQL 15 (Debian's build) instead of Turbot's 14.17,
// wrapper v1.13.0 instead of 1.12.5 (the same source tree either way: unpatched), and
// the whole tree owned by whichever user Chown names.
func InstallDatabase(installDir, fdwDir string) error {
	out, err := exec.Command(filepath.Join(PGBin, "pg_config"), "--bindir", "--pkglibdir", "--sharedir", "--version").Output()
	if err != nil {
		return fmt.Errorf("pg_config: %w (make deps installs PostgreSQL 15)", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 {
		return fmt.Errorf("pg_config printed %q", out)
	}
	bindir, pkglib, share, pgVersion := lines[0], lines[1], lines[2], lines[3]
	root := filepath.Join(installDir, "db", DatabaseVersion, "postgres")
	rel := func(p string) string { return filepath.Join(root, strings.TrimPrefix(p, "/usr")) }
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	// A copy, not a symlink: PostgreSQL resolves its own path, so a linked binary
	// would find the system's share and lib directories.
	if err := os.CopyFS(rel(bindir), os.DirFS(bindir)); err != nil {
		return err
	}
	if err := linkEntries(pkglib, rel(pkglib), ""); err != nil {
		return err
	}
	if err := linkEntries(share, rel(share), "extension"); err != nil {
		return err
	}
	ext := filepath.Join(rel(share), "extension")
	if err := linkEntries(filepath.Join(share, "extension"), ext, ""); err != nil {
		return err
	}
	for _, f := range FDWFiles {
		to := ext
		if strings.HasSuffix(f, ".so") {
			to = rel(pkglib)
		}
		b, err := os.ReadFile(filepath.Join(fdwDir, f))
		if err != nil {
			return fmt.Errorf("%w (make steampipe builds the wrapper)", err)
		}
		if err := os.WriteFile(filepath.Join(to, f), b, 0o755); err != nil {
			return err
		}
	}
	// Where Steampipe looks: relative symlinks into the tree.
	links := [][2]string{
		{filepath.Join(root, "bin"), mustRel(root, rel(bindir))},
		{filepath.Join(root, "lib", "postgresql", fdwBase+".so"), mustRel(filepath.Join(root, "lib", "postgresql"), filepath.Join(rel(pkglib), fdwBase+".so"))},
	}
	steampipeExt := filepath.Join(root, "share", "postgresql", "extension")
	if err := os.MkdirAll(steampipeExt, 0o755); err != nil {
		return err
	}
	for _, f := range FDWFiles[1:] {
		links = append(links, [2]string{filepath.Join(steampipeExt, f), mustRel(steampipeExt, filepath.Join(ext, f))})
	}
	for _, l := range links {
		if err := os.MkdirAll(filepath.Dir(l[0]), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(l[1], l[0]); err != nil {
			return err
		}
	}
	return writeVersionFile(filepath.Join(installDir, "db", "versions.json"), pgVersion)
}

// linkEntries symlinks each entry of from into to, but skip.
func linkEntries(from, to, skip string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == skip {
			continue
		}
		if err := os.Symlink(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func mustRel(base, target string) string {
	r, err := filepath.Rel(base, target)
	if err != nil {
		panic(err) // both are under the same root
	}
	return r
}

// installedVersion is an entry of Steampipe's db/versions.json (pipe-fittings'
// versionfile.InstalledVersion, the fields it reads and writes).
type installedVersion struct {
	Name          string `json:"name"`
	Version       string `json:"version"`
	ImageDigest   string `json:"image_digest,omitempty"`
	InstalledFrom string `json:"installed_from,omitempty"`
	InstallDate   string `json:"install_date,omitempty"`
	StructVersion int64  `json:"struct_version"`
}

// writeVersionFile records the install as Steampipe's checks expect it (the FDW's
// version and the database's digest), and what was really installed elsewhere.
func writeVersionFile(path, pgVersion string) error {
	now := time.Now().UTC().Format(time.RFC3339)
	v := struct {
		FdwExtension  installedVersion `json:"fdw_extension"`
		EmbeddedDB    installedVersion `json:"embedded_db"`
		StructVersion int64            `json:"struct_version"`
	}{
		FdwExtension: installedVersion{Name: "fdwExtension", Version: PinnedFDWVersion, InstallDate: now,
			InstalledFrom: fmt.Sprintf("%s@v%s, multi-plugin build from source (stand-in for ghcr.io/turbot/steampipe/fdw:%s)", FDWModule, FDWVersion, PinnedFDWVersion)},
		// the digest is what dbNeedsUpdate compares; the version is never read
		EmbeddedDB: installedVersion{Name: "embeddedDB", Version: strings.TrimPrefix(pgVersion, "PostgreSQL "),
			ImageDigest: PostgresImageDigest, InstallDate: now,
			InstalledFrom: fmt.Sprintf("%s in %s (stand-in for ghcr.io/turbot/steampipe/db:%s)", pgVersion, PGBin, DatabaseVersion)},
		StructVersion: 20220411, // versionfile.DatabaseStructVersion
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Chown gives dir and everything in it to the named user, and makes dir reachable:
// Steampipe refuses to run as root, and its PostgreSQL must own its data directory.
func Chown(dir, name string) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
