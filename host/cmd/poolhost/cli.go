package main

// The CLI is a tree of cobra commands. Every command file registers its own commands
// from an init func, so adding one touches no other file:
//
//	func init() {
//		register("plugins", func() *cobra.Command { // poolhost plugins test
//			var configPath *string
//			c := &cobra.Command{
//				Use:     "test [flags] PROVIDER",
//				Short:   "…",
//				Example: "  poolhost plugins test ondilo",
//				Args:    cobra.ExactArgs(1),
//				RunE: run(func(ctx context.Context, args []string, stdout, stderr io.Writer) int { … }),
//			}
//			configPath = configFlag(c)
//			return c
//		})
//	}
//
// register's first argument is the parent's path ("" for a top-level command, "plugins"
// for `poolhost plugins <name>`); groups are made on the way, and registerGroup gives
// one its help text. The build functions run on every dispatch, so flag variables live
// in their closures and every leaf command has a flag set of its own. A leaf that says
// nothing about arguments accepts none.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

type registration struct {
	parent string
	build  func() *cobra.Command
}

type groupHelp struct{ short, long, example string }

var (
	registrations []registration
	groups        = map[string]groupHelp{}
)

// register adds a command under parent ("" for top level).
func register(parent string, build func() *cobra.Command) {
	registrations = append(registrations, registration{parent: parent, build: build})
}

// registerGroup gives the group at path (e.g. "failures") its help text.
func registerGroup(path, short, long, example string) {
	groups[path] = groupHelp{short: short, long: long, example: example}
}

// exitStatus is a command's exit status, returned by RunE after the command has said
// what went wrong itself.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError is a mistake in how the command was called: dispatch prints it with the
// command's usage line and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// run adapts a command body that returns an exit status to cobra's RunE.
func run(body func(ctx context.Context, args []string, stdout, stderr io.Writer) int) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		if code := body(c.Context(), args, c.OutOrStdout(), c.ErrOrStderr()); code != 0 {
			return exitStatus(code)
		}
		return nil
	}
}

// newRoot builds the whole command tree.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "poolhost",
		Short: "poolhost: the pool-sensor plugin host",
		Long: `poolhost connects pool-sensor providers to one API. It serves the HTTP API, supervises
the provider plugins and owns all storage; the other commands manage a host's database,
users and dead letters, or talk to a running host through its admin API.

Commands that read the config file take --config, whose default is $POOLHOST_CONFIG
or else ./poolhost.hcl. Commands that talk to a running host take --addr and --token,
whose defaults are $POOLHOST_ADDR and $POOLHOST_TOKEN.`,
		Example: `  poolhost serve --config /etc/poolhost/poolhost.hcl
  poolhost failures list --status dead --format json
  POOLHOST_ADDR=http://127.0.0.1:8080 POOLHOST_TOKEN=pht_… poolhost providers`,
		SilenceErrors:              true,
		SilenceUsage:               true,
		SuggestionsMinimumDistance: 2,
		CompletionOptions:          cobra.CompletionOptions{DisableDefaultCmd: true},
		Args:                       groupArgs,
		RunE:                       groupRun,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })

	byPath := map[string]*cobra.Command{"": root}
	var group func(path string) *cobra.Command
	group = func(path string) *cobra.Command {
		if c, ok := byPath[path]; ok {
			return c
		}
		parentPath, name := "", path
		if i := strings.LastIndex(path, " "); i >= 0 {
			parentPath, name = path[:i], path[i+1:]
		}
		h := groups[path]
		long := h.short
		if h.long != "" {
			long += "\n\n" + h.long
		}
		c := &cobra.Command{Use: name + " <command>", Short: h.short, Long: long, Example: h.example, Args: groupArgs, RunE: groupRun,
			SuggestionsMinimumDistance: 2}
		group(parentPath).AddCommand(c)
		byPath[path] = c
		return c
	}
	for _, r := range registrations {
		c := r.build()
		if c.Args == nil && !c.HasSubCommands() {
			c.Args = noArgs
		}
		group(r.parent).AddCommand(c)
	}
	sortCommands(root)
	markRunErrors(root)
	return root
}

