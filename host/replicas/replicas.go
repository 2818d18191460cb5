// Package replicas keeps every serve process's heartbeat in the database — when it
// started, when it was last seen, how ready it was then — so the console of any
// replica shows the readiness of all of them, and a replica that stopped reporting
// (crashed, frozen, cut off from the database) as gone.
package replicas

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/store"
)

// ForgetAfter: rows last seen this long ago are deleted, so a replaced replica is shown
// gone for a while and then no more. The beat interval and how long a silent replica
// takes to be gone are config (http.heartbeat_interval, http.heartbeat_gone_after).
const ForgetAfter = time.Hour

// Gone is the state shown for a replica not seen for goneAfter that did not say it
// stopped.
const Gone = "gone"

// State is how a replica stands at now: its last reported status, or Gone when it has
// been silent for longer than goneAfter.
func State(r store.Replica, now time.Time, goneAfter time.Duration) string {
	if r.Status != store.ReplicaStopped && now.Sub(r.LastSeenAt) > goneAfter {
		return Gone
	}
	return r.Status
}

// Trouble reports whether a replica in state needs an operator: not ready, degraded
// or gone. Ready and cleanly stopped ones do not.
func Trouble(state string) bool { return state != store.ReplicaReady && state != store.ReplicaStopped }

// Store is what the heartbeat writes: *store.Store.
type Store interface {
	BeatReplica(ctx context.Context, r store.Replica) error
	ForgetReplicas(ctx context.Context, before time.Time) (int64, error)
}

// ReadyFunc is the replica's readiness as /readyz answers it: "ready", "degraded" or
// "not ready", and each check's result ("ok", "degraded", "failing") by name.
type ReadyFunc func(ctx context.Context) (status string, checks map[string]string)

// Heartbeat writes one replica's row.
type Heartbeat struct {
	st    Store
	self  store.Replica
	ready ReadyFunc
	log   hclog.Logger
	every time.Duration // between beats

	mu      sync.Mutex // held through each write: a beat never lands after Stop's row
	failed  bool       // the last beat failed: log the next success
	stopped bool
}

// New returns the heartbeat of the replica id (unique per process), started now,
// beating every interval (http.heartbeat_interval).
func New(st Store, id, hostname, version string, started time.Time, interval time.Duration, ready ReadyFunc, log hclog.Logger) *Heartbeat {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Heartbeat{st: st, ready: ready, log: log.Named("replicas"), every: interval,
		self: store.Replica{ID: id, Hostname: hostname, Version: version, StartedAt: started}}
}

// SetCredentialsKeyIDs records, with every later beat, the ids of the keys this process
// opens credentials with (credentials_key first): `poolhost credentials rewrap` refuses
// while a live replica lacks the key it re-seals under. Call it before Run.
func (h *Heartbeat) SetCredentialsKeyIDs(ids []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.self.CredentialsKeyIDs = strings.Join(ids, ",")
}

// SetEnabledProviders records, with every later beat, the providers this process runs
// enabled: `poolhost accounts disconnect` refuses while a live replica still runs the
// provider it would disconnect. Call it before Run and after each reload.
func (h *Heartbeat) SetEnabledProviders(ids []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.self.EnabledProviders = sql.NullString{String: strings.Join(ids, ","), Valid: true}
}

// ID is the replica's id.
func (h *Heartbeat) ID() string { return h.self.ID }

// Beat asks the replica's readiness and records it.
func (h *Heartbeat) Beat(ctx context.Context) error {
	status, checks := h.ready(ctx)
	r := h.snapshot()
	r.Status, r.Problem = status, problem(checks)
	return h.write(ctx, r)
}

// Stop records that the replica stopped cleanly: shown as stopped, not gone.
func (h *Heartbeat) Stop(ctx context.Context) error {
	r := h.snapshot()
	r.Status = store.ReplicaStopped
	return h.write(ctx, r)
}

// snapshot is the replica's row as the setters left it.
func (h *Heartbeat) snapshot() store.Replica {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.self
}

func (h *Heartbeat) write(ctx context.Context, r store.Replica) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil
	}
	h.stopped = r.Status == store.ReplicaStopped
	err := h.st.BeatReplica(ctx, r)
	if err != nil && ctx.Err() != nil {
		return err // shutting down: Stop writes the last row
	}
	// Said once per outage, not every beat: a database down is logged elsewhere too.
	switch {
	case err != nil && !h.failed:
		h.log.Warn("replica heartbeat not recorded: other replicas' consoles will show this one gone", "replica", r.ID, "error", err)
	case err == nil && h.failed:
		h.log.Info("replica heartbeat recorded again", "replica", r.ID)
	}
	h.failed = err != nil
	return err
}

// Run beats at once and then every interval until ctx ends, forgetting replicas
// not seen for ForgetAfter as it goes.
func (h *Heartbeat) Run(ctx context.Context) {
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		if err := h.Beat(ctx); err == nil {
			if _, err := h.st.ForgetReplicas(ctx, time.Now().Add(-ForgetAfter)); err != nil && ctx.Err() == nil {
				h.log.Warn("forget old replicas", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// problem names the checks that are not ok, e.g. "plugins degraded, database failing".
func problem(checks map[string]string) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		if v := checks[name]; v != "ok" {
			parts = append(parts, fmt.Sprintf("%s %s", name, v))
		}
	}
	return strings.Join(parts, ", ")
}
