//go:build poolhost_schemanext

package migrations

import (
	"embed"
	"io/fs"
	"testing/fstest"
)

// With -tags poolhost_schemanext the binary also carries testdata/next: the migration a
// later release would add. Tests build such a "new" binary to run beside a normal
// ("old") one against one database. Release builds never set the tag.

//go:embed testdata/next/postgres/*.sql
var nextPostgres embed.FS

//go:embed testdata/next/sqlite/*.sql
var nextSQLite embed.FS

func init() {
	Postgres = merge(Postgres, mustSub(nextPostgres, "testdata/next/postgres"))
	SQLite = merge(SQLite, mustSub(nextSQLite, "testdata/next/sqlite"))
}

func merge(fsyss ...fs.FS) fs.FS {
	out := fstest.MapFS{}
	for _, f := range fsyss {
		names, err := fs.Glob(f, "*.sql")
		if err != nil {
			panic(err)
		}
		for _, n := range names {
			b, err := fs.ReadFile(f, n)
			if err != nil {
				panic(err)
			}
			out[n] = &fstest.MapFile{Data: b, Mode: 0o444}
		}
	}
	return out
}
