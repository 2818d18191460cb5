package connect

// Retrying failed webhook subscriptions in the background, like failed polls.

import (
	"context"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/internal/worker"
	"github.com/poolhost/poolhost/host/store"
)

const (
	// SubscriptionRetryBase is the wait after a first failed subscription; it doubles
	// with each failure in a row up to SubscriptionRetryMax (the poll worker's cap), with
	// the workers' ±20% jitter, so a provider cloud down for a day is tried a few times
	// an hour at first and then every few hours, never every minute.
	SubscriptionRetryBase = 5 * time.Minute
	SubscriptionRetryMax  = 6 * time.Hour
	// SubscriptionRetryInterval is how often the worker looks for due retries.
	SubscriptionRetryInterval = time.Minute
	// SubscriptionLeader names the retries' leadership (store.ElectLeader): one
	// replica retries, so two never register one account at once. It lasts two
	// intervals, so one slow tick does not hand it over.
	SubscriptionLeader = "subscriptions"
	// subscriptionBatch bounds the retries of one tick; the rest wait for the next.
	subscriptionBatch = 50
)

// SubscriptionStats counts one round of retries.
type SubscriptionStats struct {
	Tried, Registered int
}

// RetrySubscriptions tries again every failed subscription that is due (at most a batch
// of them): an account whose registration succeeds loses its error, one that fails
// again waits longer. Accounts without an error are never read, nor is any plugin
// called for them. Accounts of a provider disabled or removed from the configuration,
// or with its webhooks turned off, are left alone, their attempts unspent, until it
// takes webhooks again (config.WebhookProviders, as reverify): a disabled provider's
// plugin is not running, so a try could only fail and push their next attempt hours
// away, and one without webhooks has nothing to register. Only one replica should run
// it at a time (SubscriptionWorker).
func (s *Service) RetrySubscriptions(ctx context.Context) (SubscriptionStats, error) {
	var st SubscriptionStats
	cfg := s.d.Config()
	if cfg == nil {
		return st, nil
	}
	var providers []string
	for _, p := range cfg.WebhookProviders() {
		providers = append(providers, p.ID)
	}
	due, err := s.d.Store.DueSubscriptions(ctx, providers, subscriptionBatch)
	if err != nil {
		return st, err
	}
	for _, acc := range due {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		st.Tried++
		if s.retrySubscription(ctx, acc) == "" {
			st.Registered++
		}
	}
	return st, nil
}

// retrySubscription tries one account again and returns the error it is left with.
func (s *Service) retrySubscription(ctx context.Context, acc store.Account) string {
	view := accountOf(acc)
	ad, err := s.adapter(acc.Provider)
	if err != nil {
		// Its plugin down (or the provider disabled since the accounts were read):
		// still failed, and backed off like any failure, so such accounts never fill
		// every batch.
		return s.recordSubscription(ctx, &view, subscriptionFailed(acc.Provider, host.ErrorMessage(err)))
	}
	creds, err := s.d.Store.AccountCredentials(ctx, acc.ID)
	if err != nil {
		s.log.Warn("subscription retry: account credentials unreadable", "account", acc.ID, "error", err)
		return s.recordSubscription(ctx, &view, acc.SubscriptionError)
	}
	withURL, err := s.withWebhookURL(ctx, acc, creds)
	if err != nil {
		s.log.Warn("subscription retry", "account", acc.ID, "error", err)
		return s.recordSubscription(ctx, &view, acc.SubscriptionError)
	}
	view = withURL
	msg := s.subscribe(ctx, ad, &view, creds)
	if msg != "" {
		s.log.Warn("webhook subscription failed again; backing off", "provider", acc.Provider, "account", acc.ID,
			"attempts", view.SubscriptionAttempts, "next_attempt", view.SubscriptionRetryAt)
	} else {
		s.log.Info("webhook subscription registered on retry", "provider", acc.Provider, "account", acc.ID)
	}
	return msg
}

// SubscriptionWorker runs RetrySubscriptions every SubscriptionRetryInterval on the one
// replica elected for it.
type SubscriptionWorker struct {
	s     *Service
	owner string
	loop  worker.Loop
}

// NewSubscriptionWorker returns a worker over s; nothing runs until Start.
func NewSubscriptionWorker(s *Service) *SubscriptionWorker {
	return &SubscriptionWorker{s: s, owner: worker.OwnerID("subscriptions")}
}

// Tick retries the due subscriptions if this replica is (or becomes) the leader, and
// reports whether it was. Exported for tests.
func (w *SubscriptionWorker) Tick(ctx context.Context) (leader bool, st SubscriptionStats, err error) {
	leader, err = w.s.d.Store.ElectLeader(ctx, SubscriptionLeader, w.owner, 2*SubscriptionRetryInterval)
	if err != nil || !leader {
		return false, st, err
	}
	st, err = w.s.RetrySubscriptions(ctx)
	return true, st, err
}

// Start runs the worker now and every SubscriptionRetryInterval until ctx ends or Close.
func (w *SubscriptionWorker) Start(ctx context.Context) {
	w.loop.Start(ctx, SubscriptionRetryInterval, func(ctx context.Context) {
		if _, _, err := w.Tick(ctx); err != nil && ctx.Err() == nil {
			w.s.log.Warn("subscription retries failed; trying again next interval", "error", err)
		}
	})
}

// Close stops the worker, waiting for a round in progress.
func (w *SubscriptionWorker) Close() { w.loop.Close() }
