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
	"test_sessions", "test_results", "audit_hourly", "audit_rollup", "maintenance_leaders", "replicas",
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

// lateMigrations are the migrations a database may lack while already having newer
// ones, and which Migrate then applies out of order. 00005 landed on main after
// 00006–00009 had (parallel work, 2026-11-29): a database migrated in between is at
// 6..9 without 5. 00005 touches only pools and its own new tables, which none of
// 00006–00009 read or change, so applying it late yields the same schema. Any other
// gap is refused: it would mean a migration was inserted below ones already shipped,
// and whether it can run late must be decided, and added here, by whoever does that.
var lateMigrations = map[int64]bool{5: true}

func (s *Store) provider() (*goose.Provider, error) {
	// Out of order is allowed in goose and bounded by lateMigrations in Migrate.
	opts := []goose.ProviderOption{goose.WithAllowOutofOrder(true)}
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
	if err := refuseGaps(ctx, p); err != nil {
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

// refuseGaps fails when a pending migration is older than an applied one and is not
// one of lateMigrations.
func refuseGaps(ctx context.Context, p *goose.Provider) error {
	st, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	var newest int64
	for _, m := range st {
		if m.State == goose.StateApplied && m.Source.Version > newest {
			newest = m.Source.Version
		}
	}
	for _, m := range st {
		if m.State != goose.StateApplied && m.Source.Version < newest && !lateMigrations[m.Source.Version] {
			return fmt.Errorf("migrate up: migration %d is missing below applied migration %d; it cannot be applied out of order", m.Source.Version, newest)
		}
	}
	return nil
}

// MigrationStatus lists every known migration and whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]Migration, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	if ok, err := s.hasVersionTable(ctx); err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	} else if !ok {
		// Nothing applied; p.Status would create goose's table to say so.
		out := []Migration{}
		for _, src := range p.ListSources() {
			out = append(out, Migration{Version: src.Version, Name: baseName(src.Path)})
		}
		return out, nil
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
