package retry

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/worker"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/tracing"
)

// Audit actions.
const (
	ActionRetrySucceeded = "ingestion.retry_succeeded"
	ActionDead           = "ingestion.dead"
)

// Store is what the worker needs from storage: *store.Store.
type Store interface {
	ClaimFailures(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.Failure, error)
	RescueExpiredFailures(ctx context.Context, limit int) ([]store.RescuedFailure, error)
	ReleaseFailure(ctx context.Context, id int64, l store.Lease) error
	ElectLeader(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	GetAccount(ctx context.Context, id int64) (store.Account, error)
	AccountCredentials(ctx context.Context, accountID int64) (map[string]string, error)
	AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error)
	InTx(ctx context.Context, fn func(tx *store.Tx) error) error
}

// Parser parses a verified webhook: the plugin handle's Webhook call.
type Parser interface {
	Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error)
}

// Plugins finds a provider's parser. *pluginmgr.Manager satisfies it through
// ManagerPlugins.
type Plugins interface {
	Parser(provider string) (Parser, error)
}

// ManagerPlugins adapts a plugin manager to Plugins.
func ManagerPlugins(m *pluginmgr.Manager) Plugins { return managerPlugins{m} }

type managerPlugins struct{ m *pluginmgr.Manager }

func (mp managerPlugins) Parser(provider string) (Parser, error) {
	p, err := mp.m.Get(provider)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Config is the worker's configuration (config.RetryWorker) plus what tests inject.
type Config struct {
	config.RetryWorker
	// Owner names this worker in leases; default hostname-pid-random, unique per process.
	Owner string
	// Concurrency is how many failures are worked at once, each in its own slot under
	// its own lease (never more than batch_size). Default 8.
	Concurrency int
	// Now and Rand replace the clock and the jitter source (tests). Rand returns [0, 1).
	Now  func() time.Time
	Rand func() float64
}

// Deps are the worker's collaborators.
type Deps struct {
	Store      Store
	Ingest     *ingest.Service
	Plugins    Plugins
	Logger     hclog.Logger
	Registerer prometheus.Registerer
}

// Stats counts what one tick did.
type Stats struct {
	Claimed   int // rows leased
	Succeeded int // resolved: readings committed
	Retried   int // failed again, back to pending with backoff
	Dead      int // out of attempts or permanently unparseable
	Rescued   int // expired leases returned to pending (or dead)
	LeaseLost int // rows whose lease was lost mid-attempt; nothing was committed
	// StoreErrors are attempts whose outcome the database did not take; the lease runs
	// out and the row comes back. Counted apart from LeaseLost.
	StoreErrors int
	// Released are attempts cut short by the worker's stopping whose rows were handed
	// back at once, unattempted (store.ReleaseFailure).
	Released int
}

func (s Stats) zero() bool { return s == Stats{} }

// Worker is the IntegrationRetryWorker.
type Worker struct {
	d       Deps
	cfg     Config
	log     hclog.Logger
	metrics *metrics
	loop    worker.Loop
}

// New returns a worker; nothing runs until Start.
func New(d Deps, cfg Config) *Worker {
	def := config.DefaultRetryWorker
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = def.BatchSize
	}
	if cfg.Lease <= 0 {
		cfg.Lease = def.Lease
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = def.MaxAttempts
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = def.BackoffBase
	}
	if cfg.BackoffCap <= 0 {
		cfg.BackoffCap = def.BackoffCap
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Owner == "" {
		cfg.Owner = worker.OwnerID("retry")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = mrand.Float64
	}
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	return &Worker{d: d, cfg: cfg, log: d.Logger.Named("retry"), metrics: newMetrics(d.Registerer)}
}

// Owner is the worker's lease owner id.
func (w *Worker) Owner() string { return w.cfg.Owner }

// Start runs the worker in the background until ctx ends or Close. A disabled worker
// says so once and processes nothing.
func (w *Worker) Start(ctx context.Context) {
	if !w.cfg.Enabled {
		w.log.Info("retry worker disabled: ingestion failures will wait until it is enabled or an operator acts")
		return
	}
	ticks := worker.NewTickLog(w.log, "retry tick failed")
	started := w.loop.Start(ctx, w.cfg.Interval, func(ctx context.Context) {
		if _, err := w.Tick(ctx); err != nil && ctx.Err() == nil {
			ticks.Fail(err)
		}
	})
	if started {
		w.log.Info("retry worker started", "owner", w.cfg.Owner, "interval", w.cfg.Interval, "batch_size", w.cfg.BatchSize,
			"lease", w.cfg.Lease, "max_attempts", w.cfg.MaxAttempts, "backoff_base", w.cfg.BackoffBase, "backoff_cap", w.cfg.BackoffCap)
	}
}

// Close stops the worker and waits for the tick in progress. Rows it was processing
// finish or, if cut short, are handed back to be claimed at once (release).
func (w *Worker) Close() error {
	w.loop.Close()
	return nil
}

// Tick runs one round: rescue expired leases, then claim and process due rows batch by
// batch until fewer than a full batch are due. It is exported for tests and drills.
func (w *Worker) Tick(ctx context.Context) (Stats, error) {
	var st Stats
	err := w.tick(ctx, &st)
	w.metrics.add(st)
	if !st.zero() || err != nil {
		w.log.Info("retry tick", "claimed", st.Claimed, "succeeded", st.Succeeded, "retried", st.Retried,
			"dead", st.Dead, "rescued", st.Rescued, "lease_lost", st.LeaseLost, "store_errors", st.StoreErrors, "released", st.Released)
	} else {
		w.log.Debug("retry tick", "claimed", 0)
	}
	return st, err
}

func (w *Worker) tick(ctx context.Context, st *Stats) error {
	if err := w.rescue(ctx, st); err != nil {
		return err
	}
	var mu sync.Mutex
	claimed, err := worker.Drain(ctx, w.slots(), func(ctx context.Context, n int) ([]store.Failure, error) {
		return w.d.Store.ClaimFailures(ctx, w.cfg.Owner, n, w.cfg.Lease)
	}, func(ctx context.Context, f store.Failure) {
		r := w.process(ctx, f)
		mu.Lock()
		defer mu.Unlock()
		switch r {
		case worker.Succeeded:
			st.Succeeded++
		case worker.Failed:
			st.Retried++
		case worker.Dead:
			st.Dead++
		case worker.LeaseLost:
			st.LeaseLost++
		case worker.StoreError:
			st.StoreErrors++
		case worker.Released:
			st.Released++
		}
	})
	st.Claimed += claimed
	return err
}

// RescueLeader names the leadership of the lease rescue (store.ElectLeader).
const RescueLeader = "retry_rescue"

// Rescue pages: at most RescuePages pages of RescuePageSize rows per tick; what is left
// waits for the next tick, so a backlog never makes one statement lock it all.
const (
	RescuePageSize = 500
	RescuePages    = 10
)

// rescue returns failures whose lease expired to pending (or dead), on one replica only:
// the elected leader, whose leadership lasts one lease and is renewed every tick. Every
// replica rescuing every tick made them all scan for the same rows; with the leader gone,
// another replica takes over within one lease.
func (w *Worker) rescue(ctx context.Context, st *Stats) error {
	leader, err := w.d.Store.ElectLeader(ctx, RescueLeader, w.cfg.Owner, w.cfg.Lease)
	if err != nil || !leader {
		return err
	}
	for range RescuePages {
		rescued, err := w.d.Store.RescueExpiredFailures(ctx, RescuePageSize)
		if err != nil {
			return err
		}
		for _, r := range rescued {
			st.Rescued++
			w.log.Warn("rescued failure with expired lease", "failure", r.ID, "provider", r.Provider, "status", r.Status, "error", r.LastError)
			if r.Status == store.FailureDead {
				st.Dead++
				w.auditDead(ctx, r.ID, r.Provider, r.LastError)
			}
		}
		if len(rescued) < RescuePageSize {
			return nil
		}
	}
	return nil
}

// slots is how many failures the worker holds at once, one per slot: Concurrency,
// never above batch_size.
func (w *Worker) slots() int { return min(w.cfg.Concurrency, w.cfg.BatchSize) }

// process makes one attempt at one claimed failure; one cut short by the worker's
// stopping is handed back (release).
func (w *Worker) process(ctx context.Context, f store.Failure) (out worker.Outcome) {
	ctx, span := worker.StartSpan(ctx, "retry", f.Provider, "poolhost.failure", f.ID)
	defer func() { worker.EndSpan(span, out) }()
	log := w.log.With(tracing.LogArgs(ctx, []any{"failure", f.ID, "provider", f.Provider, "attempt", f.Attempts})...)
	if out = w.attempt(ctx, log, f); out == worker.Abandoned {
		out = w.release(ctx, log, f)
	}
	return out
}

// attempt parses and stores one claimed failure.
func (w *Worker) attempt(ctx context.Context, log hclog.Logger, f store.Failure) worker.Outcome {
	parser, err := w.d.Plugins.Parser(f.Provider)
	if err != nil {
		// A disabled or unknown provider spends an attempt like any failure (about 20
		// minutes of backoff over the default 8 attempts): a decommissioned provider's
		// rows must end, and a dead row can be requeued once it is enabled again.
		return w.fail(ctx, log, f, fmt.Errorf("provider plugin: %w", err))
	}
	req := sdk.WebhookRequest{Headers: failures.ForPlugin(f.Headers), Body: f.Payload, ReceivedAt: f.ReceivedAt}
	if f.AccountID != 0 {
		req.Account = w.account(ctx, log, f.AccountID)
	}
	parsed, err := parser.Webhook(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return worker.Abandoned
		}
		return w.fail(ctx, log, f, fmt.Errorf("parse: %w", err))
	}
	deliveryID := parsed.DeliveryID
	if deliveryID == "" {
		deliveryID = f.DeliveryID
	}
	res, err := w.d.Ingest.Ingest(ctx, ingest.Request{
		Provider:          f.Provider,
		AccountID:         f.AccountID,
		ProviderAccountID: parsed.ProviderAccountID,
		Readings:          parsed.Readings,
		TestSessions:      parsed.TestSessions,
		// The original receipt and the delivery id: a redelivery the webhook route
		// already stored (or will store) dedupes against this attempt's readings.
		ReceivedAt: f.ReceivedAt,
		DeliveryID: deliveryID,
		Finish: func(ctx context.Context, tx *store.Tx, res ingest.Result) error {
			// Resolved in the readings' transaction, under the lease: if another worker
			// rescued and re-claimed the row meanwhile, this rolls the readings back.
			if err := tx.CompleteFailure(ctx, f.ID, f.Lease()); err != nil {
				return err
			}
			details := store.Details{"attempt": f.Attempts, "accepted": res.Accepted, "duplicates": res.Duplicates}
			if len(res.Dropped) > 0 {
				details["dropped"] = res.Dropped
			}
			if res.TestSessions != nil {
				details["test_sessions_result"] = res.TestSessions
			}
			_, err := tx.AppendAudit(ctx, store.AuditEvent{
				At: w.cfg.Now(), Action: ActionRetrySucceeded, Actor: store.ActorSystem, Provider: f.Provider,
				TargetType: "ingestion_failure", TargetID: strconv.FormatInt(f.ID, 10), Details: details,
			})
			return err
		},
	})
	switch {
	case err == nil:
		log.Info("retry succeeded", "accepted", res.Accepted, "duplicates", res.Duplicates, "dropped", res.DroppedTotal())
		return worker.Succeeded
	case errors.Is(err, store.ErrLeaseLost):
		log.Warn("lease lost before the retry committed; nothing stored")
		return worker.LeaseLost
	case ctx.Err() != nil:
		return worker.Abandoned
	}
	return w.fail(ctx, log, f, fmt.Errorf("persist: %w", err))
}

