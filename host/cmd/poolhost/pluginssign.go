package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr/bundle"
)

// Signed releases: a provider team makes a key (keygen), signs each release's pin (sign)
// and ships the signature with the bundle or binary; an operator trusts the team's public
// key (plugins { trusted_keys }) and installs with `plugins install`, which verifies
// before anything reaches plugin_dir. See package bundle for what is signed.
func init() {
	register("plugins", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "keygen NAME",
			Short: "make an ed25519 release signing key: NAME.key (private) and NAME.pub",
			Long: `keygen writes a new ed25519 key pair for signing plugin releases: NAME.key, the
private key (PKCS #8 PEM, mode 0600; keep it off the hosts, as you keep a release key),
and NAME.pub, the public key (PEM). It prints the public key's one-line form on stdout,
for operators' plugins { trusted_keys = ["ed25519:…"] }. It never overwrites a key.

openssl makes the same files: openssl genpkey -algorithm ed25519 -out NAME.key, then
openssl pkey -in NAME.key -pubout -out NAME.pub.`,
			Example: `  poolhost plugins keygen acme-release`,
			Args:    cobra.ExactArgs(1),
		}
		c.RunE = run(func(ctx context.Context, a []string, stdout, stderr io.Writer) int {
			return runPluginsKeygen(a[0], stdout, stderr)
		})
		return c
	})
	register("plugins", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "sign --key FILE PATH",
			Short: "sign a plugin bundle or binary with a release key",
			Long: `sign checks the bundle at PATH (every file against its poolhost-plugin.json, as
plugins pin does) or hashes the binary at PATH, and writes an ed25519 signature of its
pin (the manifest's sha256, or the binary's): PATH/poolhost-plugin.sig for a bundle (the
manifest never lists it, so the pin does not change), PATH.sig beside a binary. Ship
that file with the plugin. It prints the pin on stdout, alone, to publish with the
release. Sign after the last plugins pin --write: a changed bundle has another pin, and
its old signature is refused.`,
			Example: `  poolhost plugins sign --key acme-release.key dist/poolhost-provider-acme`,
			Args:    cobra.ExactArgs(1),
		}
		key := c.Flags().String("key", "", "the private key `file` (from plugins keygen or openssl genpkey -algorithm ed25519)")
		_ = c.MarkFlagRequired("key")
		c.RunE = run(func(ctx context.Context, a []string, stdout, stderr io.Writer) int {
			return runPluginsSign(a[0], *key, stdout, stderr)
		})
		return c
	})
	register("plugins", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "install [flags] PATH",
			Short: "verify a signed plugin release and rename it into plugin_dir",
			Long: `install puts a plugin release (a bundle directory or a binary, with its signature
file) where the config's provider block runs it, only if it checks out:

  - it is copied into a temporary directory inside the destination's directory, each
    file hashed from the bytes written (a bundle's against its manifest), so what is
    verified is exactly what is installed;
  - its signature must be by one of plugins.trusted_keys and over that hash;
  - its pin must be --sha256 if given, else the provider block's sha256 if it has one
    (with plugins.require_pin, one of them is needed).

Then it is renamed into place: a binary, or a new bundle, by one rename; a bundle
replacing another by an atomic exchange (Linux), the old one removed after. A refused
release leaves nothing in plugin_dir. The provider is --provider, else the id in
PATH's name (poolhost-provider-<id>). Reload the host afterwards (poolhost reload),
unless it says plugin_dir held that build already: a reload restarts a plugin only
for a new hash. A release identical to the installed one changes nothing.`,
			Example: `  poolhost plugins install --config /etc/poolhost/poolhost.hcl ./poolhost-provider-acme
  poolhost plugins install --provider acme --sha256 3f6c… ./release/acme-bundle`,
			Args: cobra.ExactArgs(1),
		}
		configPath := configFlag(c)
		provider := c.Flags().String("provider", "", "the provider `id` (default: from PATH's name, poolhost-provider-<id>)")
		pin := c.Flags().String("sha256", "", "the release's published pin; default: the provider block's sha256")
		c.RunE = run(func(ctx context.Context, a []string, stdout, stderr io.Writer) int {
			return runPluginsInstall(*configPath, a[0], *provider, strings.ToLower(*pin), stdout, stderr)
		})
		return c
	})
}

