package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/poolhost/poolhost/migrations"
)

// Tables lists every table the schema must have; Verify checks each one.
var Tables = []string{
	"users", "api_tokens", "pools", "pool_members", "equipment",
	"integration_accounts", "integration_oauth_states", "integration_devices",
	"device_pool_links", "sensor_readings", "integration_ingestion_failures",
	"poll_state", "audit_events", "webhook_deliveries", "console_sessions",
}

// MigrationResult is one applied migration.
type MigrationResult struct {
	Version  int64
	Name     string
	Duration time.Duration
}

// Migration is one migration's state in the database.
type Migration struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time // zero when pending
}

func (s *Store) migrationFS() fs.FS {
	if s.d == dialectPostgres {
		return migrations.Postgres
	}
	return migrations.SQLite
}

func (s *Store) provider() (*goose.Provider, error) {
	var opts []goose.ProviderOption
	if s.d == dialectPostgres {
		// Replicas starting together take turns: an advisory lock held for the run.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(s.d.goose(), s.db.DB, s.migrationFS(), opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration and returns what it applied (nothing when
// the schema is current).
func (s *Store) Migrate(ctx context.Context) ([]MigrationResult, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate up: %w", err)
	}
	out := make([]MigrationResult, 0, len(results))
	for _, r := range results {
		out = append(out, MigrationResult{Version: r.Source.Version, Name: baseName(r.Source.Path), Duration: r.Duration})
		s.logger.Info("applied migration", "version", r.Source.Version, "duration", r.Duration)
	}
	return out, nil
}

// MigrationStatus lists every known migration and whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]Migration, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Migration, 0, len(st))
	for _, m := range st {
		out = append(out, Migration{
			Version:   m.Source.Version,
			Name:      baseName(m.Source.Path),
			Applied:   m.State == goose.StateApplied,
			AppliedAt: m.AppliedAt,
		})
	}
	return out, nil
}

// ErrSchema is returned by Verify when the schema is not what this binary expects.
var ErrSchema = errors.New("database schema is not current")

// Verify checks that the database is at the latest migration this binary embeds and
// that every table in Tables exists. It changes nothing but goose's own version table.
func (s *Store) Verify(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("%w: read schema version: %w", ErrSchema, err)
	}
	if current != target {
		return fmt.Errorf("%w: database is at version %d, this binary expects %d (run `poolhost migrate up`)", ErrSchema, current, target)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("%w: check pending migrations: %w", ErrSchema, err)
	}
	if pending {
		return fmt.Errorf("%w: migrations pending (run `poolhost migrate up`)", ErrSchema)
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

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
