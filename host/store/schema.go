package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
)

// MaxSchemaAhead is how many migrations a database may be ahead of a binary that still
// serves on it, each of them declared compatible with the binary before it. A release
// adds at most this many; a replica further behind must be upgraded, not kept.
const MaxSchemaAhead = 3

// ErrSchema is returned by Verify when this binary must not serve on the schema.
var ErrSchema = errors.New("database schema is not compatible with this binary")

// SchemaState is where the database's schema stands against this binary.
type SchemaState struct {
	Current  int64   // the database's version
	Expected int64   // the newest migration this binary embeds
	Pending  []int64 // migrations this binary has that the database lacks
	// Ahead are applied migrations this binary does not know (a newer binary applied
	// them); Incompatible are those of them that do not declare the previous binary
	// compatible (or declare nothing).
	Ahead        []int64
	Incompatible []int64
}

// Serves reports whether this binary can serve on the schema.
func (s SchemaState) Serves() bool {
	return len(s.Pending) == 0 && len(s.Incompatible) == 0 && len(s.Ahead) <= MaxSchemaAhead
}

// Problem says why this binary must not serve, with the advice that fits: migrate up
// when the schema is behind, upgrade this replica when it is ahead and incompatible.
// It is "" when the binary serves.
func (s SchemaState) Problem() string {
	switch {
	case len(s.Pending) > 0:
		return fmt.Sprintf("database is at version %d, this binary expects %d: run `poolhost migrate up` with this binary", s.Current, s.Expected)
	case len(s.Incompatible) > 0:
		return fmt.Sprintf("database is at version %d, ahead of this binary (%d), and migration %d is not compatible with older binaries: replace this replica with a binary that knows version %d (do not migrate down to suit it)",
			s.Current, s.Expected, s.Incompatible[0], s.Current)
	case len(s.Ahead) > MaxSchemaAhead:
		return fmt.Sprintf("database is at version %d, %d migrations ahead of this binary (%d); at most %d are served: upgrade this replica",
			s.Current, len(s.Ahead), s.Expected, MaxSchemaAhead)
	}
	return ""
}

// Note is what readiness shows of a schema this binary serves on though it is not
// its own: "" when the schema is exactly this binary's.
func (s SchemaState) Note() string {
	if len(s.Ahead) == 0 {
		return ""
	}
	return fmt.Sprintf("database is at version %d, ahead of this binary (%d), with compatible migrations only: this replica keeps serving; upgrade it to finish the roll", s.Current, s.Expected)
}

// SchemaState compares the applied migrations with this binary's. It changes nothing:
// a database without goose's version table is at version 0, every migration pending.
func (s *Store) SchemaState(ctx context.Context) (SchemaState, error) {
	p, err := s.provider()
	if err != nil {
		return SchemaState{}, err
	}
	var st SchemaState
	known := map[int64]bool{}
	for _, src := range p.ListSources() {
		known[src.Version] = true
		if src.Version > st.Expected {
			st.Expected = src.Version
		}
	}
	if ok, err := s.hasVersionTable(ctx); err != nil {
		return SchemaState{}, schemaUnread("read schema version", err)
	} else if !ok {
		st.Pending = slices.Sorted(maps.Keys(known))
		return st, nil
	}
	// Not p.Status: it takes the migrations' lock, which a migration holds while it
	// runs, and readiness (VerifyReady) asks this on every probe. 00027 runs for minutes
	// on a large database without blocking writes; every replica would stay unready
	// that long waiting here. HasPending takes no lock (it creates goose's table if
	// missing).
	if _, err := p.HasPending(ctx); err != nil {
		return SchemaState{}, schemaUnread("read schema version", err)
	}
	var applied []int64
	if err := s.sel(ctx, &applied, `SELECT version_id FROM goose_db_version WHERE is_applied AND version_id > 0 ORDER BY version_id`); err != nil {
		return SchemaState{}, schemaUnread("read applied migrations", err)
	}
	for _, v := range slices.Sorted(maps.Keys(known)) {
		if !slices.Contains(applied, v) {
			st.Pending = append(st.Pending, v)
		}
	}
	for _, v := range applied {
		if v > st.Current {
			st.Current = v
		}
		if !known[v] {
			st.Ahead = append(st.Ahead, v)
		}
	}
	if len(st.Ahead) > 0 {
		compatible := map[int64]bool{}
		var rows []struct {
			Version    int64 `db:"version"`
			Compatible bool  `db:"compatible_with_previous"`
		}
		// A database without schema_compat predates the declarations: nothing is known
		// compatible.
		if err := s.sel(ctx, &rows, `SELECT version, compatible_with_previous FROM schema_compat`); err == nil {
			for _, r := range rows {
				compatible[r.Version] = r.Compatible
			}
		}
		for _, v := range st.Ahead {
			if !compatible[v] {
				st.Incompatible = append(st.Incompatible, v)
			}
		}
	}
	return st, nil
}

