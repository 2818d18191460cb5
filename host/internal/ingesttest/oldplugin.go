package ingesttest

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/poolhost/poolhost/host/config"
)

// PreTestSessionsCommit is main just before sdk.TestSession and the proto's
// test_sessions fields existed. A plugin built from it is an old plugin: protocol 1,
// without the fields the host now reads.
const PreTestSessionsCommit = "454d9ade9611adca945e941799e1466281b2d8ba"

// ErrNoHistory: the source tree is not a git clone with the commit (a source tarball, a
// shallow clone), so an old plugin cannot be built from it.
var ErrNoHistory = errors.New("no git history")

// BuildGenericAt builds the generic plugin as it was at commit into dir, as
// poolhost-provider-generic: the commit's tree (git archive, so the working tree and
// its other worktrees are untouched) is unpacked in a temporary directory and built
// there with its own go.mod and sdk.
func BuildGenericAt(commit, dir string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if err := exec.Command("git", "-C", root, "cat-file", "-e", commit+"^{commit}").Run(); err != nil {
		return fmt.Errorf("%w: commit %s not found in %s: %v", ErrNoHistory, commit, root, err)
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command("git", "-C", root, "archive", "--format=tar", commit, "go.mod", "go.sum", "sdk", "plugins/generic")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git archive %s: %v: %s", commit, err, stderr.String())
	}
	src, err := os.MkdirTemp("", "poolhost-old-generic-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	if err := untar(&out, src); err != nil {
		return fmt.Errorf("unpack %s: %w", commit, err)
	}
	build := exec.Command("go", "build", "-mod=readonly", "-o", filepath.Join(dir, config.BinaryPrefix+"generic"), "./plugins/generic/cmd/poolhost-provider-generic")
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build generic at %s: %v\n%s", commit, err, b)
	}
	return nil
}

func untar(r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			return fmt.Errorf("unsafe path %q", h.Name)
		}
		p := filepath.Join(dst, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
