package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrBackupPostgres: PostgreSQL is backed up with its own tools (pg_dump), not here.
var ErrBackupPostgres = errors.New("backup and restore copy SQLite databases; back up PostgreSQL with pg_dump (see the README)")

// Backup writes a consistent copy of a live SQLite database to path with VACUUM INTO:
// one read transaction, so writes going on meanwhile are either wholly in the copy or
// not at all, and the copy holds everything (a copy of the database file alone misses
// what is still in the WAL). path must not exist; it is written under a temporary name
// beside it and renamed when complete, with mode 0600.
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.d != dialectSQLite {
		return ErrBackupPostgres
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("backup: %s exists; choose a new file", path)
	}
	if dir := filepath.Dir(path); !isDir(dir) {
		// CreateTemp would name only its own temporary file, one the operator never chose.
		return fmt.Errorf("backup: the directory %s of %s does not exist: create it, or choose another file", dir, path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.partial")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close() // empty and 0600: VACUUM INTO accepts an empty file and keeps its mode
	defer os.Remove(tmpPath)
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, tmpPath); err != nil {
		return fmt.Errorf("backup: vacuum into: %w", err)
	}
	if err := syncFile(tmpPath); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Link(tmpPath, path); err != nil { // fails rather than replace a file made meanwhile
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// IsSQLite reports whether databaseURL names a SQLite database, and its file.
func IsSQLite(databaseURL string) (path string, ok bool) {
	_, dsn, d, err := parseURL(databaseURL)
	if err != nil || d != dialectSQLite {
		return "", false
	}
	path = dsn[len("file:"):]
	for i := 0; i < len(path); i++ {
		if path[i] == '?' {
			return path[:i], true
		}
	}
	return path, true
}