// release hands back a row whose attempt the worker's stopping cut short, so another
// replica (or this one, restarted on reload) takes it at once instead of when its lease
// ends, without spending an attempt that never completed. The attempt's transaction,
// where the readings and the row's resolution commit together, may have committed
// after all; then the row is resolved, the compare-and-set on the lease finds nothing
// to release, and the readings are counted once. A lost lease releases nothing either.
//
// Never commands to equipment: a send, however it ended, may have
// reached the device, so host/commands hands none back to be sent again (a stopping
// dispatcher finishes its sends; one interrupted otherwise ends unknown).
func (w *Worker) release(ctx context.Context, log hclog.Logger, f store.Failure) worker.Outcome {
	return worker.Release(ctx, log, "retry", func(ctx context.Context) error {
		return w.d.Store.ReleaseFailure(ctx, f.ID, f.Lease())
	})
}

// account is the sdk view of a failure's account, credentials included, as the webhook
// carried it on receipt. A vanished account still gets parsed: ingestion then drops its
// readings by reason.
func (w *Worker) account(ctx context.Context, log hclog.Logger, id int64) *sdk.Account {
	acc := &sdk.Account{ID: strconv.FormatInt(id, 10)}
	a, err := w.d.Store.GetAccount(ctx, id)
	if err != nil {
		log.Debug("failure's account not loaded", "account", id, "error", err)
		return acc
	}
	acc.ExternalAccountID = a.ExternalAccountID
	if a.CredentialsKeyID != "" {
		if creds, err := w.d.Store.AccountCredentials(ctx, id); err == nil {
			acc.Credentials = creds
		} else {
			log.Warn("failure's account credentials not decrypted", "account", id, "error", err)
		}
	}
	return acc
}

