package store

import (
	"context"
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
	"poll_state", "audit_events", "webhook_deliveries", "console_sessions", "schema_compat",
	"test_sessions", "test_results",
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

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
