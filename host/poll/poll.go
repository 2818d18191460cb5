// Package poll is the poll worker: for providers whose config block sets poll = true it
// claims accounts whose next poll is due (under a lease, so host replicas never poll one
// account at once), calls the plugin's PollReadings with the account's decrypted
// credentials and cursor, and hands the readings to host/ingest. The new cursor, the next
// poll time and any refreshed credentials (encrypted by the store) are committed in the
// same transaction as the readings. The interval is the provider's poll_interval, never
// shorter than the plugin's MinPollInterval; errors back off exponentially (a poll
// refused before it reached a plugin, not running, no further than the interval), and
// never less than a Retry-After the provider gave (sdk.RetryAfter); an account
// whose credentials the provider rejects (sdk.KindReauth) becomes reauth_required and is
// no longer polled until its user reconnects. A worker that stops (a drain, a reload)
// starts no new poll; a plugin call already in flight is let answer, for a while
// (Config.StopGrace), and its answer is stored as usual, since a call cut short answers
// nothing and a provider that rotates refresh tokens may already have spent the stored
// one. A poll cut short all the same hands the account back at once, under the same
// compare-and-set on the lease (store.ReleasePoll), after storing any credentials the
// plugin refreshed; an account whose lease it lost, or whose poll committed after all,
// is left as it is.
package poll

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
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/worker"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/tracing"
)

// ActionReauthRequired is audited when a provider rejects an account's credentials.
const ActionReauthRequired = "integration.reauth_required"

// MaxBackoff bounds the error backoff of one account.
const MaxBackoff = 6 * time.Hour

// MaxDeferral bounds how far a plugin's PollResult.NotBefore may push an account's next
// poll past now: a hint from a confused plugin must not silence an account for days.
const MaxDeferral = 6 * time.Hour

// nextPoll is when an account polled at now is due again: after the interval, or at the
// plugin's NotBefore when that is later — the provider can have nothing new before it.
func nextPoll(now time.Time, iv time.Duration, notBefore time.Time) time.Time {
	next := now.Add(iv)
	if notBefore.After(next) {
		next = notBefore
	}
	if limit := now.Add(max(iv, MaxDeferral)); next.After(limit) {
		next = limit
	}
	return next
}

// Store is what the worker needs: *store.Store.
type Store interface {
	ClaimDuePolls(ctx context.Context, providers []string, owner string, limit int, lease time.Duration) ([]store.PollState, error)
	FailPoll(ctx context.Context, accountID int64, l store.Lease, errMsg string, nextPoll time.Time, cursor *string) error
	ReleasePoll(ctx context.Context, accountID int64, l store.Lease) error
	GetAccount(ctx context.Context, id int64) (store.Account, error)
	AccountCallCredentials(ctx context.Context, accountID int64) (store.CallCredentials, error)
	RefreshAccountCredentials(ctx context.Context, accountID, generation int64, creds map[string]string) error
	InTx(ctx context.Context, fn func(tx *store.Tx) error) error
}

// Plugins finds a provider's plugin: *pluginmgr.Manager.
type Plugins interface {
	Get(id string) (*pluginmgr.Plugin, error)
}

// Config is config.PollWorker plus what tests inject.
type Config struct {
	config.PollWorker
	// Concurrency is how many accounts are polled at once, each in its own slot under
	// its own lease (never more than batch_size). Default 4.
	Concurrency int
	Owner       string
	Now         func() time.Time
	Rand        func() float64
	// StopGrace is how long a plugin call in flight when the worker stops may still
	// run to answer, read as each call starts (the settings it derives from change on
	// reload). Default DefaultStopGrace.
	StopGrace func() time.Duration
}

// DefaultStopGrace is the stop grace of a host with the default http settings:
// drain_grace + shutdown_timeout (see StopGrace).
const DefaultStopGrace = 20 * time.Second

// StopGrace is how long a poll call in flight at a stop is let run: the replica's
// shutdown budget, http's drain_grace + shutdown_timeout. The worker stops on SIGTERM,
// at the start of that budget, and serve waits for it (and only then stops the plugins)
// once the HTTP requests have had the budget to finish, so a poll let run that long
// keeps the shutdown waiting no longer than the HTTP side already may, and stays inside
// the service manager's stop timeout (deploy/systemd: 45 s). The whole timeouts.poll
// after the stop (30 s by default, on top of the time already spent) would not. The
// call's own deadline, timeouts.poll from its start (pluginmgr), still applies: a stop
// never gives a call more time than it had.
func StopGrace(h config.HTTP) time.Duration { return h.DrainGrace + h.ShutdownTimeout }

