package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
)

func init() {
	registerGroup("migrate", "manage the database schema", `The schema is versioned by numbered migrations, the same numbers on PostgreSQL and
SQLite. serve applies pending ones at start unless auto_migrate = false; with several
replicas, run migrate up once as a deploy step, then roll the replicas.`, `  poolhost migrate status --config /etc/poolhost/poolhost.hcl
  poolhost migrate up --database-url "postgres://poolhost@db/poolhost"`)
	register("migrate", func() *cobra.Command {
		c := &cobra.Command{
			Use:     "up [flags]",
			Short:   "apply every pending migration",
			Example: "  poolhost migrate up --config poolhost.hcl",
		}
		db := storeFlags(c)
		db.creates = true // a new SQLite database is made here
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			return withStore(ctx, db, "migrate up", stderr, func(st *store.Store) int {
				res, err := st.Migrate(ctx)
				if err != nil {
					fmt.Fprintf(stderr, "poolhost migrate up: %v\n", err)
					return 1
				}
				for _, r := range res {
					fmt.Fprintf(stdout, "applied %05d %s (%s)\n", r.Version, r.Name, r.Duration.Round(time.Millisecond))
				}
				if len(res) == 0 {
					fmt.Fprintln(stdout, "schema is current; nothing to apply")
				}
				return 0
			})
		})
		return c
	})
	register("migrate", func() *cobra.Command {
		c := &cobra.Command{
			Use:     "status [flags]",
			Short:   "list every migration this binary knows and whether it is applied",
			Example: "  poolhost migrate status --format json",
		}
		db := storeFlags(c)
		f := formatFlag(c)
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			return withStore(ctx, db, "migrate status", stderr, func(st *store.Store) int {
				ms, err := st.MigrationStatus(ctx)
				if err != nil {
					fmt.Fprintf(stderr, "poolhost migrate status: %v\n", err)
					return 1
				}
				type row struct {
					Version   int64      `json:"version"`
					Name      string     `json:"name"`
					Applied   bool       `json:"applied"`
					AppliedAt *time.Time `json:"applied_at,omitempty"`
				}
				rows := make([]row, 0, len(ms))
				for _, m := range ms {
					r := row{Version: m.Version, Name: m.Name, Applied: m.Applied}
					if m.Applied {
						at := m.AppliedAt.UTC()
						r.AppliedAt = &at
					}
					rows = append(rows, r)
				}
				_ = f.write(stdout, rows, func(w io.Writer) {
					for _, r := range rows {
						state := "pending"
						if r.AppliedAt != nil {
							state = "applied " + r.AppliedAt.Format("2006-01-02 15:04:05Z")
						}
						fmt.Fprintf(w, "%05d\t%s\t%s\n", r.Version, r.Name, state)
					}
				})
				return 0
			})
		})
		return c
	})
	register("migrate", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "verify [flags]",
			Short: "exit 1 unless the schema is at this binary's version with every table present",
			Example: `  poolhost migrate verify --config poolhost.hcl
  poolhost migrate verify --database-url sqlite:/var/lib/poolhost/restored.db`,
		}
		db := storeFlags(c)
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			return withStore(ctx, db, "migrate verify", stderr, func(st *store.Store) int {
				if err := st.Verify(ctx); err != nil {
					fmt.Fprintf(stderr, "poolhost migrate verify: %v\n", err)
					return 1
				}
				if state, err := st.SchemaState(ctx); err == nil && state.Note() != "" {
					fmt.Fprintf(stdout, "schema ok (%s) for this binary: %s\n", st.Dialect(), state.Note())
					return 0
				}
				fmt.Fprintf(stdout, "schema ok (%s): every table present, no pending migrations\n", st.Dialect())
				return 0
			})
		})
		return c
	})
	register("migrate", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "down --to VERSION [flags]",
			Short: "undo the applied migrations above VERSION, newest first",
			Long: `down undoes migrations with their down sections, for a rollback that needs the schema
back where the previous release left it; most rollbacks do not (see "Rolling back" in
the README). It refuses, changing nothing, when a migration to undo is unknown to this
binary or cannot be undone; then restore the backup taken before the upgrade. Undoing a
migration drops what it added, data included: take a backup first. Stop the host (every
replica) first: down refuses while a host serves the database.`,
			Example: "  poolhost migrate down --to 6 --config poolhost.hcl",
		}
		db := storeFlags(c)
		db.exclusive = true // undoing a migration under a running host drops what it writes
		to := c.Flags().Int64("to", 0, "the `version` to leave the schema at (required)")
		_ = c.MarkFlagRequired("to")
		migrateDown := run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			return withStore(ctx, db, "migrate down", stderr, func(st *store.Store) int {
				res, err := st.MigrateDown(ctx, *to)
				if err != nil {
					fmt.Fprintf(stderr, "poolhost %v\n", err)
					return 1
				}
				for _, r := range res {
					fmt.Fprintf(stdout, "undid %05d %s (%s)\n", r.Version, r.Name, r.Duration.Round(time.Millisecond))
				}
				if len(res) == 0 {
					fmt.Fprintf(stdout, "nothing to undo: the schema is at or below %d\n", *to)
				}
				return 0
			})
		})
		c.RunE = func(c *cobra.Command, args []string) error {
			// A mistake in the call, refused before the database is opened (exit 2).
			if *to < 1 {
				return usagef("--to must be at least 1 (undoing 00001 would drop every table)")
			}
			return migrateDown(c, args)
		}
		return c
	})
}

