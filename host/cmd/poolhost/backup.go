package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
)

func init() {
	register("", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "backup --to FILE [flags]",
			Short: "write a consistent copy of a live SQLite database",
			Long: `backup copies the SQLite database while the host runs (VACUUM INTO: one consistent
snapshot, WAL included), to a new file with mode 0600. Never copy poolhost.db itself:
what is still in poolhost.db-wal would be missing. For PostgreSQL use pg_dump (README).
The copy holds credentials sealed with credentials_key: keep the key with the backup,
stored apart.`,
			Example: `  poolhost backup --to /var/backups/poolhost-$(date -u +%Y%m%dT%H%M%SZ).db`,
		}
		db := storeFlags(c)
		to := c.Flags().String("to", "", "the backup `file` to write (must not exist)")
		_ = c.MarkFlagRequired("to")
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			return withStore(ctx, db, "backup", stderr, func(st *store.Store) int {
				if err := st.Backup(ctx, *to); err != nil {
					fmt.Fprintf(stderr, "poolhost backup: %v\n", err)
					return 1
				}
				fi, _ := os.Stat(*to)
				fmt.Fprintf(stdout, "backed up to %s (%d bytes)\n", *to, fi.Size())
				return 0
			})
		})
		return c
	})
	register("", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "restore --from FILE [--force] [flags]",
			Short: "put a SQLite backup in place of the database, checked with migrate verify",
			Long: `restore checks the backup with migrate verify, then puts a copy of it in place of the
database the config (or --database-url) names, removing that database's stale -wal and
-shm files. Stop the host first: restore refuses, changing nothing, while a host serves
the database (serve holds a lock on DATABASE.lock for its whole life). An existing
database is replaced only with --force; --force never replaces one a host serves.
A backup taken before an upgrade restores too: restore then says to run migrate up.`,
			Example: `  systemctl stop poolhost
  poolhost restore --from /var/backups/poolhost-20260101T000000Z.db --force
  systemctl start poolhost`,
		}
		db := storeFlags(c)
		from := c.Flags().String("from", "", "the backup `file`")
		force := c.Flags().Bool("force", false, "replace an existing database (never one a running host serves)")
		_ = c.MarkFlagRequired("from")
		c.RunE = run(func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			if err := restore(ctx, db, *from, *force, stdout); err != nil {
				fmt.Fprintf(stderr, "poolhost restore: %v\n", err)
				return 1
			}
			return 0
		})
		return c
	})
}

// restore copies the backup beside the target, verifies the copy, and renames it over
// the target: the backup file itself is never opened for writing, and a failure leaves
// the target as it was.
func restore(ctx context.Context, db *dbFlags, from string, force bool, stdout io.Writer) error {
	url := *db.databaseURL
	if url == "" {
		cfg, err := config.Load(*db.config)
		if err != nil {
			return fmt.Errorf("load config: %w", err)
		}
		url = cfg.DatabaseURL
	}
	target, ok := store.IsSQLite(url)
	if !ok {
		return store.ErrBackupPostgres
	}
	if _, err := os.Stat(from); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the backup %s does not exist: nothing restored", from)
	} else if err != nil {
		return err
	}
	// Held until the new file is in place: a host serving the target refuses the restore
	// (it would keep writing to the unlinked old file and lose every write), and a host
	// starting meanwhile refuses to start. --force never overrides this.
	release, err := store.ClaimSQLite(target)
	if err != nil {
		return inUseAdvice(err)
	}
	defer release()
	if _, err := os.Stat(target); err == nil && !force {
		return fmt.Errorf("%s exists: pass --force to replace it", target)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.restoring")
	if err != nil {
		return err
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath)
	src, err := os.Open(from)
	if err != nil {
		tmp.Close()
		return err
	}
	_, err = io.Copy(tmp, src)
	src.Close()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}

	behind, err := verifyBackup(ctx, tmpPath)
	if err != nil {
		return fmt.Errorf("%s does not pass migrate verify, nothing restored: %w", from, err)
	}
	for _, stale := range []string{target + "-wal", target + "-shm", tmpPath + "-wal", tmpPath + "-shm"} {
		if err := os.Remove(stale); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(tmpPath, target); err != nil {
		return err
	}
	if behind != "" {
		fmt.Fprintf(stdout, "restored %s to %s; %s\n", from, target, behind)
		return nil
	}
	fmt.Fprintf(stdout, "restored %s to %s; migrate verify: schema ok\n", from, target)
	return nil
}

// verifyBackup runs migrate verify on the copy and marks the copy's replicas stopped
// (it writes to the copy, never to the backup it came from). A backup from before an
// upgrade is only behind: it restores, and the advice is returned.
func verifyBackup(ctx context.Context, path string) (behind string, err error) {
	st, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		return "", err
	}
	defer st.Close()
	// Leave a single file: fold the WAL the open may have started back in.
	defer st.DB().ExecContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`)
	if err := st.Verify(ctx); err != nil {
		state, serr := st.SchemaState(ctx)
		if serr == nil && state.Current > 0 && len(state.Pending) > 0 && len(state.Incompatible) == 0 {
			// A schema before 00022 has no replicas table; migrate up makes it empty.
			_, _ = st.StopReplicas(ctx)
			return "it is older than this binary: run `poolhost migrate up` before serving", nil
		}
		return "", err
	}
	// The backup holds the heartbeats of the hosts serving when it was taken, as they
	// were then: ready, never stopped. No host serves the restored file (restore holds
	// its claim), so none of them runs on it; left as they were, the console's Overview
	// showed each as gone (crashed) under "Needs attention" for an hour after a restore.
	if _, err := st.StopReplicas(ctx); err != nil {
		return "", err
	}
	return "", nil
}