// Poller is what a poll needs of a provider's plugin: *pluginmgr.Plugin.
type Poller interface {
	PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error)
	// Description is the plugin's last Describe answer, if it has one.
	Description() (sdk.Description, bool)
}

// Deps are the worker's collaborators.
type Deps struct {
	Store   Store
	Ingest  *ingest.Service
	Plugins Plugins
	// Pollers, when set, finds pollers instead of Plugins: adapters linked into the
	// process, so a soak can run the plugin on the same simulated clock as the worker.
	Pollers func(id string) (Poller, error)
	// Providers returns the provider blocks in force (they change on reload).
	Providers  func() []config.Provider
	Logger     hclog.Logger
	Registerer prometheus.Registerer
	// CommandUpdates, when set, applies the command updates a poll result carries, for
	// the polled account only (commands.Service.ApplyUpdates).
	CommandUpdates func(ctx context.Context, provider string, accountID int64, us []sdk.CommandUpdate) int
}

// Stats counts one tick.
type Stats struct {
	Claimed, Succeeded, Failed, Reauth, LeaseLost int
	// StoreErrors are polls whose outcome the database did not take (the lease runs out
	// and the account comes back); a lost lease is LeaseLost, counted apart.
	StoreErrors int
	// Released are polls cut short by the worker's stopping whose accounts were handed
	// back at once (store.ReleasePoll), not left to their lease.
	Released int
}

// Worker is the poll worker.
type Worker struct {
	d      Deps
	cfg    Config
	log    hclog.Logger
	events *prometheus.CounterVec
	loop   worker.Loop
}

// New returns a worker; nothing runs until Start.
func New(d Deps, cfg Config) *Worker {
	def := config.DefaultPollWorker
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = def.BatchSize
	}
	if cfg.Lease <= 0 {
		cfg.Lease = def.Lease
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Owner == "" {
		cfg.Owner = worker.OwnerID("poll")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = mrand.Float64
	}
	if cfg.StopGrace == nil {
		cfg.StopGrace = func() time.Duration { return DefaultStopGrace }
	}
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	if d.Pollers == nil {
		plugins := d.Plugins
		d.Pollers = func(id string) (Poller, error) {
			p, err := plugins.Get(id)
			if err != nil {
				return nil, err // not a typed nil in the interface
			}
			return p, nil
		}
	}
	return &Worker{d: d, cfg: cfg, log: d.Logger.Named("poll"),
		events: ingest.Register(d.Registerer, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poolhost_poll_worker_events_total",
			Help: "Account polls by result: claimed, succeeded, failed, reauth, lease_lost, store_error, released.",
		}, []string{"event"}))}
}

// Owner is the worker's lease owner id.
func (w *Worker) Owner() string { return w.cfg.Owner }

// Start runs the worker until ctx ends or Close; a disabled worker says so once.
func (w *Worker) Start(ctx context.Context) {
	if !w.cfg.Enabled {
		w.log.Info("poll worker disabled: no provider account will be polled")
		return
	}
	ticks := worker.NewTickLog(w.log, "poll tick failed")
	started := w.loop.Start(ctx, w.cfg.Interval, func(ctx context.Context) {
		if _, err := w.Tick(ctx); err != nil && ctx.Err() == nil {
			ticks.Fail(err)
		}
	})
	if started {
		w.log.Info("poll worker started", "owner", w.cfg.Owner, "interval", w.cfg.Interval, "batch_size", w.cfg.BatchSize)
	}
}

// Close stops the worker and waits for the tick in progress: a plugin call in flight
// gets StopGrace to answer, and its answer StopTimeout to be stored. Accounts it was
// polling finish or, if cut short, are handed back to be claimed at once (release).
func (w *Worker) Close() error {
	w.loop.Close()
	return nil
}

