// Package bundle is the plugin bundle format: a directory holding a plugin that is
// more than one file (an interpreted plugin with its launcher, sources and
// node_modules, or a binary with data files), and a manifest, poolhost-plugin.json, that
// lists every file with its sha256 and names the command to run.
//
// A sha256 of a launcher script pins nothing of what the script loads. A bundle's pin is
// the sha256 of its manifest, and the manifest holds the hash of every file, so one pin
// covers them all. The host never runs a bundle in place: Snapshot copies the listed
// files into a private directory, hashing each as it is copied, and the plugin runs from
// that copy. What was verified is therefore exactly what runs, however long the
// process lives and whenever it loads a module; files in the bundle that the manifest
// does not list are not copied, so the plugin cannot use them.
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// ManifestName is the manifest's file name at the bundle's root.
const ManifestName = "poolhost-plugin.json"

// Format is the manifest format this host reads and writes.
const Format = 1

// maxManifestBytes bounds what is read of a manifest: a bundle of 100,000 files is
// about 12 MB of manifest.
const maxManifestBytes = 64 << 20

// Manifest is the content of poolhost-plugin.json.
type Manifest struct {
	Format int `json:"format"`
	// Command is the bundle-relative path of the executable the host starts (a launcher
	// script with a #! line, or a binary). It must be listed in Files as executable.
	Command string `json:"command"`
	// Args are passed to Command, e.g. ["plugin.js"].
	Args []string `json:"args,omitempty"`
	// Files lists every file of the bundle, sorted by path.
	Files []File `json:"files"`
}

// File is one file of a bundle.
type File struct {
	// Path is slash-separated and relative to the bundle's root.
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	// Executable files are copied with the execute bit, others without: the mode the
	// plugin sees is covered by the pin too.
	Executable bool `json:"executable,omitempty"`
}

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// IsBundle reports whether path is a directory (a bundle) rather than a file (a
// binary). It does not follow a final symlink.
func IsBundle(path string) (bool, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return false, err
	}
	return fi.IsDir(), nil
}

// Pin is the pin of a manifest: the sha256 of its bytes, lowercase hex.
func Pin(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// Parse reads and validates a manifest.
func Parse(raw []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("%s: format %d, this host reads format %d", ManifestName, m.Format, Format)
	}
	seen := map[string]File{}
	for _, f := range m.Files {
		if err := checkPath(f.Path); err != nil {
			return nil, fmt.Errorf("%s: %w", ManifestName, err)
		}
		if _, dup := seen[f.Path]; dup {
			return nil, fmt.Errorf("%s: %q is listed twice", ManifestName, f.Path)
		}
		if !sha256Re.MatchString(f.SHA256) {
			return nil, fmt.Errorf("%s: %q: sha256 must be 64 lowercase hex characters", ManifestName, f.Path)
		}
		seen[f.Path] = f
	}
	if m.Command == "" {
		return nil, fmt.Errorf("%s: no command: name the launcher the host runs", ManifestName)
	}
	cmd, ok := seen[m.Command]
	switch {
	case !ok:
		return nil, fmt.Errorf("%s: command %q is not one of the listed files", ManifestName, m.Command)
	case !cmd.Executable:
		return nil, fmt.Errorf("%s: command %q is not listed as executable", ManifestName, m.Command)
	}
	return &m, nil
}

// checkPath accepts a clean, relative, slash-separated path that stays in the bundle.
func checkPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == "." || p == ".." ||
		strings.HasPrefix(p, "../") || strings.Contains(p, "\\") || p == ManifestName || p == SignatureName {
		return fmt.Errorf("file path %q: want a clean relative path inside the bundle", p)
	}
	return nil
}

// Marshal encodes m canonically (files sorted, indented, final newline), so that a
// manifest regenerated from unchanged files has the same pin.
func (m *Manifest) Marshal() []byte {
	m.Files = slices.Clone(m.Files)
	slices.SortFunc(m.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // only strings, bools and ints
	}
	return append(b, '\n')
}

// Read reads dir's manifest: its bytes, pin and parsed content.
func Read(dir string) (raw []byte, pin string, m *Manifest, err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, "", nil, err
	}
	defer root.Close()
	return readManifest(root)
}

func readManifest(root *os.Root) (raw []byte, pin string, m *Manifest, err error) {
	f, err := root.Open(ManifestName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil, fmt.Errorf("%s has no %s: write one with `poolhost plugins pin --write --command LAUNCHER %s`", root.Name(), ManifestName, root.Name())
	}
	if err != nil {
		return nil, "", nil, err
	}
	defer f.Close()
	raw, err = io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, "", nil, err
	}
	if len(raw) > maxManifestBytes {
		return nil, "", nil, fmt.Errorf("%s is over %d bytes", ManifestName, maxManifestBytes)
	}
	m, err = Parse(raw)
	if err != nil {
		return nil, "", nil, err
	}
	return raw, Pin(raw), m, nil
}

// Generate lists every regular file under dir (except the manifest) with its hash.
// Symbolic links are left out and returned in skipped: the host copies only regular
// files, and a link could point anywhere (npm's node_modules/.bin links are tools, not
// part of what a plugin loads). command must be one of the files; it is marked
// executable, as is every file with an execute bit.
func Generate(dir, command string, args []string) (m *Manifest, skipped []string, err error) {
	m = &Manifest{Format: Format, Command: filepath.ToSlash(filepath.Clean(command)), Args: args, Files: []File{}}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case rel == "." || d.IsDir():
			return nil
		case rel == ManifestName || rel == SignatureName:
			return nil // the signature is over the manifest, so never in it
		case d.Type()&fs.ModeSymlink != 0:
			skipped = append(skipped, rel)
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is neither a regular file nor a directory (%v)", p, d.Type())
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		sum, err := FileSHA256(p)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, File{Path: rel, SHA256: sum, Executable: fi.Mode().Perm()&0o111 != 0 || rel == m.Command})
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if _, err := Parse(m.Marshal()); err != nil {
		return nil, nil, err
	}
	return m, skipped, nil
}

