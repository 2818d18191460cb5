package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Replica states a serve process reports in its heartbeat (BeatReplica): its /readyz
// answer, or stopped when it shut down cleanly.
const (
	ReplicaReady    = "ready"
	ReplicaDegraded = "degraded"
	ReplicaNotReady = "not ready"
	ReplicaStopped  = "stopped"
)

// Replica is one serve process as it last reported itself.
type Replica struct {
	ID        string    `db:"id"` // unique per process: hostname, pid and a random part
	Hostname  string    `db:"hostname"`
	Version   string    `db:"version"`
	StartedAt time.Time `db:"started_at"`
	// LastSeenAt is its last heartbeat; BeatReplica sets it to now when zero.
	LastSeenAt time.Time `db:"last_seen_at"`
	Status     string    `db:"status"`  // ReplicaReady, ReplicaDegraded, ReplicaNotReady or ReplicaStopped
	Problem    string    `db:"problem"` // the readiness checks not ok, e.g. "plugins degraded"
	// CredentialsKeyIDs are the ids of the keys it opens credentials with (its
	// credentials_key, then credentials_old_keys), comma-separated; "" from a binary
	// that predates them.
	CredentialsKeyIDs string `db:"credentials_key_ids"`
	// EnabledProviders are the providers it runs enabled, comma-separated ("" for
	// none); not Valid from a binary that predates them.
	EnabledProviders sql.NullString `db:"enabled_providers"`
}

const replicaColumns = `id, hostname, version, started_at, last_seen_at, status, problem, credentials_key_ids, enabled_providers`

// BeatReplica records a replica's heartbeat: inserted on its first beat, updated after.
func (q queries) BeatReplica(ctx context.Context, r Replica) error {
	switch r.Status {
	case ReplicaReady, ReplicaDegraded, ReplicaNotReady, ReplicaStopped:
	default:
		return fmt.Errorf("beat replica: %w: status %q", ErrInvalid, r.Status)
	}
	if r.ID == "" || r.StartedAt.IsZero() {
		return fmt.Errorf("beat replica: %w: id and start time are required", ErrInvalid)
	}
	seen := q.clock()
	if !r.LastSeenAt.IsZero() {
		seen = ts(r.LastSeenAt)
	}
	_, err := q.exec(ctx, `INSERT INTO replicas (`+replicaColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at, status = excluded.status,
			problem = excluded.problem, version = excluded.version, credentials_key_ids = excluded.credentials_key_ids,
			enabled_providers = excluded.enabled_providers`,
		r.ID, r.Hostname, r.Version, ts(r.StartedAt), seen, r.Status, r.Problem, r.CredentialsKeyIDs, r.EnabledProviders)
	if err != nil {
		return fmt.Errorf("beat replica: %w", err)
	}
	return nil
}

// Replicas lists the replicas seen at or after since, oldest start first.
func (q queries) Replicas(ctx context.Context, since time.Time) ([]Replica, error) {
	var rs []Replica
	if err := q.sel(ctx, &rs, `SELECT `+replicaColumns+` FROM replicas WHERE last_seen_at >= ? ORDER BY started_at, id`, ts(since)); err != nil {
		return nil, fmt.Errorf("replicas: %w", err)
	}
	return rs, nil
}

// StopReplicas marks every replica not stopped as stopped, keeping when it was last
// seen, and returns how many it marked: for a database that no host serves, such as a
// backup being restored, whose heartbeats are those of the hosts that served the
// original when the backup was taken.
func (q queries) StopReplicas(ctx context.Context) (int64, error) {
	res, err := q.exec(ctx, `UPDATE replicas SET status = ?, problem = '' WHERE status <> ?`, ReplicaStopped, ReplicaStopped)
	if err != nil {
		return 0, fmt.Errorf("stop replicas: %w", err)
	}
	return res.RowsAffected()
}

// ForgetReplicas deletes the replicas last seen before before; it returns how many.
func (q queries) ForgetReplicas(ctx context.Context, before time.Time) (int64, error) {
	res, err := q.exec(ctx, `DELETE FROM replicas WHERE last_seen_at < ?`, ts(before))
	if err != nil {
		return 0, fmt.Errorf("forget replicas: %w", err)
	}
	return res.RowsAffected()
}
