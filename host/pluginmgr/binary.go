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
//     anyone could replace the file or plant one; nor group-writable, which lets
//     anyone in the group do the same (unless plugins { allow_group_writable = true }
//     says a deploy group is trusted);
//   - plugin_dir's ancestors must not be world- or group-writable either, unless
//     sticky (/tmp): without the sticky bit anyone who may write there can rename the
//     whole tree away and put another in its place.
//
// A bundle (a directory, see package bundle) is checked the same way down to its
// directory and its manifest: an unpinned bundle is only as trustworthy as the manifest
// that lists its files' hashes. The files themselves are covered by those hashes.
//
// The check runs before every launch, not only at config load: the file system can
// change between restarts.
func checkBinary(pluginDir, bin string, allowGroup bool) error {
	dir, bin := filepath.Clean(pluginDir), filepath.Clean(bin)
	rel, err := filepath.Rel(dir, bin)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return fmt.Errorf("plugin binary %s is outside plugin_dir %s", bin, dir)
	}

	// From plugin_dir down to the binary: no symlinks, nothing others may write.
	path := dir
	parts := strings.Split(rel, string(filepath.Separator))
	for i, part := range parts {
		path = filepath.Join(path, part)
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return missing(dir, bin, path)
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("plugin binary path %s is a symlink: use the real file under plugin_dir", path)
		}
		if err := notWritable("plugin binary path "+path, fi, allowGroup); err != nil {
			return err
		}
		if i == len(parts)-1 && fi.IsDir() {
			if err := checkManifest(path, allowGroup); err != nil {
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
		if p == real {
			if err := notWritable("plugin_dir "+p, fi, allowGroup); err != nil {
				return err
			}
		} else if fi.Mode()&fs.ModeSticky == 0 {
			if err := notWritable("plugin_dir's parent "+p+" (without the sticky bit)", fi, allowGroup); err != nil {
				return err
			}
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

// missing says which part of a plugin's path is absent, and what puts it there: the
// operator sees this in plugins check, the admin API and the log.
func missing(dir, bin, path string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("plugin_dir %s does not exist: create it and install the plugin there (make build puts the first-party plugins in bin/plugins), or fix plugin_dir", dir)
	}
	if path != bin {
		return fmt.Errorf("plugin binary %s does not exist: %s is missing", bin, path)
	}
	return fmt.Errorf("plugin binary %s does not exist: install the plugin there (poolhost-provider-<id>), or point the provider block's binary at it", bin)
}

// checkManifest applies the binary rules to a bundle's manifest.
func checkManifest(dir string, allowGroup bool) error {
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
	}
	return notWritable("plugin bundle manifest "+path, fi, allowGroup)
}

// notWritable refuses a file or directory that others than its owner may write: world-
// writable always, group-writable unless allowGroup.
func notWritable(what string, fi fs.FileInfo, allowGroup bool) error {
	perm := fi.Mode().Perm()
	switch {
	case perm&0o002 != 0:
		return fmt.Errorf("%s is world-writable (mode %v): chmod o-w it", what, perm)
	case perm&0o020 != 0 && !allowGroup:
		return fmt.Errorf("%s is group-writable (mode %v): chmod g-w it, or trust the group with plugins { allow_group_writable = true }", what, perm)
	}
	return nil
}