// hasVersionTable reports whether goose's version table exists. goose creates it when
// asked anything, so a read-only question (migrate status or verify, readiness) asks
// this first: verify of an empty database created the table in it (or, as a role that
// may not create there, failed with "permission denied for schema public").
func (s *Store) hasVersionTable(ctx context.Context) (bool, error) {
	var n int
	if err := s.get(ctx, &n, s.d.tableExistsSQL(), "goose_db_version"); err != nil {
		return false, err
	}
	return n > 0, nil
}

// schemaUnread is the error of a schema that could not be read. A database that cannot
// be reached says nothing about the schema: while PostgreSQL was down, /readyz's
// migrations check logged "database schema is not compatible with this binary: read
// schema version: … bad connection", which reads as a migration to run.
func schemaUnread(what string, err error) error {
	if unreachable(err) {
		return fmt.Errorf("schema not checked, the database is unreachable: %s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrSchema, what, err)
}

// Verify checks that this binary can serve on the database: no migration of its own is
// pending, every newer migration is declared compatible (at most MaxSchemaAhead of
// them), and every table in Tables exists. Errors wrap ErrSchema and give the advice
// that fits.
func (s *Store) Verify(ctx context.Context) error {
	st, err := s.SchemaState(ctx)
	if err != nil {
		return err
	}
	if p := st.Problem(); p != "" {
		return fmt.Errorf("%w: %s", ErrSchema, p)
	}
	var missing []string
	for _, t := range Tables {
		var n int
		if err := s.get(ctx, &n, s.d.tableExistsSQL(), t); err != nil {
			return fmt.Errorf("check table %s: %w", t, err)
		}
		if n == 0 {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing tables %v", ErrSchema, missing)
	}
	return nil
}

// MigrateDown undoes every applied migration above version, newest first. It refuses
// before changing anything when one of them is unknown to this binary (run it with the
// binary that applied it) or has no down section (restore a backup instead).
func (s *Store) MigrateDown(ctx context.Context, version int64) ([]MigrationResult, error) {
	if version < 1 {
		return nil, fmt.Errorf("migrate down: --to must be at least 1 (undoing 00001 would drop every table)")
	}
	st, err := s.SchemaState(ctx)
	if err != nil {
		return nil, err
	}
	if len(st.Ahead) > 0 {
		return nil, fmt.Errorf("migrate down: the database has migration %d, which this binary does not know: run migrate down with the binary that applied it", st.Ahead[len(st.Ahead)-1])
	}
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	for _, src := range p.ListSources() {
		if src.Version <= version || src.Version > st.Current {
			continue
		}
		ok, err := hasDown(s.migrationFS(), baseName(src.Path))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("migrate down: migration %d cannot be undone (it has no down section): restore the backup taken before it", src.Version)
		}
	}
	results, err := p.DownTo(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("migrate down: %w", err)
	}
	out := make([]MigrationResult, 0, len(results))
	for _, r := range results {
		out = append(out, MigrationResult{Version: r.Source.Version, Name: baseName(r.Source.Path), Duration: r.Duration})
		s.logger.Info("undid migration", "version", r.Source.Version, "duration", r.Duration)
	}
	return out, nil
}

// hasDown reports whether a migration file has a down section with a statement in it.
func hasDown(fsys fs.FS, name string) (bool, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return false, fmt.Errorf("read migration %s: %w", name, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	down := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "-- +goose Down"):
			down = true
		case strings.HasPrefix(line, "-- +goose Up"):
			down = false
		case down && line != "" && !strings.HasPrefix(line, "--"):
			return true, nil
		}
	}
	return false, sc.Err()
}
