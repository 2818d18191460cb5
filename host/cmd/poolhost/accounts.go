package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/store"
)

func init() {
	registerGroup("accounts", "manage the users' provider accounts", "", "")
	register("accounts", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "disconnect --provider ID [flags]",
			Short: "disconnect every account of a provider you disabled or removed, erasing its credentials",
			Long: `disconnect does for every account of a decommissioned provider (enabled = false in its
block, or the block removed) what each owner can do for theirs: the credentials are
erased, the devices unlinked from their pools, the readings kept, and each account
audited (integration.disconnected, by system:cli, with the provider's state). The
plugin is not run, so a webhook registration it made at the provider's cloud cannot be
removed; each audit row says so. A provider still enabled is refused: its accounts are
its users' to disconnect. So is one a running host still serves: the file may say
disabled before every replica was reloaded with it, and each replica records in its
heartbeat the providers it runs (--force disconnects anyway, e.g. for a replica older
than that record).`,
			Example: "  poolhost accounts disconnect --provider ondilo --config /etc/poolhost/poolhost.hcl",
		}
		configPath := configFlag(c)
		provider := c.Flags().String("provider", "", "the provider `ID`")
		_ = c.MarkFlagRequired("provider")
		force := c.Flags().Bool("force", false, "disconnect even while a replica seen in the last http.heartbeat_gone_after does not say it stopped running the provider")
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			return runAccountsDisconnect(ctx, *configPath, *provider, *force, stdout, stderr)
		})
		return c
	})
}

// runAccountsDisconnect is `poolhost accounts disconnect`. It reads the config file for
// the provider's state and the credentials key (unreadable credentials still count as
// a registration that may be left at the provider's cloud).
func runAccountsDisconnect(ctx context.Context, configPath, provider string, force bool, stdout, stderr io.Writer) int {
	fail := failer("accounts disconnect", stderr)
	cfg, err := config.Load(configPath)
	if err != nil {
		return fail(err)
	}
	kr, err := keyring(cfg)
	if err != nil {
		return fail(err)
	}
	if err := sqliteExists(cfg.DatabaseURL); err != nil {
		return fail(err)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.WithCipher(kr))
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	log := hclog.New(&hclog.LoggerOptions{Name: "poolhost", Output: stderr, Level: hclog.Warn})
	svc := connect.New(connect.Deps{Store: st, Audit: audit.NewRecorder(audit.StoreWriter(st), log), Logger: log,
		Config: func() *config.Config { return cfg }})
	if p, known := cfg.Provider(provider); !force && (!known || !p.Enabled) {
		if err := replicasStoppedProvider(ctx, st, cfg, provider); err != nil {
			return fail(err)
		}
	}
	n, err := svc.DisconnectProvider(ctx, cliActor, provider)
	if err != nil && n > 0 {
		err = fmt.Errorf("%d account(s) of %s disconnected before: %w", n, provider, err)
	}
	if err != nil {
		return fail(err)
	}
	if n == 0 {
		// Nothing to do. Say which kind of nothing: a provider id the config does not
		// know and no account ever had is most likely a typo, which "disconnected 0
		// account(s) ... credentials erased" hid behind exit 0.
		if _, known := cfg.Provider(provider); !known {
			all, err := st.ListProviderAccounts(ctx, provider, "")
			if err != nil {
				return fail(err)
			}
			if len(all) == 0 {
				ids := make([]string, 0, len(cfg.Providers))
				for _, p := range cfg.Providers {
					ids = append(ids, p.ID)
				}
				return fail(fmt.Errorf("no account of provider %q was ever connected, and %s has no provider block of that id (its providers: %s): check the id", provider, configPath, strings.Join(ids, ", ")))
			}
		}
		fmt.Fprintf(stdout, "no connected account of provider %s: nothing to disconnect\n", provider)
		return 0
	}
	fmt.Fprintf(stdout, "disconnected %d account(s) of provider %s: credentials erased, devices unlinked, readings kept\n", n, provider)
	return 0
}

// replicasStoppedProvider refuses while a live serve process (seen within
// http.heartbeat_gone_after, not stopped) still runs provider enabled, or does not say
// which providers it runs: the file this command read says the provider is
// decommissioned, but a replica not yet reloaded with it still serves the provider's
// users, whose accounts are theirs to disconnect (and whose plugin could still remove
// a webhook registration the command cannot).
func replicasStoppedProvider(ctx context.Context, st *store.Store, cfg *config.Config, provider string) error {
	rs, err := st.Replicas(ctx, time.Now().Add(-cfg.HTTP.HeartbeatGoneAfter))
	if err != nil {
		return fmt.Errorf("read the replicas' heartbeats: %w", err)
	}
	for _, r := range rs {
		if r.Status == store.ReplicaStopped {
			continue
		}
		seen := time.Since(r.LastSeenAt).Round(time.Second)
		if !r.EnabledProviders.Valid {
			return fmt.Errorf("serve process %s on %s, last seen %s ago, does not say which providers it runs (a binary older than this check): upgrade or stop it, then run this again (--force disconnects anyway). Nothing was disconnected",
				r.ID, r.Hostname, seen)
		}
		if slices.Contains(strings.Split(r.EnabledProviders.String, ","), provider) {
			return fmt.Errorf("serve process %s on %s, last seen %s ago, still runs provider %q enabled: reload it with this configuration (systemctl reload poolhost, or poolhost reload), then run this again. Nothing was disconnected",
				r.ID, r.Hostname, seen, provider)
		}
	}
	return nil
}