// Tick polls every due account once. Exported for tests.
func (w *Worker) Tick(ctx context.Context) (Stats, error) {
	var st Stats
	blocks := map[string]config.Provider{}
	var ids []string
	for _, p := range w.d.Providers() {
		if p.Enabled && p.Poll {
			blocks[p.ID] = p
			ids = append(ids, p.ID)
		}
	}
	if len(ids) == 0 {
		return st, nil
	}
	// Poll state is made with the account (store.UpsertAccount), so a tick reads only
	// the due rows, through poll_state_due_idx: its cost follows the due accounts,
	// never all of them.
	var mu sync.Mutex
	claimed, err := worker.Drain(ctx, min(w.cfg.Concurrency, w.cfg.BatchSize), func(ctx context.Context, n int) ([]store.PollState, error) {
		return w.d.Store.ClaimDuePolls(ctx, ids, w.cfg.Owner, n, w.cfg.Lease)
	}, func(ctx context.Context, ps store.PollState) {
		r := w.poll(ctx, blocks[ps.Provider], ps)
		mu.Lock()
		defer mu.Unlock()
		switch r {
		case worker.Succeeded:
			st.Succeeded++
		case worker.Failed:
			st.Failed++
		case worker.Reauth:
			st.Reauth++
		case worker.LeaseLost:
			st.LeaseLost++
		case worker.StoreError:
			st.StoreErrors++
		case worker.Released:
			st.Released++
		}
	})
	st.Claimed = claimed
	for ev, n := range map[string]int{"claimed": st.Claimed, "succeeded": st.Succeeded, "failed": st.Failed, "reauth": st.Reauth,
		"lease_lost": st.LeaseLost, "store_error": st.StoreErrors, "released": st.Released} {
		w.events.WithLabelValues(ev).Add(float64(n))
	}
	if st != (Stats{}) {
		w.log.Info("poll tick", "claimed", st.Claimed, "succeeded", st.Succeeded, "failed", st.Failed, "reauth", st.Reauth,
			"lease_lost", st.LeaseLost, "store_errors", st.StoreErrors, "released", st.Released)
	}
	return st, err
}

// interval is the provider's poll interval, never below what the plugin tolerates.
func interval(p config.Provider, plugin Poller) time.Duration {
	iv := p.PollInterval
	if iv <= 0 {
		iv = config.DefaultPollInterval
	}
	if d, ok := plugin.Description(); ok && d.Capabilities.MinPollInterval > iv {
		iv = d.Capabilities.MinPollInterval
	}
	return iv
}

// poll polls one claimed account; one cut short by the worker's stopping is handed back
// (release).
func (w *Worker) poll(ctx context.Context, block config.Provider, ps store.PollState) (out worker.Outcome) {
	ctx, span := worker.StartSpan(ctx, "poll", ps.Provider, "poolhost.account", ps.AccountID)
	defer func() { worker.EndSpan(span, out) }()
	log := w.log.With(tracing.LogArgs(ctx, []any{"provider", ps.Provider, "account", ps.AccountID})...)
	if out = w.attempt(ctx, log, block, ps); out == worker.Abandoned {
		out = w.release(ctx, log, ps)
	}
	return out
}

