package main

import (
	"context"
	"fmt"
	"io"

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
which the old key can be removed from the config.`,
			Example: "  poolhost credentials rewrap --config /etc/poolhost/poolhost.hcl",
		}
		configPath := configFlag(c)
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			return runCredentialsRewrap(ctx, *configPath, stdout, stderr)
		})
		return c
	})
}

// runCredentialsRewrap is `poolhost credentials rewrap`: see its help above.
func runCredentialsRewrap(ctx context.Context, configPath string, stdout, stderr io.Writer) int {
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
	st, err := store.Open(ctx, cfg.DatabaseURL, store.WithCipher(kr))
	if err != nil {
		fmt.Fprintf(stderr, "poolhost credentials rewrap: %v\n", err)
		return 1
	}
	defer st.Close()
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
