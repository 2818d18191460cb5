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