// Write writes m as dir's manifest, by rename so a host reading it sees the old or the
// new one whole, and returns the new pin.
func Write(dir string, m *Manifest) (pin string, err error) {
	raw := m.Marshal()
	tmp, err := os.CreateTemp(dir, "."+ManifestName+".*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, ManifestName)); err != nil {
		return "", err
	}
	return Pin(raw), nil
}

// MismatchError says which listed files do not match the manifest.
type MismatchError struct {
	Dir      string
	Problems []string // one sentence per file, at most maxProblems
	More     int      // how many more were left out
}

const maxProblems = 10

func (e *MismatchError) Error() string {
	s := fmt.Sprintf("bundle %s does not match its %s: %s", e.Dir, ManifestName, strings.Join(e.Problems, "; "))
	if e.More > 0 {
		s += fmt.Sprintf("; and %d more", e.More)
	}
	return s + " (after changing a bundle, run `poolhost plugins pin --write` and update the pin)"
}

// PinError says the manifest is not the one the config pins.
type PinError struct {
	Dir, Got, Want string
}

func (e *PinError) Error() string {
	return fmt.Sprintf("sha256 mismatch: bundle %s has manifest sha256 %s, config pins %s", e.Dir, e.Got, e.Want)
}

// Verify checks every file dir's manifest lists against its hash, and the manifest
// against want when want is not empty. It returns the manifest's pin.
func Verify(dir, want string) (pin string, m *Manifest, err error) {
	return walk(dir, want, "")
}

// Snapshot verifies the bundle at dir as Verify does while copying the listed files
// into a new private directory under tmpRoot ("" for the system's), and returns that
// directory; the caller removes it. Each file is hashed from the very bytes written to
// the copy, so no later change to the bundle can reach the plugin.
func Snapshot(dir, want, tmpRoot string) (snap, pin string, m *Manifest, err error) {
	snap, err = os.MkdirTemp(tmpRoot, "poolhost-bundle-")
	if err != nil {
		return "", "", nil, err
	}
	pin, m, err = walk(dir, want, snap)
	if err != nil {
		os.RemoveAll(snap)
		return "", "", nil, err
	}
	return snap, pin, m, nil
}

// CopyTo verifies the bundle at dir as Verify does while copying the listed files and
// the manifest into dst, an existing empty directory (`plugins install`).
func CopyTo(dir, want, dst string) (pin string, m *Manifest, err error) {
	return walk(dir, want, dst)
}

// walk reads the manifest and every listed file of dir through an os.Root (no path
// escapes the bundle), hashes each and, when dst is set, copies it there.
func walk(dir, want, dst string) (string, *Manifest, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", nil, err
	}
	defer root.Close()
	raw, pin, m, err := readManifest(root)
	if err != nil {
		return "", nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	if want != "" && pin != want {
		return "", nil, &PinError{Dir: dir, Got: pin, Want: want}
	}
	mis := &MismatchError{Dir: dir}
	problem := func(format string, a ...any) {
		if len(mis.Problems) < maxProblems {
			mis.Problems = append(mis.Problems, fmt.Sprintf(format, a...))
		} else {
			mis.More++
		}
	}
	for _, f := range m.Files {
		sum, err := copyFile(root, f, dst)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			problem("%s is missing", f.Path)
		case err != nil:
			return "", nil, fmt.Errorf("bundle %s: %w", dir, err)
		case sum != f.SHA256:
			problem("%s has sha256 %s, the manifest lists %s", f.Path, sum, f.SHA256)
		}
	}
	if len(mis.Problems) > 0 {
		return "", nil, mis
	}
	if dst != "" {
		// The manifest goes along, read-only, so the plugin and an operator looking at
		// the copy can see what it was made from.
		if err := os.WriteFile(filepath.Join(dst, ManifestName), raw, 0o400); err != nil {
			return "", nil, err
		}
	}
	return pin, m, nil
}

// copyFile hashes one listed file and, when dst is set, copies it under dst.
func copyFile(root *os.Root, f File, dst string) (string, error) {
	in, err := root.Open(filepath.FromSlash(f.Path))
	if err != nil {
		return "", err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", f.Path)
	}
	h := sha256.New()
	w := io.Writer(h)
	var out *os.File
	if dst != "" {
		target := filepath.Join(dst, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return "", err
		}
		mode := os.FileMode(0o400)
		if f.Executable {
			mode = 0o500
		}
		out, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
		if err != nil {
			return "", err
		}
		defer out.Close()
		w = io.MultiWriter(h, out)
	}
	if _, err := io.Copy(w, in); err != nil {
		return "", err
	}
	if out != nil {
		if err := out.Close(); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Unlisted returns the regular files and symlinks under dir that the manifest does not
// list (the manifest itself aside): they are not part of the bundle and the plugin will
// not see them.
func Unlisted(dir string, m *Manifest) ([]string, error) {
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.Path] = true
	}
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() || rel == ManifestName || rel == SignatureName || listed[rel] {
			return nil
		}
		out = append(out, rel)
		return nil
	})
	return out, err
}

// FileSHA256 is the hex sha256 of the file at p: what a pin compares, for a binary or
// a bundle's manifest and files.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
