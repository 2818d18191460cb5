package bundle_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/pluginmgr/bundle"
)

func write(t *testing.T, dir, rel, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// nodeBundle is the shape of a Node.js plugin: a launcher, the plugin, node_modules
// with a .bin symlink as npm makes them.
func nodeBundle(t *testing.T) string {
	dir := t.TempDir()
	write(t, dir, "run.sh", "#!/bin/sh\nexec node plugin.js\n", 0o755)
	write(t, dir, "plugin.js", "require('@grpc/grpc-js')\n", 0o644)
	write(t, dir, "node_modules/@grpc/grpc-js/index.js", "module.exports = {}\n", 0o644)
	write(t, dir, "node_modules/@grpc/grpc-js/package.json", "{}\n", 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "node_modules", ".bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../@grpc/grpc-js/index.js", filepath.Join(dir, "node_modules", ".bin", "tool")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestGenerateVerifySnapshot(t *testing.T) {
	dir := nodeBundle(t)
	m, skipped, err := bundle.Generate(dir, "run.sh", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(skipped, []string{"node_modules/.bin/tool"}) {
		t.Errorf("skipped = %v, want the .bin symlink", skipped)
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
		if f.Executable != (f.Path == "run.sh") {
			t.Errorf("%s executable = %v", f.Path, f.Executable)
		}
	}
	if want := []string{"node_modules/@grpc/grpc-js/index.js", "node_modules/@grpc/grpc-js/package.json", "plugin.js", "run.sh"}; !slices.Equal(paths, want) {
		t.Errorf("files = %v, want %v", paths, want)
	}
	pin, err := bundle.Write(dir, m)
	if err != nil {
		t.Fatal(err)
	}

	// Regenerating from unchanged files gives the same manifest, hence the same pin.
	m2, _, err := bundle.Generate(dir, "run.sh", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pin2, err := bundle.Write(dir, m2); err != nil || pin2 != pin {
		t.Errorf("regenerated pin %s (%v), want the same %s", pin2, err, pin)
	}
	if got, _, err := bundle.Verify(dir, pin); err != nil || got != pin {
		t.Fatalf("Verify = %s, %v", got, err)
	}

	snap, got, _, err := bundle.Snapshot(dir, pin, t.TempDir())
	if err != nil || got != pin {
		t.Fatalf("Snapshot = %s, %v", got, err)
	}
	b, err := os.ReadFile(filepath.Join(snap, "node_modules", "@grpc", "grpc-js", "index.js"))
	if err != nil || string(b) != "module.exports = {}\n" {
		t.Errorf("copied file: %q %v", b, err)
	}
	for rel, mode := range map[string]os.FileMode{"run.sh": 0o500, "plugin.js": 0o400} {
		if fi, err := os.Stat(filepath.Join(snap, rel)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v (%v), want %v", rel, fi.Mode().Perm(), err, mode)
		}
	}
	if _, err := os.Lstat(filepath.Join(snap, "node_modules", ".bin", "tool")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unlisted symlink reached the copy: %v", err)
	}

	// Unlisted files are reported, not copied.
	write(t, dir, "extra.js", "x", 0o644)
	un, err := bundle.Unlisted(dir, m)
	if err != nil || !slices.Equal(un, []string{"extra.js", "node_modules/.bin/tool"}) {
		t.Errorf("Unlisted = %v, %v", un, err)
	}
}

func TestVerifyRefusesChanges(t *testing.T) {
	dir := nodeBundle(t)
	m, _, err := bundle.Generate(dir, "run.sh", []string{"--flag"})
	if err != nil {
		t.Fatal(err)
	}
	pin, err := bundle.Write(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "plugin.js", "require('evil')\n", 0o644)
	if err := os.Remove(filepath.Join(dir, "node_modules", "@grpc", "grpc-js", "package.json")); err != nil {
		t.Fatal(err)
	}
	_, _, err = bundle.Verify(dir, pin)
	var mis *bundle.MismatchError
	if !errors.As(err, &mis) || len(mis.Problems) != 2 ||
		!strings.Contains(err.Error(), "plugin.js has sha256 ") || !strings.Contains(err.Error(), "node_modules/@grpc/grpc-js/package.json is missing") {
		t.Errorf("Verify = %v, want both problems named", err)
	}
	tmp := t.TempDir()
	if _, _, _, err := bundle.Snapshot(dir, pin, tmp); err == nil {
		t.Error("Snapshot of a changed bundle succeeded")
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("a failed Snapshot left %v behind", left)
	}

	// A pin that is not the manifest's.
	_, _, err = bundle.Verify(dir, strings.Repeat("0", 64))
	var pe *bundle.PinError
	if !errors.As(err, &pe) || pe.Got != pin {
		t.Errorf("Verify with a wrong pin = %v", err)
	}
}

func TestParseRefusesBadManifests(t *testing.T) {
	sum := strings.Repeat("a", 64)
	for name, tt := range map[string]struct{ json, want string }{
		"escaping path":      {`{"format":1,"command":"run","files":[{"path":"../x","sha256":"` + sum + `","executable":true},{"path":"run","sha256":"` + sum + `","executable":true}]}`, `"../x"`},
		"absolute path":      {`{"format":1,"command":"/bin/sh","files":[{"path":"/bin/sh","sha256":"` + sum + `","executable":true}]}`, `"/bin/sh"`},
		"unclean path":       {`{"format":1,"command":"run","files":[{"path":"a//b","sha256":"` + sum + `"},{"path":"run","sha256":"` + sum + `","executable":true}]}`, `"a//b"`},
		"command not listed": {`{"format":1,"command":"run","files":[]}`, `command "run" is not one of the listed files`},
		"command not exec":   {`{"format":1,"command":"run","files":[{"path":"run","sha256":"` + sum + `"}]}`, `not listed as executable`},
		"bad hash":           {`{"format":1,"command":"run","files":[{"path":"run","sha256":"xyz","executable":true}]}`, `64 lowercase hex`},
		"duplicate":          {`{"format":1,"command":"run","files":[{"path":"run","sha256":"` + sum + `","executable":true},{"path":"run","sha256":"` + sum + `","executable":true}]}`, `listed twice`},
		"future format":      {`{"format":2,"command":"run","files":[]}`, `format 2`},
		"unknown field":      {`{"format":1,"command":"run","files":[],"hooks":[]}`, `unknown field`},
		"the manifest":       {`{"format":1,"command":"run","files":[{"path":"poolhost-plugin.json","sha256":"` + sum + `"}]}`, `"poolhost-plugin.json"`},
	} {
		if _, err := bundle.Parse([]byte(tt.json)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Parse = %v, want %q", name, err, tt.want)
		}
	}
}

// A manifest can list a file through a symlink that stays in the bundle (its content is
// what is hashed and copied), but never one outside the bundle.
func TestSymlinkOutOfTheBundleIsRefused(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	write(t, filepath.Dir(outside), "secret", "outside", 0o644)
	write(t, dir, "run.sh", "#!/bin/sh\n", 0o755)
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{Format: bundle.Format, Command: "run.sh", Files: []bundle.File{
		{Path: "run.sh", SHA256: sha(t, "#!/bin/sh\n"), Executable: true},
		{Path: "link", SHA256: sha(t, "outside")},
	}}
	pin, err := bundle.Write(dir, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bundle.Verify(dir, pin); err == nil || !strings.Contains(err.Error(), "link") {
		t.Errorf("Verify through a symlink out of the bundle = %v", err)
	}
}

func sha(t *testing.T, s string) string {
	t.Helper()
	dir := t.TempDir()
	write(t, dir, "f", s, 0o644)
	m, _, err := bundle.Generate(dir, "f", nil)
	if err != nil {
		t.Fatal(err)
	}
	return m.Files[0].SHA256
}
