package main

import (
	"context"
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pluginmgr"
)

func init() {
	registerGroup("config", "check configuration files", "", "")
	register("config", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "validate [flags]",
			Short: "load a config file as serve would and print every problem in it",
			Long: `validate loads the config file exactly as serve does (secrets from env() and file()
included) and prints every error with its file, line and column, and every warning.
Then it launches each enabled plugin as serve would (pin, Describe, Configure) and
stops it again, so that a settings or secrets key the plugin does not declare, a value
of the wrong type, or a missing binary is an error too. --offline skips that step (say,
in CI without the plugin binaries); it opens no database either way. It exits 1 on an
error and 0 otherwise, warnings included.`,
			Example: `  poolhost config validate --config /etc/poolhost/poolhost.hcl
  POOLHOST_CONFIG=staging.hcl poolhost config validate --offline`,
		}
		configPath := configFlag(c)
		offline := c.Flags().Bool("offline", false, "check the file only; start no plugin (settings keys go unchecked)")
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			cfg, err := config.Load(*configPath)
			if err != nil {
				fmt.Fprintf(stderr, "%v\n", err)
				fmt.Fprintf(stderr, "poolhost config validate: %s is not valid\n", *configPath)
				return 1
			}
			for _, w := range cfg.Warnings {
				fmt.Fprintf(stderr, "warning: %s\n", w)
			}
			if !*offline {
				if n := checkPluginsAgainst(ctx, cfg, stderr); n > 0 {
					fmt.Fprintf(stderr, "poolhost config validate: %s is not valid: %d provider(s) refuse it\n", *configPath, n)
					return 1
				}
			}
			// Say what was checked: an --offline pass is the file alone (an undeclared
			// settings key still passes), and both printed the same line.
			checked := "each enabled plugin started, configured and stopped"
			if *offline {
				checked = "the file alone (--offline: no plugin started, settings and secrets keys unchecked)"
			}
			fmt.Fprintf(stdout, "%s is valid: %d provider(s), %d enabled; checked %s\n", cfg.Path, len(cfg.Providers), len(cfg.EnabledProviders()), checked)
			return 0
		})
		return c
	})
}

// checkPluginsAgainst starts every enabled plugin under cfg, prints why each one that
// does not run refused (undeclared settings keys among them), stops them all, and
// returns how many refused.
func checkPluginsAgainst(ctx context.Context, cfg *config.Config, stderr io.Writer) int {
	m := pluginmgr.New(hclog.NewNullLogger(), nil, cfg)
	defer m.Close()
	_ = m.Start(ctx) // each failure is in its status, with its reason
	failed := 0
	for _, st := range m.Statuses() {
		if st.Enabled && st.State != pluginmgr.StateRunning {
			fmt.Fprintf(stderr, "error: provider %q: %s\n", st.Provider, st.LastError)
			failed++
		}
	}
	return failed
}
