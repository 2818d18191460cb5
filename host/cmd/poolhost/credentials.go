package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/store"
)

// runCredentials is `poolhost credentials rewrap --config FILE`: the last step of a key
// rotation. The operator makes the new key credentials_key and lists the old one in
// credentials_old_keys; serve then decrypts with either and seals with the new one. rewrap
// re-seals every stored credential under the new key, after which the old key can be
// removed from the config.
func runCredentials(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, rest := subcommand(args)
	fs := flag.NewFlagSet("credentials "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", defaultConfig, "configuration `file`")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if sub != "rewrap" {
		fmt.Fprintln(stderr, "usage: poolhost credentials rewrap [--config FILE]")
		return 2
	}
	cfg, err := config.Load(*configPath)
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
