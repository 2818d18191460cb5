package store

import (
	"context"
	"fmt"
	"time"
)

// ElectLeader makes owner the leader of name for ttl, or keeps it the leader, and reports
// whether it is: one upsert that takes the row when it is absent, already owner's, or
// expired, and otherwise leaves it alone. Periodic maintenance (the lease rescue) runs
// only on the leader, so replicas do not all scan for the same rows every tick; every
// replica still works the rows it leases. A leader renews by calling again before ttl
// runs out; when it dies, the first replica to call after its row expired takes over —
// within one ttl. On SQLite, with one process, the one caller is always the leader.
func (q queries) ElectLeader(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if name == "" || owner == "" || ttl <= 0 {
		return false, fmt.Errorf("elect leader: %w: name, owner and ttl are required", ErrInvalid)
	}
	now := q.clock()
	var got []string
	err := q.sel(ctx, &got, `INSERT INTO maintenance_leaders (name, owner, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE maintenance_leaders.owner = excluded.owner OR maintenance_leaders.expires_at < ?
		RETURNING owner`, name, owner, ts(now.Add(ttl)), now)
	if err != nil {
		return false, fmt.Errorf("elect leader: %w", err)
	}
	return len(got) == 1, nil
}

// Leader returns the owner of name's leadership while it has not expired, else "".
func (q queries) Leader(ctx context.Context, name string) (string, error) {
	var owners []string
	if err := q.sel(ctx, &owners, `SELECT owner FROM maintenance_leaders WHERE name = ? AND expires_at >= ?`, name, q.clock()); err != nil {
		return "", fmt.Errorf("leader: %w", err)
	}
	if len(owners) == 0 {
		return "", nil
	}
	return owners[0], nil
}
