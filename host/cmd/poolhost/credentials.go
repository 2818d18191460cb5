package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/store"
)

func init() {
	registerGroup("credentials", "manage the stored provider credentials", "", "")
	register("credentials", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "rewrap [flags]",
			Short: "re-seal every stored credential under the current credentials_key",
			Long: `rewrap is the last step of a key rotation. Make the new key credentials_key and list
the old one in credentials_old_keys; serve then opens credentials with either key and
seals with the new one. rewrap re-seals every stored credential under the new key, after
which the old key can be removed from the config.

It first reads the replicas' heartbeats: while a serve process seen within
http.heartbeat_gone_after does not hold the new key (not restarted with it yet, or a
binary too old to say), it refuses, naming that process, and re-seals nothing: that
process could no longer open any credential. --force re-seals anyway.`,
			Example: "  poolhost credentials rewrap --config /etc/poolhost/poolhost.hcl",
		}
		configPath := configFlag(c)
		force := c.Flags().Bool("force", false, "re-seal even though a serve process seen in the last heartbeat_gone_after does not say it holds the new key")
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			return runCredentialsRewrap(ctx, *configPath, *force, stdout, stderr)
		})
		return c
	})
}

// runCredentialsRewrap is `poolhost credentials rewrap`: see its help above.
func runCredentialsRewrap(ctx context.Context, configPath string, force bool, stdout, stderr io.Writer) int {
	cfg, err := config.Load(configPath)
	if err != nil {
		fmt.Fprintf(stderr, "poolhost credentials rewrap: %v\n", err)
		return 1
	}
	kr, err := keyring(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "poolhost credentials rewrap: %v\n", err)
		return 1
	}
	if err := sqliteExists(cfg.DatabaseURL); err != nil {
		fmt.Fprintf(stderr, "poolhost credentials rewrap: %v\n", err)
		return 1
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.WithCipher(kr))
	if err != nil {
		fmt.Fprintf(stderr, "poolhost credentials rewrap: %v\n", err)
		return 1
	}
	defer st.Close()
	if !force {
		if err := replicasHoldKey(ctx, st, cfg); err != nil {
			fmt.Fprintf(stderr, "poolhost credentials rewrap: %v\n", err)
			return 1
		}
	}
	n, err := st.RewrapCredentials(ctx, cfg.CredentialsKey.ID)
	if err != nil {
		fmt.Fprintf(stderr, "poolhost credentials rewrap: %d re-sealed before the error: %v\n", n, err)
		return 1
	}
	fmt.Fprintf(stdout, "re-sealed %d account credentials under key %s\n", n, cfg.CredentialsKey.ID)
	return 0
}

// keyring is the credentials keyring the config describes: the current key seals, every
// listed key opens.
func keyring(cfg *config.Config) (*credentials.Keyring, error) {
	old := make([]credentials.Key, 0, len(cfg.CredentialsOldKeys))
	for _, k := range cfg.CredentialsOldKeys {
		old = append(old, credentials.Key{ID: k.ID, Bytes: k.Bytes})
	}
	kr, err := credentials.NewKeyringWithIDs(credentials.Key{ID: cfg.CredentialsKey.ID, Bytes: cfg.CredentialsKey.Bytes}, old...)
	if err != nil {
		return nil, fmt.Errorf("credentials key: %w", err)
	}
	return kr, nil
}

// credentialsKeyIDs are the ids of the keys a process with cfg opens credentials with:
// credentials_key, then credentials_old_keys.
func credentialsKeyIDs(cfg *config.Config) []string {
	ids := []string{cfg.CredentialsKey.ID}
	for _, k := range cfg.CredentialsOldKeys {
		ids = append(ids, k.ID)
	}
	return ids
}

// replicasHoldKey refuses a rewrap while a live serve process (seen within
// http.heartbeat_gone_after, not stopped) does not say it holds the key rewrap seals
// under: every credential re-sealed would be unreadable to it until it is restarted with
// the key (README, Rotating the credentials key, step 2).
func replicasHoldKey(ctx context.Context, st *store.Store, cfg *config.Config) error {
	rs, err := st.Replicas(ctx, time.Now().Add(-cfg.HTTP.HeartbeatGoneAfter))
	if err != nil {
		return fmt.Errorf("read the replicas' heartbeats: %w", err)
	}
	key := cfg.CredentialsKey.ID
	for _, r := range rs {
		if r.Status == store.ReplicaStopped || slices.Contains(strings.Split(r.CredentialsKeyIDs, ","), key) {
			continue
		}
		held := "says no key ids (a binary older than this check)"
		if r.CredentialsKeyIDs != "" {
			held = "opens credentials with key(s) " + r.CredentialsKeyIDs
		}
		return fmt.Errorf("serve process %s on %s, last seen %s ago, %s, not %s, the credentials_key rewrap seals under: make %s its credentials_key (the old key in credentials_old_keys) and restart it, then run rewrap again (--force re-seals anyway). Nothing was re-sealed",
			r.ID, r.Hostname, time.Since(r.LastSeenAt).Round(time.Second), held, key, key)
	}
	return nil
}