// withStore opens the store the flags name (never migrating first), runs fn, closes it.
func withStore(ctx context.Context, db *dbFlags, name string, stderr io.Writer, fn func(*store.Store) int) int {
	st, err := db.open(ctx, false)
	if err != nil {
		fmt.Fprintf(stderr, "poolhost %s: %v\n", name, inUseAdvice(err))
		return 1
	}
	defer st.Close()
	return fn(st)
}

// dbFlags are the flags every database command shares.
type dbFlags struct {
	config      *string
	databaseURL *string
	// exclusive: the command would lose a running host's writes, so it opens the
	// database with store.Exclusive and refuses while a host serves it.
	exclusive bool
	// creates: the command makes a SQLite database that does not exist yet (migrate
	// up). The others refuse one that does not exist instead of creating it empty.
	creates bool
}

func storeFlags(c *cobra.Command) *dbFlags {
	return &dbFlags{
		config:      configFlag(c),
		databaseURL: c.Flags().String("database-url", "", "database `URL`, overriding the config file's database_url (the config file is then not read)"),
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
	if !f.creates && !(migrateFirst && autoMigrate) {
		if err := sqliteExists(url); err != nil {
			return nil, err
		}
	}
	var opts []store.Option
	if f.exclusive {
		opts = append(opts, store.Exclusive())
	}
	st, err := store.Open(ctx, url, opts...)
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

// sqliteExists refuses a SQLite database_url whose file does not exist. Opening it
// would create an empty database there: a mistyped --database-url (or a relative path
// run from another directory) then had migrate status list every migration pending,
// migrate verify advise migrate up (which would fill the wrong file), and users list
// or failures list fail with "no such table". PostgreSQL URLs pass.
func sqliteExists(url string) error {
	path, ok := store.IsSQLite(url)
	if !ok || path == "" || strings.HasPrefix(path, ":") {
		return nil
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or an error the open reports better
	}
	if _, err := os.Stat(filepath.Dir(path)); err != nil {
		return nil // the open names the missing directory
	}
	where := ""
	if !filepath.IsAbs(path) {
		wd, _ := os.Getwd()
		where = " (a relative path is taken from the working directory, " + wd + ")"
	}
	return fmt.Errorf("no SQLite database at %s%s; nothing was created. Check the path (--database-url, or database_url in the config); `poolhost migrate up` creates a new database", path, where)
}

// inUseAdvice adds to a refusal because a host serves the database how to stop it.
func inUseAdvice(err error) error {
	if !errors.Is(err, store.ErrServing) {
		return err
	}
	return fmt.Errorf("%w. Nothing was changed. Stop the host (systemctl stop poolhost, or SIGTERM to its process; with PostgreSQL, every replica), then run this again", err)
}

// exitCode maps an error to the CLI's exit status: 2 for bad input, 1 otherwise.
func exitCode(err error) int {
	if host.ErrorCode(err) == host.EINVALID {
		return 2
	}
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}
