package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host/pluginmgr/bundle"
)

// `poolhost plugins pin` prints what a provider block's sha256 must be: a binary's hash,
// or a bundle's manifest hash once every listed file has been checked against it.
func init() {
	register("plugins", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "pin [flags] PATH",
			Short: "print the sha256 pin of a plugin binary or bundle (and write a bundle's manifest)",
			Long: `pin prints the value for a provider block's sha256 = "..." on stdout, alone.

For a binary it is the file's sha256. For a bundle (a directory holding a
poolhost-plugin.json manifest, see PLUGINS.md) it is the manifest's sha256, printed only
after every file the manifest lists has been checked against its hash: pin fails, naming
each file that changed or is missing. Files in the directory that the manifest does
not list are named on stderr; the host does not copy them, so the plugin cannot use
them.

--write (re)writes the bundle's manifest from the directory's current files (every
regular file; symlinks such as node_modules/.bin are left out and named on stderr) and
prints the new pin. The command comes from --command, else from the existing manifest.
Run it after every change to a bundle, then put the new pin in the config and reload.`,
			Example: `  poolhost plugins pin bin/plugins/poolhost-provider-acme
  poolhost plugins pin --write --command run.sh bin/plugins/poolhost-provider-acme-node
  poolhost plugins pin --format json bin/plugins/poolhost-provider-acme-node`,
			Args: cobra.ExactArgs(1),
		}
		write := c.Flags().Bool("write", false, "write or refresh the bundle's manifest from its current files")
		command := c.Flags().String("command", "", "with --write: the bundle-relative `path` of the launcher the host runs")
		args := c.Flags().StringArray("arg", nil, "with --write: an argument passed to the command (repeat for several)")
		f := formatFlag(c)
		c.RunE = run(func(ctx context.Context, a []string, stdout, stderr io.Writer) int {
			return runPluginsPin(a[0], pinOptions{write: *write, command: *command, args: *args, argsSet: c.Flags().Changed("arg")}, *f, stdout, stderr)
		})
		return c
	})
}

type pinOptions struct {
	write   bool
	command string
	args    []string
	argsSet bool
}

// pinReport is `plugins pin --format json`.
type pinReport struct {
	Path     string   `json:"path"`
	Kind     string   `json:"kind"` // "binary" or "bundle"
	SHA256   string   `json:"sha256"`
	Files    int      `json:"files,omitempty"`
	Command  string   `json:"command,omitempty"`
	Unlisted []string `json:"unlisted,omitempty"`
	Skipped  []string `json:"skipped,omitempty"`
}

func runPluginsPin(path string, o pinOptions, f format, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "poolhost plugins pin: %v\n", err)
		return 1
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return fail(fmt.Errorf("%s does not exist: give the plugin binary or bundle directory to pin", path))
	}
	isBundle, err := bundle.IsBundle(path)
	if err != nil {
		return fail(err)
	}
	r := pinReport{Path: path, Kind: "binary"}
	if !isBundle {
		if o.write || o.command != "" || o.argsSet {
			return fail(fmt.Errorf("%s is a file: --write, --command and --arg are for a bundle directory", path))
		}
		if r.SHA256, err = bundle.FileSHA256(path); err != nil {
			return fail(err)
		}
	} else {
		r.Kind = "bundle"
		if o.write {
			if r.Skipped, err = writeManifest(path, o); err != nil {
				return fail(err)
			}
		} else if o.command != "" || o.argsSet {
			return fail(errors.New("--command and --arg only take effect with --write"))
		}
		pin, m, err := bundle.Verify(path, "")
		if err != nil {
			return fail(err)
		}
		r.SHA256, r.Files, r.Command = pin, len(m.Files), m.Command
		if r.Unlisted, err = bundle.Unlisted(path, m); err != nil {
			return fail(err)
		}
	}
	if f == "json" {
		_ = f.write(stdout, r, nil)
		return 0
	}
	fmt.Fprintln(stdout, r.SHA256)
	if r.Kind == "bundle" {
		if len(r.Skipped) > 0 {
			fmt.Fprintf(stderr, "left out of the manifest (symlinks): %s\n", strings.Join(r.Skipped, ", "))
		}
		if len(r.Unlisted) > 0 && !o.write {
			fmt.Fprintf(stderr, "not in the manifest, so not run by the host: %s (run with --write to add them)\n", strings.Join(r.Unlisted, ", "))
		}
		fmt.Fprintf(stderr, "bundle %s: %d files verified, command %s\n", path, r.Files, r.Command)
	}
	return 0
}

// writeManifest regenerates path's manifest, keeping the command and arguments of the
// existing one unless given.
func writeManifest(path string, o pinOptions) (skipped []string, err error) {
	command, args := o.command, o.args
	if command == "" || !o.argsSet {
		_, _, old, rerr := bundle.Read(path)
		switch {
		case rerr == nil:
			if command == "" {
				command = old.Command
			}
			if !o.argsSet {
				args = old.Args
			}
		case command == "":
			if _, serr := os.Stat(path + "/" + bundle.ManifestName); errors.Is(serr, os.ErrNotExist) {
				return nil, fmt.Errorf("%s has no manifest yet: name its launcher with --command", path)
			}
			return nil, fmt.Errorf("the existing manifest cannot be read (%v): name the launcher with --command", rerr)
		}
	}
	m, skipped, err := bundle.Generate(path, command, args)
	if err != nil {
		return nil, err
	}
	if _, err := bundle.Write(path, m); err != nil {
		return nil, err
	}
	return skipped, nil
}
