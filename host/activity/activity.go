// Package activity is what the operators' console shows at a glance: per provider over
// the last day, how webhook deliveries ended (accepted, queued for retry, dead,
// rejected) hour by hour, why readings were dropped, how polling goes; and which
// accounts need someone (credentials rejected, polls failing again and again); commands
// that failed or went unknown, and every replica's heartbeat (host/replicas). It reads
// what every replica writes (the audit trail, poll_state, commands, replicas), so any
// replica shows the whole fleet. Admins only.
package activity

import (
	"context"
	"sort"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/replicas"
	"github.com/poolhost/poolhost/host/store"
)

// Store is what the service needs: *store.Store.
type Store interface {
	DeliveryActivity(ctx context.Context, since time.Time) ([]store.ActivityCount, error)
	DroppedReadings(ctx context.Context, since time.Time) ([]store.DroppedCount, error)
	PollActivitySince(ctx context.Context, since time.Time) ([]store.PollActivity, error)
	DeadLettersWaiting(ctx context.Context) ([]store.DeadWaiting, error)
	AccountsNeedingAttention(ctx context.Context, f store.AttentionFilter) ([]store.AttentionAccount, error)
	ConnectedAccountsPerProvider(ctx context.Context) ([]store.ProviderAccounts, error)
	ConnectedAccountsOf(ctx context.Context, provider string, limit int) ([]store.AttentionAccount, error)
	CommandTrouble(ctx context.Context, since time.Time) ([]store.CommandTroubleCount, error)
	Replicas(ctx context.Context, since time.Time) ([]store.Replica, error)
}

// Outcome names, the keys of Hour.Counts and Provider.Totals.
const (
	Accepted = "accepted" // webhook.received or ingestion.retry_succeeded: parsed and stored (readings may be dropped)
	Queued   = "queued"   // webhook.queued_for_retry
	Dead     = "dead"     // ingestion.dead, at receipt or after the last retry
	Rejected = "rejected" // webhook.rejected: failed verification
)

// Outcomes in display order.
var Outcomes = []string{Accepted, Queued, Dead, Rejected}

var outcomeOf = map[string]string{
	"webhook.received":          Accepted,
	"ingestion.retry_succeeded": Accepted, // a queued or requeued delivery, stored at last
	"webhook.queued_for_retry":  Queued,
	"ingestion.dead":            Dead,
	"webhook.rejected":          Rejected,
}

// Hour is one hour of a provider's deliveries.
type Hour struct {
	Start  time.Time
	Counts map[string]int64
}

// Provider is one provider's last day.
type Provider struct {
	ID      string
	Hours   []Hour // oldest first, one per hour of the window, empty hours included
	Totals  map[string]int64
	Dropped []store.DroppedCount // by reason, most first
	Polls   store.PollActivity
	// DeadWaiting are its dead letters now, whenever they died: each needs an operator.
	DeadWaiting int64
}

// Overview is every provider's last day, the commands in trouble and the replicas.
type Overview struct {
	Since     time.Time
	Providers []Provider
	// CommandsUnknown are commands whose send was cut short in the window: nobody knows
	// whether the device got them. CommandsFailed failed or expired unsent.
	CommandsUnknown, CommandsFailed int64
	// Replicas are the serve processes seen lately (host/replicas), oldest start first.
	Replicas []Replica
}

// Replica is a serve process and how it stands now: ready, degraded, not ready,
// stopped, or replicas.Gone.
type Replica struct {
	store.Replica
	State   string
	Trouble bool // replicas.Trouble: not ready, degraded or gone
}

// Service reads activity.
type Service struct {
	st        Store
	now       func() time.Time
	goneAfter time.Duration
}

// New returns a Service that shows a replica silent for longer than goneAfter
// (http.heartbeat_gone_after) as gone; 0 is the default.
func New(st Store, goneAfter time.Duration) *Service {
	if goneAfter <= 0 {
		goneAfter = config.DefaultHTTP.HeartbeatGoneAfter
	}
	return &Service{st: st, now: time.Now, goneAfter: goneAfter}
}

// Window is how far back the overview looks.
const Window = 24 * time.Hour