// attempt polls one claimed account and records the outcome.
func (w *Worker) attempt(ctx context.Context, log hclog.Logger, block config.Provider, ps store.PollState) worker.Outcome {
	plugin, err := w.d.Pollers(ps.Provider)
	if err != nil {
		return w.fail(ctx, log, ps, config.DefaultPollInterval, err)
	}
	iv := interval(block, plugin)
	acc, err := w.d.Store.GetAccount(ctx, ps.AccountID)
	if err != nil {
		return w.fail(ctx, log, ps, iv, err)
	}
	// With the generation of the account's connection they belong to: what the plugin
	// refreshes is stored only while no reconnect has replaced it.
	creds, err := w.d.Store.AccountCallCredentials(ctx, ps.AccountID)
	if err != nil {
		return w.fail(ctx, log, ps, iv, fmt.Errorf("credentials: %w", err))
	}
	if ctx.Err() != nil {
		return worker.Abandoned // stopped: no new plugin call
	}
	// A call in flight when the worker stops is let answer, for StopGrace more (the
	// command dispatcher's sends likewise outlive a stop): over gRPC a call cut short
	// answers nothing, and tokens the plugin rotated in it would be lost with the
	// answer; with rotating refresh tokens the stored pair is already dead. What it
	// answers is then stored as usual, for StopTimeout more.
	call, endCall := worker.AfterStop(ctx, w.cfg.StopGrace())
	defer endCall()
	res, err := plugin.PollReadings(call, sdk.PollRequest{
		Account: sdk.Account{ID: strconv.FormatInt(acc.ID, 10), ExternalAccountID: acc.ExternalAccountID, Credentials: creds.Credentials},
		Cursor:  ps.Cursor,
	})
	if err != nil {
		// A plugin that refreshed the tokens and then failed (429, 503 on the next call,
		// or its grace after a stop running out) hands them back on the error. Store
		// them before recording the failure or handing the account back, lease or not:
		// with rotating refresh tokens the stored pair is already dead.
		if fresh, ok := sdk.RefreshedCredentialsOf(err); ok {
			w.storeRefreshed(ctx, log, ps.AccountID, creds.Generation, fresh)
		}
	}
	if sdk.IsKind(err, sdk.KindReauth) {
		return w.reauth(ctx, log, ps, creds.Generation, err)
	}
	if err != nil {
		// Cut short only if the grace ran out; an error answered within it is the
		// plugin's own and backs off as usual.
		return w.fail(call, log, ps, iv, err)
	}
	// The answer is in hand: stored past a stop like the answer's tokens, and handed
	// back if that write fails.
	record, endRecord := worker.AfterStop(ctx, worker.StopTimeout)
	defer endRecord()
	if w.d.CommandUpdates != nil && len(res.CommandUpdates) > 0 {
		w.d.CommandUpdates(record, ps.Provider, ps.AccountID, res.CommandUpdates)
	}
	now := w.cfg.Now()
	stored, err := w.d.Ingest.Ingest(record, ingest.Request{
		Provider: ps.Provider, AccountID: ps.AccountID, Readings: res.Readings, TestSessions: res.TestSessions, ReceivedAt: now,
		Finish: func(ctx context.Context, tx *store.Tx, _ ingest.Result) error {
			if res.RefreshedCredentials != nil {
				err := tx.RefreshAccountCredentials(ctx, ps.AccountID, creds.Generation, res.RefreshedCredentials)
				if errors.Is(err, store.ErrConnectionReplaced) {
					// Reconnected meanwhile: the readings are the provider's all the
					// same; the tokens are of the connection the owner replaced.
					log.Warn("account reconnected during the poll; its refreshed credentials dropped")
				} else if err != nil {
					return err
				}
			}
			return tx.CompletePoll(ctx, ps.AccountID, ps.Lease(), res.NextCursor, nextPoll(now, iv, res.NotBefore))
		},
	})
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		log.Warn("poll lease lost; nothing stored but refreshed credentials")
		if res.RefreshedCredentials != nil {
			w.storeRefreshed(ctx, log, ps.AccountID, creds.Generation, res.RefreshedCredentials)
		}
		return worker.LeaseLost
	case err != nil:
		// The refreshed credentials rolled back with the readings (or committed with
		// them, the reply lost to the worker's stopping); keep them anyway, before the
		// account can be handed back to another worker.
		if res.RefreshedCredentials != nil {
			w.storeRefreshed(ctx, log, ps.AccountID, creds.Generation, res.RefreshedCredentials)
		}
		return w.fail(ctx, log, ps, iv, err)
	}
	log.Debug("polled", "accepted", stored.Accepted, "duplicates", stored.Duplicates, "dropped", stored.DroppedTotal())
	if ts := stored.TestSessions; ts != nil {
		log.Debug("polled test sessions", "accepted", ts.Accepted, "duplicates", ts.Duplicates, "dropped", ts.Dropped, "results_dropped", ts.ResultsDropped)
	}
	return worker.Succeeded
}

// storeRefreshed stores credentials the plugin refreshed on a poll whose result is
// otherwise not committed, past the worker's stopping (the plugin may already have spent
// the stored refresh token), unless the account was reconnected since the poll read its
// credentials (generation). A failure is logged, not returned: the poll's own outcome
// still has to be recorded.
func (w *Worker) storeRefreshed(ctx context.Context, log hclog.Logger, accountID, generation int64, creds sdk.Credentials) {
	ctx, cancel := worker.PastStop(ctx)
	defer cancel()
	err := w.d.Store.RefreshAccountCredentials(ctx, accountID, generation, creds)
	switch {
	case errors.Is(err, store.ErrConnectionReplaced):
		log.Warn("account reconnected during the poll; its refreshed credentials dropped")
	case err != nil:
		log.Error("store refreshed credentials of a failed poll", "error", err)
	}
}

// release hands back an account whose poll the worker's stopping cut short, so another
// replica (or this one, restarted on reload) polls it at once instead of when its lease
// ends. Nothing but the lease changes: the cursor, the next poll time and the error
// count are as before the claim. The poll's transaction, where the readings, the new
// cursor and refreshed credentials commit together, may have committed after all; then
// the lease is gone, the compare-and-set finds nothing to release, and the cursor stays
// where the commit moved it. A lost lease releases nothing either.
func (w *Worker) release(ctx context.Context, log hclog.Logger, ps store.PollState) worker.Outcome {
	return worker.Release(ctx, log, "poll", func(ctx context.Context) error {
		return w.d.Store.ReleasePoll(ctx, ps.AccountID, ps.Lease())
	})
}

