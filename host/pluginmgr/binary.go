package pluginmgr

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/poolhost/poolhost/host/pluginmgr/bundle"
)

// checkBinary refuses a plugin binary that someone other than the operator could have
// put or changed there. The binary is an executable the host runs with its own
// rights, so:
//   - it must be under plugin_dir, so the directory an operator locks down is the one
//     binaries come from (plugin_dir itself may be reached through a symlink: that is
//     the operator's choice, made in the config, e.g. a release directory);
//   - nothing from plugin_dir down to the binary may be a symlink, which could point
//     anywhere and be re-pointed later;
//   - the binary and the directories from plugin_dir down must not be world-writable:
//     anyone could replace the file or plant one;
//   - plugin_dir's ancestors must not be world-writable either, unless sticky (/tmp):
//     without the sticky bit anyone can rename the whole tree away and put another in
//     its place.
//
// A bundle (a directory, see package bundle) is checked the same way down to its
// directory and its manifest: an unpinned bundle is only as trustworthy as the manifest
// that lists its files' hashes. The files themselves are covered by those hashes.
//
// The check runs before every launch, not only at config load: the file system can
// change between restarts.
func checkBinary(pluginDir, bin string) error {
	dir, bin := filepath.Clean(pluginDir), filepath.Clean(bin)
	rel, err := filepath.Rel(dir, bin)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return fmt.Errorf("plugin binary %s is outside plugin_dir %s", bin, dir)
	}

	// From plugin_dir down to the binary: no symlinks, nothing world-writable.
	path := dir
	parts := strings.Split(rel, string(filepath.Separator))
	for i, part := range parts {
		path = filepath.Join(path, part)
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("plugin binary path %s is a symlink: use the real file under plugin_dir", path)
		}
		if fi.Mode().Perm()&0o002 != 0 {
			return fmt.Errorf("plugin binary path %s is world-writable (mode %v): chmod o-w it", path, fi.Mode().Perm())
		}
		if i == len(parts)-1 && fi.IsDir() {
			if err := checkManifest(path); err != nil {
				return err
			}
		} else if i == len(parts)-1 && !fi.Mode().IsRegular() {
			return fmt.Errorf("plugin binary %s is neither a regular file nor a bundle directory", path)
		}
	}

	// plugin_dir and everything above it, as the file system resolves them.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("plugin_dir: %w", err)
	}
	for p := real; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("plugin_dir: %w", err)
		}
		ww := fi.Mode().Perm()&0o002 != 0
		switch {
		case ww && p == real:
			return fmt.Errorf("plugin_dir %s is world-writable (mode %v): chmod o-w it", p, fi.Mode().Perm())
		case ww && fi.Mode()&fs.ModeSticky == 0:
			return fmt.Errorf("plugin_dir's parent %s is world-writable without the sticky bit (mode %v)", p, fi.Mode())
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

// checkManifest applies the binary rules to a bundle's manifest.
func checkManifest(dir string) error {
	path := filepath.Join(dir, bundle.ManifestName)
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("plugin bundle %s has no %s: write one with `poolhost plugins pin --write --command LAUNCHER %s`", dir, bundle.ManifestName, dir)
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("plugin bundle manifest %s is a symlink: use a regular file", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("plugin bundle manifest %s is not a regular file", path)
	case fi.Mode().Perm()&0o002 != 0:
		return fmt.Errorf("plugin bundle manifest %s is world-writable (mode %v): chmod o-w it", path, fi.Mode().Perm())
	}
	return nil
}