func runPluginsKeygen(name string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "poolhost plugins keygen: %v\n", err)
		return 1
	}
	priv, pub, err := bundle.GenerateKey()
	if err != nil {
		return fail(err)
	}
	// O_EXCL: a release key is never overwritten by accident.
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{name + ".key", priv, 0o600}, {name + ".pub", bundle.PublicKeyPEM(pub), 0o644}} {
		out, err := os.OpenFile(f.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, f.mode)
		if err != nil {
			return fail(err)
		}
		if _, err := out.Write(f.data); err != nil {
			out.Close()
			return fail(err)
		}
		if err := out.Close(); err != nil {
			return fail(err)
		}
	}
	fmt.Fprintln(stdout, bundle.FormatPublicKey(pub))
	fmt.Fprintf(stderr, "wrote %s.key (private: keep it secret) and %s.pub; operators trust the line above in plugins { trusted_keys }\n", name, name)
	return 0
}

// pluginPin verifies the plugin at path and returns its pin.
func pluginPin(path string) (pin string, isBundle bool, err error) {
	isBundle, err = bundle.IsBundle(path)
	if err != nil {
		return "", false, err
	}
	if isBundle {
		pin, _, err = bundle.Verify(path, "")
		return pin, true, err
	}
	pin, err = bundle.FileSHA256(path)
	return pin, false, err
}

func runPluginsSign(path, keyFile string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "poolhost plugins sign: %v\n", err)
		return 1
	}
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		return fail(err)
	}
	priv, err := bundle.ParsePrivateKey(raw)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", keyFile, err))
	}
	pin, isBundle, err := pluginPin(path)
	if err != nil {
		return fail(err)
	}
	sig := bundle.Sign(priv, pin)
	sp := bundle.SignaturePath(path, isBundle)
	if err := writeFileAtomic(sp, sig.Marshal(), 0o644); err != nil {
		return fail(err)
	}
	fmt.Fprintln(stdout, pin)
	fmt.Fprintf(stderr, "signed sha256 %s with %s: %s\n", pin, sig.Key, sp)
	return 0
}

