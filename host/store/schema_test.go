package store_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/store"
)

// columns lists table.column names of the schema on one engine.
func columns(t *testing.T, e *env) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, table := range store.Tables {
		var cols []string
		var err error
		if e.s.Dialect() == "postgres" {
			err = e.s.DB().SelectContext(ctx, &cols, `SELECT column_name FROM information_schema.columns
				WHERE table_schema = current_schema() AND table_name = $1`, table)
		} else {
			err = e.s.DB().SelectContext(ctx, &cols, `SELECT name FROM pragma_table_info(?)`, table)
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(cols) == 0 {
			t.Fatalf("table %s missing on %s", table, e.s.Dialect())
		}
		for _, c := range cols {
			out = append(out, table+"."+c)
		}
	}
	sort.Strings(out)
	return out
}

// TestSchemaParity: the two dialects' migrations define the same tables and columns.
func TestSchemaParity(t *testing.T) {
	got := map[string][]string{}
	for _, eng := range engines {
		e := newEnv(t, eng, true)
		got[eng.name] = columns(t, e)
	}
	a, b := strings.Join(got["sqlite"], "\n"), strings.Join(got["postgres"], "\n")
	if a != b {
		t.Fatalf("schemas differ:\nsqlite:\n%s\n\npostgres:\n%s", a, b)
	}
	if len(got["sqlite"]) < 90 {
		t.Fatalf("only %d columns", len(got["sqlite"]))
	}
	t.Log(fmt.Sprintf("%d tables, %d columns on both engines", len(store.Tables), len(got["sqlite"])))
}