// fail records a failed attempt: backoff, or dead at the attempt budget or on a
// permanent error, with the audit row in the same transaction.
func (w *Worker) fail(ctx context.Context, log hclog.Logger, f store.Failure, cause error) worker.Outcome {
	if ctx.Err() != nil {
		return worker.Abandoned // the cause may be the worker's stopping: handed back
	}
	// The attempt failed on its own: its record is not cut short by the worker stopping
	// now, or the row would wait for its lease to end.
	ctx, cancel := worker.PastStop(ctx)
	defer cancel()
	permanent := sdk.IsKind(cause, sdk.KindPermanent)
	delay := worker.Backoff(f.Attempts-1, w.cfg.BackoffBase, w.cfg.BackoffCap, w.cfg.Rand)
	// A plugin that is not running (restarting, or failed until a reload) parsed
	// nothing: the attempt is given back, and the row waits as long again as it has
	// waited since it was queued (the cap at most), so an outage costs a few calls an
	// hour and never the delivery. A plugin that died or hung on the payload is another
	// matter (ErrNotCalled is not in that chain): that spends the attempt, or a
	// delivery that crashes its plugin would crash it forever.
	notAttempted := errors.Is(cause, pluginmgr.ErrNotCalled) && !errors.Is(cause, pluginmgr.ErrNotFound)
	if notAttempted {
		waited := max(w.cfg.Now().Sub(f.CreatedAt), w.cfg.BackoffBase)
		delay = worker.Backoff(0, waited, w.cfg.BackoffCap, w.cfg.Rand)
	}
	msg := worker.TruncateError(cause.Error())
	var status store.FailureStatus
	err := w.d.Store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		// The row's own budget (set on receipt) and the configured one both apply, so
		// lowering max_attempts takes effect on rows already queued.
		status, err = tx.FailFailure(ctx, f.ID, f.Lease(), store.FailureOutcome{
			Error: msg, RetryAt: w.cfg.Now().Add(delay), NotAttempted: notAttempted,
			Permanent: permanent || (f.Attempts >= w.cfg.MaxAttempts && !notAttempted),
		})
		if err != nil || status != store.FailureDead {
			return err
		}
		_, err = tx.AppendAudit(ctx, deadEvent(w.cfg.Now(), f.ID, f.Provider, msg, f.Attempts))
		return err
	})
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		log.Warn("lease lost before the failed attempt was recorded", "error", cause)
		return worker.LeaseLost
	case err != nil:
		// The lease runs out and the rescue brings the row back.
		log.Error("record failed attempt", "error", err, "cause", cause)
		return worker.StoreError
	case status == store.FailureDead:
		log.Warn("ingestion failure is dead", "error", cause, "permanent", permanent)
		return worker.Dead
	}
	if notAttempted {
		log.Info("provider plugin not running; attempt not counted, backing off", "error", cause, "retry_in", delay.Round(time.Millisecond))
		return worker.Failed
	}
	log.Info("retry failed; backing off", "error", cause, "retry_in", delay.Round(time.Millisecond))
	return worker.Failed
}

func deadEvent(at time.Time, id int64, provider, lastError string, attempts int) store.AuditEvent {
	return store.AuditEvent{
		At: at, Action: ActionDead, Actor: store.ActorSystem, Provider: provider,
		TargetType: "ingestion_failure", TargetID: strconv.FormatInt(id, 10),
		Details: store.Details{"error": lastError, "attempts": attempts, "source": "retry_worker"},
	}
}

func (w *Worker) auditDead(ctx context.Context, id int64, provider, lastError string) {
	if _, err := w.d.Store.AppendAudit(ctx, deadEvent(w.cfg.Now(), id, provider, lastError, 0)); err != nil {
		w.log.Error("audit dead failure", "failure", id, "error", err)
	}
}
