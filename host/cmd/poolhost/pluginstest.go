package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/sdktest"
)

// `poolhost plugins test` runs sdktest's conformance checks against a plugin binary,
// launched exactly as the host launches it (go-plugin handshake, AutoMTLS, the host's
// environment allow-list). It needs no database, no credentials key and no config:
// a provider team runs it on what they are about to ship, in any language.
func init() {
	register("plugins", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "test [flags] BINARY",
			Short: "run the SDK's conformance checks against a plugin binary",
			Long: `test launches BINARY as the host would and runs the conformance checks of the
SDK's sdktest package against it: Describe, unsigned and garbage webhooks rejected,
the fixtures' valid deliveries accepted with well-formed readings and tampered, wrong
secret and stale ones rejected, malformed and randomized bodies failing as permanent
without crashing or hanging, and a polling plugin's polls of the fixtures' poll.json
account judged and its cursor fed back until nothing new, none repeated, the
refresh.json call handing refreshed credentials back, and each commands.json
SendCommand coming back as the outcome it names. It prints one line per check (with the plugin's rejection
reasons) and exits 1 if any failed. The fixture directory layout is documented in
PLUGINS.md; --settings is a JSON file {"settings": {...}, "secrets": {...}} sent with
Configure, overriding the fixtures' configure.json. No database or config is needed.`,
			Example: `  poolhost plugins test bin/plugins/poolhost-provider-acme --fixtures testdata/conformance
  poolhost plugins test ./poolhost-provider-acme --settings acme-test.json`,
			Args: cobra.ExactArgs(1),
		}
		fixtures := c.Flags().String("fixtures", "", "a fixture directory (configure.json, webhooks/{valid,tampered,wrong_secret,stale}/*.json, malformed/*, poll.json, refresh.json, commands.json)")
		settings := c.Flags().String("settings", "", `a JSON file {"settings": {...}, "secrets": {...}} for Configure`)
		c.RunE = run(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			return runPluginsTest(ctx, args[0], *fixtures, *settings, stdout, stderr)
		})
		return c
	})
}

func runPluginsTest(ctx context.Context, binary, fixtureDir, settingsFile string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "poolhost plugins test: %v\n", err)
		return 1
	}
	var fx sdktest.Fixtures
	if fixtureDir != "" {
		var err error
		if fx, err = sdktest.LoadFixtures(fixtureDir); err != nil {
			return fail(err)
		}
	}
	if settingsFile != "" {
		b, err := os.ReadFile(settingsFile)
		if err != nil {
			return fail(err)
		}
		var cfg struct {
			Settings map[string]string `json:"settings"`
			Secrets  map[string]string `json:"secrets"`
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			return fail(fmt.Errorf("%s: %w", settingsFile, err))
		}
		fx.Configure = &sdk.ConfigureRequest{Settings: cfg.Settings, Secrets: cfg.Secrets}
	}
	abs, err := filepath.Abs(binary)
	if err != nil {
		return fail(err)
	}
	// The plugin's own log lines go to stderr, prefixed by go-plugin with its name.
	client, kill, err := sdktest.LaunchTarget(abs, stderr)
	defer kill()
	if err != nil {
		return fail(fmt.Errorf("start %s: %w", binary, err))
	}
	results := sdktest.Checks(ctx, client, fx)
	// Stopped before the report, so that go-plugin's line on its exit ("plugin process
	// exited", on stderr) comes before it, not under the verdict.
	kill()
	failed, skipped := 0, 0
	for _, r := range results {
		switch {
		case r.Skipped != "":
			skipped++
			fmt.Fprintf(stdout, "SKIP  %s: %s\n", r.Check, r.Skipped)
		case r.Err != nil:
			failed++
			fmt.Fprintf(stdout, "FAIL  %s: %v\n", r.Check, r.Err)
		case r.Detail != "":
			fmt.Fprintf(stdout, "ok    %s: %s\n", r.Check, r.Detail)
		default:
			fmt.Fprintf(stdout, "ok    %s\n", r.Check)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%s: %d check(s) failed\n", binary, failed)
		return 1
	}
	if skipped > 0 {
		// A skipped check proved nothing (no valid fixture: no delivery was ever parsed).
		fmt.Fprintf(stdout, "%s: all checks passed; %d skipped, see the SKIP lines\n", binary, skipped)
		return 0
	}
	fmt.Fprintf(stdout, "%s: all checks passed\n", binary)
	return 0
}