// Overview returns each provider's last 24 hours. providers are the configured ones,
// shown even when quiet; providers seen only in the data are added after them.
func (s *Service) Overview(ctx context.Context, a auth.Actor, providers []string) (Overview, error) {
	if err := requireAdmin(a); err != nil {
		return Overview{}, err
	}
	now := s.now().UTC()
	endHour := now.Truncate(time.Hour)
	startHour := endHour.Add(-Window + time.Hour) // 24 buckets, the last one the current hour
	since := now.Add(-Window)

	acts, err := s.st.DeliveryActivity(ctx, since)
	if err != nil {
		return Overview{}, err
	}
	dropped, err := s.st.DroppedReadings(ctx, since)
	if err != nil {
		return Overview{}, err
	}
	polls, err := s.st.PollActivitySince(ctx, since)
	if err != nil {
		return Overview{}, err
	}

	byID := map[string]*Provider{}
	var order []string
	get := func(id string) *Provider {
		if p, ok := byID[id]; ok {
			return p
		}
		p := &Provider{ID: id, Totals: map[string]int64{}, Polls: store.PollActivity{Provider: id}}
		for h := startHour; !h.After(endHour); h = h.Add(time.Hour) {
			p.Hours = append(p.Hours, Hour{Start: h, Counts: map[string]int64{}})
		}
		byID[id] = p
		order = append(order, id)
		return p
	}
	for _, id := range providers {
		get(id)
	}
	for _, c := range acts {
		outcome, ok := outcomeOf[c.Action]
		if !ok {
			continue
		}
		p := get(c.Provider)
		n := c.Count + c.Suppressed
		p.Totals[outcome] += n
		start := time.Unix(c.Hour*3600, 0).UTC()
		if i := int(start.Sub(startHour) / time.Hour); i >= 0 && i < len(p.Hours) {
			p.Hours[i].Counts[outcome] += n
		} else if i < 0 {
			p.Hours[0].Counts[outcome] += n // the partial first hour of the window
		}
	}
	for _, d := range dropped {
		p := get(d.Provider)
		p.Dropped = append(p.Dropped, d)
	}
	for _, pa := range polls {
		get(pa.Provider).Polls = pa
	}
	waiting, err := s.st.DeadLettersWaiting(ctx)
	if err != nil {
		return Overview{}, err
	}
	for _, w := range waiting {
		get(w.Provider).DeadWaiting = w.Count
	}
	out := Overview{Since: since}
	trouble, err := s.st.CommandTrouble(ctx, since)
	if err != nil {
		return Overview{}, err
	}
	for _, c := range trouble {
		if c.Status == store.CommandUnknown {
			out.CommandsUnknown += c.Count
		} else {
			out.CommandsFailed += c.Count
		}
	}
	rs, err := s.st.Replicas(ctx, now.Add(-replicas.ForgetAfter))
	if err != nil {
		return Overview{}, err
	}
	for _, r := range rs {
		state := replicas.State(r, now, s.goneAfter)
		out.Replicas = append(out.Replicas, Replica{Replica: r, State: state, Trouble: replicas.Trouble(state)})
	}
	for _, id := range order {
		p := byID[id]
		sort.SliceStable(p.Dropped, func(i, j int) bool { return p.Dropped[i].Count > p.Dropped[j].Count })
		out.Providers = append(out.Providers, *p)
	}
	return out, nil
}

// AttentionErrors is how many polls in a row must fail before an account is listed.
const AttentionErrors = 3

// AttentionShown is how many accounts a page of NeedingAttention lists at most.
const AttentionShown = 500

// NeedingAttention lists reauth_required accounts and accounts whose last
// AttentionErrors polls or more failed, worst first (store.AccountsNeedingAttention's
// order), a page of at most AttentionShown of them: those after the cursor after (the
// zero cursor for the first page). next is where the page after this one starts, the
// zero cursor on the last.
func (s *Service) NeedingAttention(ctx context.Context, a auth.Actor, after store.AttentionCursor) (list []store.AttentionAccount, next store.AttentionCursor, err error) {
	if err := requireAdmin(a); err != nil {
		return nil, store.AttentionCursor{}, err
	}
	// One more than a page tells whether another page follows, so the last page offers
	// no Next link to an empty one.
	list, err = s.st.AccountsNeedingAttention(ctx, store.AttentionFilter{MinErrors: AttentionErrors, After: after, Limit: AttentionShown + 1})
	if err != nil {
		return nil, store.AttentionCursor{}, err
	}
	if len(list) > AttentionShown {
		list = list[:AttentionShown]
		return list, list[AttentionShown-1].Cursor(), nil
	}
	return list, store.AttentionCursor{}, nil
}

// OrphanedShown is how many accounts of each provider no longer enabled Orphaned lists.
const OrphanedShown = 100

// OrphanedProvider is a provider that is not enabled (disabled, or no longer
// configured) while accounts of it are still connected: their credentials stay stored
// until each owner disconnects the account, which they may (their account list shows it).
type OrphanedProvider struct {
	Provider string
	State    string // "disabled" or "removed", as stateOf said
	Count    int64  // connected accounts
	Accounts []store.AttentionAccount
}

// More says there are accounts beyond those listed.
func (o OrphanedProvider) More() bool { return o.Count > int64(len(o.Accounts)) }

// Orphaned lists the providers stateOf does not call "enabled" that still have
// connected accounts, with the first OrphanedShown of each provider's accounts.
// stateOf says "enabled", "disabled" or "removed" from the config in force.
func (s *Service) Orphaned(ctx context.Context, a auth.Actor, stateOf func(provider string) string) ([]OrphanedProvider, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	counts, err := s.st.ConnectedAccountsPerProvider(ctx)
	if err != nil {
		return nil, err
	}
	var out []OrphanedProvider
	for _, c := range counts {
		state := stateOf(c.Provider)
		if state == "enabled" {
			continue
		}
		list, err := s.st.ConnectedAccountsOf(ctx, c.Provider, OrphanedShown)
		if err != nil {
			return nil, err
		}
		out = append(out, OrphanedProvider{Provider: c.Provider, State: state, Count: c.Count, Accounts: list})
	}
	return out, nil
}

func requireAdmin(a auth.Actor) error {
	switch {
	case a.IsUser() && !a.Admin:
		return host.Errorf(host.EFORBIDDEN, "this needs an admin")
	case !a.IsUser() && a.System == "":
		return host.Errorf(host.EUNAUTHORIZED, "an admin is required")
	}
	return nil
}