// fail records a failed poll with its backoff. A failure seen after the worker's
// context ended is a poll cut short (its cause may be the stopping): Abandoned, for
// release.
func (w *Worker) fail(ctx context.Context, log hclog.Logger, ps store.PollState, iv time.Duration, cause error) worker.Outcome {
	if ctx.Err() != nil {
		return worker.Abandoned
	}
	// The poll failed on its own: its record is not cut short by the worker stopping
	// now, or the account would wait for its lease to end.
	ctx, cancel := worker.PastStop(ctx)
	defer cancel()
	delay := worker.Backoff(ps.ConsecutiveErrors, iv, max(iv, MaxBackoff), w.cfg.Rand)
	if errors.Is(cause, pluginmgr.ErrNotCalled) {
		// Refused before it reached a plugin (not running, until a restart or a reload):
		// the provider was not asked, so backing off spares it nothing and would only
		// keep the account waiting for hours once the plugin is back. Still a failure:
		// the account shows it needs attention.
		delay = min(delay, iv)
	}
	// The provider said when to come back (a 429's Retry-After): polling sooner would
	// only be refused again and spend the user's quota.
	if ra := min(sdk.RetryAfterOf(cause), max(iv, MaxBackoff)); ra > delay {
		delay = ra
	}
	if err := w.d.Store.FailPoll(ctx, ps.AccountID, ps.Lease(), worker.TruncateError(cause.Error()), w.cfg.Now().Add(delay), failedCursor(cause)); err != nil {
		return recordFailed(log, "record failed poll", err, cause)
	}
	log.Warn("poll failed; backing off", "error", cause, "retry_in", delay.Round(time.Second))
	return worker.Failed
}

// failedCursor is the cursor a failed poll handed back (sdk.WithNextCursor: the requests
// it spent of a per-user quota, which the next poll must count), or nil to keep the
// cursor as it was.
func failedCursor(cause error) *string {
	if c, ok := sdk.NextCursorOf(cause); ok {
		return &c
	}
	return nil
}

// recordFailed tells a lost lease (another worker has the account now) from a database
// that did not take the outcome (the lease runs out and the account comes back).
func recordFailed(log hclog.Logger, what string, err, cause error) worker.Outcome {
	if errors.Is(err, store.ErrLeaseLost) {
		log.Warn(what+": lease lost", "cause", cause)
		return worker.LeaseLost
	}
	log.Error(what, "error", err, "cause", cause)
	return worker.StoreError
}

// reauth records the provider's rejection of the account's credentials (those of
// connection generation), past the worker's stopping: it is the provider's answer, not
// an effect of the stop. If the owner reconnected the account meanwhile, the rejected
// credentials are the ones the reconnect replaced: the account stays active, and the
// poll is recorded as failed, due again at once, with the new credentials.
func (w *Worker) reauth(ctx context.Context, log hclog.Logger, ps store.PollState, generation int64, cause error) worker.Outcome {
	ctx, cancel := worker.PastStop(ctx)
	defer cancel()
	msg := worker.TruncateError(cause.Error())
	replaced := false
	err := w.d.Store.InTx(ctx, func(tx *store.Tx) error {
		err := tx.MarkReauthRequired(ctx, ps.AccountID, generation)
		if errors.Is(err, store.ErrConnectionReplaced) {
			replaced = true
			return tx.FailPoll(ctx, ps.AccountID, ps.Lease(), msg, w.cfg.Now(), failedCursor(cause))
		}
		if err != nil {
			return err
		}
		// Released with the error kept; the claim query skips accounts that are not
		// active, so polling resumes only after the user reconnects.
		if err := tx.FailPoll(ctx, ps.AccountID, ps.Lease(), msg, w.cfg.Now(), failedCursor(cause)); err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditEvent{
			At: w.cfg.Now(), Action: ActionReauthRequired, Actor: store.ActorSystem, Provider: ps.Provider,
			TargetType: "account", TargetID: strconv.FormatInt(ps.AccountID, 10),
			Details: store.Details{"error": msg},
		})
		return err
	})
	if err != nil {
		return recordFailed(log, "mark account reauth_required", err, cause)
	}
	if replaced {
		log.Warn("provider rejected the credentials of a connection the owner replaced during the poll; the account stays active", "error", cause)
		return worker.Failed
	}
	log.Warn("provider rejected the account's credentials; polling stopped until the user reconnects", "error", cause)
	return worker.Reauth
}