func sortCommands(c *cobra.Command) {
	cmds := c.Commands()
	sort.SliceStable(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	for _, sub := range cmds {
		sortCommands(sub)
	}
}

// groupArgs refuses an unknown subcommand, with cobra's suggestions.
func groupArgs(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{msg}
}

// groupRun: a group named without a command is a usage mistake.
func groupRun(c *cobra.Command, _ []string) error {
	return usagef("%s needs a command: %s", c.CommandPath(), strings.Join(commandNames(c), ", "))
}

func commandNames(c *cobra.Command) []string {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return names
}

// noArgs is every leaf's default: extra arguments are refused, never silently dropped.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", c.CommandPath(), args)
	}
	return nil
}

// exactArgs refuses any other number of arguments, naming them.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s, got %d argument(s) %q", c.CommandPath(), what, len(args), args)
		}
		return nil
	}
}

// dispatch runs the command line args and returns the process's exit status: 0, the
// command's own status, or 2 for a usage mistake (printed with the usage line).
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		args = append([]string{"version"}, args[1:]...)
	}
	root := newRoot(stdout, stderr)
	if len(args) == 0 {
		fmt.Fprint(stderr, root.UsageString())
		return 2
	}
	root.SetArgs(goStyleFlags(root, args))
	c, err := root.ExecuteContextC(ctx)
	var status exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &status):
		return int(status)
	}
	if c == nil {
		c = root
	}
	var failed runError
	if errors.As(err, &failed) {
		fmt.Fprintf(stderr, "%s: %v\n", c.CommandPath(), failed.err)
		return 1
	}
	// Everything else is cobra's (unknown flag or command, argument counts, required
	// flags) or a usageError: the caller's mistake.
	fmt.Fprintf(stderr, "%s: %v\nusage: %s\nRun '%s --help' for help.\n", c.CommandPath(), err, c.UseLine(), c.CommandPath())
	return 2
}

// runError is an error a command's RunE returned itself (not an exitStatus): the
// command ran and failed, so it exits 1 rather than 2.
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }

// markRunErrors wraps every RunE so dispatch can tell a command's own failure from
// cobra's parse errors.
func markRunErrors(c *cobra.Command) {
	if body := c.RunE; body != nil {
		c.RunE = func(c *cobra.Command, args []string) error {
			err := body(c, args)
			var status exitStatus
			var ue usageError
			if err == nil || errors.As(err, &status) || errors.As(err, &ue) {
				return err
			}
			return runError{err}
		}
	}
	for _, sub := range c.Commands() {
		markRunErrors(sub)
	}
}

// defaultConfig is the config file when neither --config nor POOLHOST_CONFIG says.
const defaultConfig = "poolhost.hcl"

// configDefault is --config's default: $POOLHOST_CONFIG, else ./poolhost.hcl.
func configDefault() string {
	if p := os.Getenv("POOLHOST_CONFIG"); p != "" {
		return p
	}
	return defaultConfig
}

// configFlag adds --config to c.
func configFlag(c *cobra.Command) *string {
	return c.Flags().String("config", configDefault(), "configuration `file`: $POOLHOST_CONFIG, else poolhost.hcl")
}

// goStyleFlags lets Go's single-dash spelling of a long flag (-config x, -format=json)
// through: it is rewritten to --config only where the command has a flag of that name,
// so a value that merely starts with a dash is left alone.
func goStyleFlags(root *cobra.Command, args []string) []string {
	c, _, err := root.Find(args)
	if err != nil {
		return args
	}
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if c.Flags().Lookup(name) != nil || c.InheritedFlags().Lookup(name) != nil {
			out[i] = "-" + a
		}
	}
	return out
}