// writeFileAtomic writes path by rename, so no reader sees half of it.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func runPluginsInstall(configPath, src, id, wantPin string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "poolhost plugins install: refused: %v\n", err)
		return 1
	}
	if wantPin != "" && !isSHA256Hex(wantPin) {
		// Not a "mismatch" with the release's hash: it is no hash at all.
		return fail(fmt.Errorf("--sha256 %q is not a sha256: give the 64 hex digits the publisher printed", wantPin))
	}
	wantPin = strings.ToLower(wantPin) // hashes are compared as plugins pin prints them
	cfg, err := config.LoadPlugins(configPath)
	if err != nil {
		return fail(err)
	}
	src = filepath.Clean(src)
	if id == "" {
		var ok bool
		if id, ok = strings.CutPrefix(filepath.Base(src), config.BinaryPrefix); !ok || id == "" {
			return fail(fmt.Errorf("%s is not named %s<id>: name the provider with --provider", src, config.BinaryPrefix))
		}
	}
	target := filepath.Join(cfg.PluginDir, config.BinaryPrefix+id)
	var block *config.Provider
	for i := range cfg.Providers {
		if cfg.Providers[i].ID == id {
			block = &cfg.Providers[i]
			target = block.Binary
		}
	}
	pinFrom := "the --sha256 given"
	if wantPin == "" && block != nil {
		wantPin = block.SHA256
		// An upgrade changes the pin before installing (README): say where this one is.
		pinFrom = fmt.Sprintf("provider %q's sha256 in %s: to install a new build, put its published pin there first (or pass it as --sha256)", id, configPath)
	}
	if wantPin == "" && cfg.Plugins.RequirePin {
		return fail(fmt.Errorf("plugins.require_pin is set and there is no pin to check: pass the release's --sha256, or pin provider %q's block", id))
	}
	if len(cfg.Plugins.TrustedKeys) == 0 {
		return fail(errors.New("plugins.trusted_keys is empty: install accepts only releases signed by a trusted key (add the publisher's public key)"))
	}
	isBundle, err := bundle.IsBundle(src)
	if err != nil {
		return fail(err)
	}
	if fi, err := os.Lstat(target); err == nil && fi.IsDir() != isBundle {
		return fail(fmt.Errorf("%s is a %s and %s a %s: remove the old one first", target, kind(fi.IsDir()), src, kind(isBundle)))
	}

	// Staged in the destination's directory: the final rename stays on one file system.
	tmp, err := os.MkdirTemp(filepath.Dir(target), ".poolhost-install-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	stage := filepath.Join(tmp, filepath.Base(target))
	var pin string
	if isBundle {
		if err := os.Mkdir(stage, 0o700); err != nil {
			return fail(err)
		}
		if pin, _, err = bundle.CopyTo(src, "", stage); err != nil {
			return fail(err)
		}
	} else if pin, err = copyHashed(src, stage); err != nil {
		return fail(err)
	}
	if wantPin != "" && pin != wantPin {
		return fail(fmt.Errorf("sha256 mismatch: %s has sha256 %s, the expected pin is %s, %s", src, pin, wantPin, pinFrom))
	}
	srcSig := bundle.SignaturePath(src, isBundle)
	sig, err := bundle.ReadSignature(srcSig)
	if err != nil {
		return fail(err)
	}
	if err := bundle.VerifySignature(srcSig, sig, pin, cfg.Plugins.TrustedKeys); err != nil {
		return fail(err)
	}
	// The release plugin_dir holds already (a deploy step run twice): a reload would
	// restart nothing, since a plugin is restarted for a new hash, not a new file.
	sameBuild := installedPin(target, isBundle) == pin
	if sameBuild && sameSignature(bundle.SignaturePath(target, isBundle), sig) {
		fmt.Fprintf(stdout, "%s is this release already (sha256 %s, signed by %s): nothing changed\n", target, pin, sig.Key)
	} else {
		stageSig := bundle.SignaturePath(stage, isBundle)
		if err := os.WriteFile(stageSig, sig.Marshal(), 0o644); err != nil {
			return fail(err)
		}
		if err := installModes(stage); err != nil {
			return fail(err)
		}
		if err := putInPlace(stage, target, isBundle, tmp); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "installed %s (sha256 %s, signed by %s)\n", target, pin, sig.Key)
	}
	switch {
	case block == nil:
		fmt.Fprintf(stdout, "add a provider %q block with sha256 = %q, then reload the host (poolhost reload)\n", id, pin)
	case block.SHA256 != pin:
		fmt.Fprintf(stdout, "set provider %q's sha256 = %q, then reload the host (poolhost reload)\n", id, pin)
	case sameBuild:
		fmt.Fprintln(stdout, "the same build as before: no reload needed")
	default:
		fmt.Fprintln(stdout, "reload the host to run it (poolhost reload)")
	}
	return 0
}

// installedPin is the pin of what target holds now, "" when there is nothing there or
// it does not verify.
func installedPin(target string, isBundle bool) string {
	if _, err := os.Lstat(target); err != nil {
		return ""
	}
	pin, gotBundle, err := pluginPin(target)
	if err != nil || gotBundle != isBundle {
		return ""
	}
	return pin
}

// sameSignature reports whether the signature file at path holds sig exactly.
func sameSignature(path string, sig *bundle.Signature) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Equal(b, sig.Marshal())
}

func kind(isBundle bool) string {
	if isBundle {
		return "bundle"
	}
	return "binary"
}

// copyHashed copies the binary src to dst and returns the sha256 of the bytes written.
func copyHashed(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil {
		return "", err
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is neither a regular file nor a bundle directory", src)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o700)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, out), in); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// installModes gives the staged plugin the modes of a plugin installed by hand:
// directories and executables 0755, other files 0644 (the host refuses anything group-
// or world-writable; the bundle's copy made it owner-only).
func installModes(stage string) error {
	return filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if d.IsDir() || fi.Mode().Perm()&0o100 != 0 {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
}

// putInPlace renames the verified stage to target, with its signature.
func putInPlace(stage, target string, isBundle bool, tmp string) error {
	if !isBundle {
		// Signature first: a launch between the two renames sees the old binary with
		// the new signature and is refused and retried, never runs an unverified file.
		if err := os.Rename(stage+bundle.SignatureExt, target+bundle.SignatureExt); err != nil {
			return err
		}
		return os.Rename(stage, target)
	}
	if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(stage, target)
	}
	// A directory cannot be renamed over a non-empty one; exchange them, then the old
	// bundle (now at stage) goes with tmp.
	return exchange(stage, target)
}

// isSHA256Hex reports whether s is a sha256 written as 64 lowercase or uppercase hex digits.
func isSHA256Hex(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}
