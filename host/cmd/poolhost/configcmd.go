package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host/config"
)

func init() {
	registerGroup("config", "check configuration files", "", "")
	register("config", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "validate [flags]",
			Short: "load a config file as serve would and print every problem in it",
			Long: `validate loads the config file exactly as serve does (secrets from env() and file()
included) and prints every error with its file, line and column, and every warning.
It exits 1 on an error and 0 otherwise, warnings included; it starts no plugin and
opens no database.`,
			Example: `  poolhost config validate --config /etc/poolhost/poolhost.hcl
  POOLHOST_CONFIG=staging.hcl poolhost config validate`,
		}
		configPath := configFlag(c)
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
			fmt.Fprintf(stdout, "%s is valid: %d provider(s), %d enabled\n", cfg.Path, len(cfg.Providers), len(cfg.EnabledProviders()))
			return 0
		})
		return c
	})
}
