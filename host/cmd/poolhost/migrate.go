package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
)

// runMigrate is `poolhost migrate up|status|verify [--config FILE] [--database-url URL]`.
// verify exits 1 unless the schema is at this binary's version with every table present.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, rest := subcommand(args)
	fs, db := storeFlags("migrate "+sub, stderr)
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if sub == "" && fs.NArg() > 0 {
		sub = fs.Arg(0)
	}
	switch sub {
	case "up", "status", "verify":
	default:
		fmt.Fprintln(stderr, "usage: poolhost migrate up|status|verify [--config FILE] [--database-url URL]")
		return 2
	}
	st, err := db.open(ctx, false)
	if err != nil {
		fmt.Fprintf(stderr, "poolhost migrate %s: %v\n", sub, err)
		return 1
	}
	defer st.Close()

	switch sub {
	case "up":
		res, err := st.Migrate(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "poolhost migrate up: %v\n", err)
			return 1
		}
		for _, r := range res {
			fmt.Fprintf(stdout, "applied %05d %s (%s)\n", r.Version, r.Name, r.Duration.Round(1e6))
		}
		if len(res) == 0 {
			fmt.Fprintln(stdout, "schema is current; nothing to apply")
		}
	case "status":
		ms, err := st.MigrationStatus(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "poolhost migrate status: %v\n", err)
			return 1
		}
		for _, m := range ms {
			state := "pending"
			if m.Applied {
				state = "applied " + m.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(stdout, "%05d %-28s %s\n", m.Version, m.Name, state)
		}
	case "verify":
		if err := st.Verify(ctx); err != nil {
			fmt.Fprintf(stderr, "poolhost migrate verify: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "schema ok (%s): every table present, no pending migrations\n", st.Dialect())
	}
	return 0
}

// subcommand splits "up --config x" into "up" and the flags; a leading flag means the
// subcommand comes after the flags.
func subcommand(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

// dbFlags are the flags every database command shares.
type dbFlags struct {
	config      *string
	databaseURL *string
}

func storeFlags(name string, stderr io.Writer) (*flag.FlagSet, *dbFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs, &dbFlags{
		config:      fs.String("config", defaultConfig, "configuration `file`"),
		databaseURL: fs.String("database-url", "", "database `URL`, overriding the config file's database_url"),
	}
}

// open opens the store named by --database-url, or by the config file. With
// --database-url the config file is not read at all, so `migrate` works before a
// credentials key exists. None of these commands touches credentials, so the store has
// no cipher. migrateFirst applies pending migrations when the config asks for it.
func (f *dbFlags) open(ctx context.Context, migrateFirst bool) (*store.Store, error) {
	url := *f.databaseURL
	autoMigrate := false
	if url == "" {
		cfg, err := config.Load(*f.config)
		if err != nil {
			return nil, fmt.Errorf("load config: %w", err)
		}
		url, autoMigrate = cfg.DatabaseURL, cfg.AutoMigrate
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if migrateFirst && autoMigrate {
		if _, err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// exitCode maps an error to the CLI's exit status: 2 for bad input, 1 otherwise.
func exitCode(err error) int {
	switch host.ErrorCode(err) {
	case host.EINVALID:
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}
