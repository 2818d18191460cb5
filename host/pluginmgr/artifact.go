package pluginmgr

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr/bundle"
)

// artifact is a plugin checked and ready to start: a binary, run in place, or a
// bundle's private copy (see package bundle).
type artifact struct {
	// sha is the binary's sha256, or the bundle manifest's: what a pin names.
	sha    string
	bundle bool
	// script is a binary that starts with #!: the process executes its interpreter,
	// so the executed file cannot be compared with it (PLUGINS.md: use a bundle).
	script bool
	path   string // the executable to start
	args   []string
	dir    string // the working directory: the bundle's copy; "" for a binary
	// cleanup removes the bundle's copy once its process is gone.
	cleanup func()
}

// prepare runs every check a launch needs — location (checkBinary), require_pin, the
// hash against the pin, for a bundle every listed file against the manifest, and
// require_signature over that hash.
// With snapshot, a bundle is copied to a private directory that the plugin runs from;
// without, it is only verified, which is what a reload needs to decide whether a
// restart would succeed before it stops anything.
func prepare(pluginDir string, pc config.Provider, pcfg config.Plugins, snapshot bool) (*artifact, error) {
	if err := checkBinary(pluginDir, pc.Binary, pcfg.AllowGroupWritable); err != nil {
		return nil, err
	}
	if pcfg.RequirePin && pc.SHA256 == "" {
		// Config load refuses this already; a config built in code must not slip by.
		return nil, fmt.Errorf("plugins.require_pin is set and %s has no sha256 pin", pc.Binary)
	}
	isBundle, err := bundle.IsBundle(pc.Binary)
	if err != nil {
		return nil, fmt.Errorf("read plugin: %w", err)
	}
	if !isBundle {
		sum, script, err := hashExecutable(pc.Binary)
		if err != nil {
			return nil, fmt.Errorf("read plugin binary: %w", err)
		}
		if pc.SHA256 != "" && sum != pc.SHA256 {
			return nil, fmt.Errorf("sha256 mismatch: %s is %s, config pins %s", pc.Binary, sum, pc.SHA256)
		}
		if err := checkSigned(pc, pcfg, false, sum); err != nil {
			return nil, err
		}
		return &artifact{sha: sum, script: script, path: pc.Binary, cleanup: func() {}}, nil
	}
	if !snapshot {
		pin, _, err := bundle.Verify(pc.Binary, pc.SHA256)
		if err != nil {
			return nil, err
		}
		if err := checkSigned(pc, pcfg, true, pin); err != nil {
			return nil, err
		}
		return &artifact{sha: pin, bundle: true, cleanup: func() {}}, nil
	}
	snap, pin, m, err := bundle.Snapshot(pc.Binary, pc.SHA256, "")
	if err != nil {
		return nil, err
	}
	if err := checkSigned(pc, pcfg, true, pin); err != nil {
		os.RemoveAll(snap)
		return nil, err
	}
	return &artifact{
		sha: pin, bundle: true,
		path: filepath.Join(snap, filepath.FromSlash(m.Command)), args: m.Args, dir: snap,
		cleanup: sync.OnceFunc(func() { os.RemoveAll(snap) }),
	}, nil
}

// checkSigned applies plugins.require_signature: the plugin whose pin is pin must carry
// a signature of that pin by a trusted key. The pin is of what was verified (for a
// bundle, of the manifest its copy was made from), so the signature vouches for what
// runs.
func checkSigned(pc config.Provider, pcfg config.Plugins, isBundle bool, pin string) error {
	if !pcfg.RequireSignature {
		return nil
	}
	if err := bundle.CheckSignature(pc.Binary, isBundle, pin, pcfg.TrustedKeys); err != nil {
		return fmt.Errorf("plugins.require_signature is set: %w", err)
	}
	return nil
}

// hashExecutable is bundle.FileSHA256 that also says whether the file is a #! script.
func hashExecutable(path string) (sum string, script bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	h := sha256.New()
	head := make([]byte, 2)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", false, err
	}
	h.Write(head[:n])
	if _, err := io.Copy(h, f); err != nil {
		return "", false, err
	}
	return hex.EncodeToString(h.Sum(nil)), string(head[:n]) == "#!", nil
}

// LauncherOnlyPin reports whether pc pins a #! script rather than a bundle: the pin then
// covers the launcher, not the code it loads (node src/, python modules), which can
// change under it. `plugins check` warns about it.
func LauncherOnlyPin(pc config.Provider) (bool, error) {
	if pc.SHA256 == "" {
		return false, nil
	}
	if isBundle, err := bundle.IsBundle(pc.Binary); err != nil || isBundle {
		return false, err
	}
	_, script, err := hashExecutable(pc.Binary)
	return script, err
}
