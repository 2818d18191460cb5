// Package migrations embeds the host's SQL schema, one directory per dialect. Both
// directories carry the same version numbers so `poolhost migrate status` means the same
// thing on either engine; host/store runs them with goose's Provider API.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql
var postgresFS embed.FS

//go:embed sqlite/*.sql
var sqliteFS embed.FS

// Postgres and SQLite are the migration files of each dialect, rooted at the directory so
// file names are the bare "00001_init.sql".
var (
	Postgres fs.FS = mustSub(postgresFS, "postgres")
	SQLite   fs.FS = mustSub(sqliteFS, "sqlite")
)

func mustSub(f embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // only on a typo in dir, caught by any test that opens a store
	}
	return sub
}
