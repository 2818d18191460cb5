package store

import "context"

// MigrateUpTo applies the migrations up to version v, for tests of what one migration
// does to data stored before it.
func (s *Store) MigrateUpTo(ctx context.Context, v int64) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, v)
	return err
}

// MigrateDownTo rolls the migrations back to version v.
func (s *Store) MigrateDownTo(ctx context.Context, v int64) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, v)
	return err
}

// ApplyMigrations applies exactly the given migrations, in order, skipping any others:
// a database in a state a past mistake left behind.
func (s *Store) ApplyMigrations(ctx context.Context, versions ...int64) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	for _, v := range versions {
		if _, err := p.ApplyVersion(ctx, v, true); err != nil {
			return err
		}
	}
	return nil
}
