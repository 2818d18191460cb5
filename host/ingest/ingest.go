package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// Store is what ingestion needs from storage: *store.Store.
type Store interface {
	LookupDevices(ctx context.Context, l store.DeviceLookup) ([]store.Device, error)
	InTx(ctx context.Context, fn func(tx *store.Tx) error) error
	WriteDeliveries(ctx context.Context, ds []store.DeliveryWrite) ([]int, error)
}

// Config bounds reading timestamps.
type Config struct {
	MaxFutureSkew time.Duration
	MaxPastAge    time.Duration
}

// Request is one batch of readings from one provider.
type Request struct {
	Provider string
	// AccountID confines the readings to one account's devices (account-scoped webhooks,
	// polling): that account's credential authenticated them. Zero means only the
	// provider's credential did (provider-level webhooks): see resolve for who may then
	// receive them.
	AccountID int64
	// ProviderAccountID is the provider-side account a provider-level delivery names
	// (sdk.WebhookResult.ProviderAccountID), "" when it names none.
	ProviderAccountID string
	Readings          []sdk.Reading
	// TestSessions are water tests the provider reported (sessions.go): stored as test
	// sessions of their devices' pools, never as readings. A request with any is stored
	// in a transaction of its own; the group commit is for readings.
	TestSessions []sdk.TestSession
	// ReceivedAt is when the host received the readings; it is stored with each row and
	// anchors the timestamp window. Zero means now.
	ReceivedAt time.Time
	// DeliveryID is the provider's idempotency key for a webhook delivery (webhook-id),
	// "" when it has none. Readings without their own timestamp are then stored at the
	// delivery's FIRST receipt time (store.RecordDelivery, in the readings' transaction)
	// instead of ReceivedAt, so a replay — or the retry worker re-running a delivery the
	// provider also redelivered — hits the unique key and inserts nothing new. It is
	// scoped by Provider and AccountID, as the webhook URL was.
	DeliveryID string
	// Once makes DeliveryID a webhook's replay key: the delivery is recorded with its
	// rows (store.DeliveryWrite.Once), and when a copy was recorded before — stored or
	// kept, by this host or another replica — nothing is written, not even the audit
	// row, and Result.Replay is set. The retry worker, re-running a kept delivery,
	// leaves it unset.
	Once bool
	// Finish, when set, runs inside the transaction that inserts the readings, after
	// them: the caller's audit row, or the retry worker's compare-and-set that resolves
	// the failure it leased. Its error rolls the readings back, so a delivery is either
	// stored and accounted for, or neither.
	//
	// A request with Finish has a transaction of its own; prefer Audit when an audit
	// row is all the caller needs.
	//
	// Finish and Audit run for EVERY request, including one with no readings, or whose
	// readings were all dropped or all duplicates: they record that the request
	// happened, which matters most when nothing was stored. Callers must not skip
	// Ingest when they have nothing to store; they hand it the empty request.
	Finish func(ctx context.Context, tx *store.Tx, res Result) error
	// Audit, when set, returns the audit event recorded atomically with the readings,
	// given what became of them. Unlike Finish it lets the request share its write with
	// concurrent ones (group commit). There the counts are known only once the readings
	// are written, so res's Accepted and Duplicates may still be 0: the store sets the
	// event's Details "accepted" and "duplicates" to the final counts either way.
	Audit func(res Result) store.AuditEvent
}

// Result counts what became of a batch. Accepted + Duplicates + the dropped counts equal
// the readings submitted, except when a provider-level webhook names a device that several
// accounts share: each linked copy is then a row of its own.
type Result struct {
	Accepted   int            `json:"accepted"`
	Duplicates int            `json:"duplicates"`
	Dropped    map[string]int `json:"dropped"`
	// Unowned lists, by reason, the provider device ids a provider-level delivery could
	// not prove an owner for (unverified_device, ambiguous_device): for the audit trail,
	// where operators look for squatters and misconfigured fleets. Not sent back.
	Unowned map[string][]string `json:"-"`
	// TestSessions counts what became of the request's test sessions; nil when it had
	// none.
	TestSessions *SessionsResult `json:"testSessions,omitempty"`
	// InactiveLinks lists the devices whose readings or test sessions were refused
	// because their link no longer holds (store.Device.LinkActive: the device's owner
	// was removed from the pool, lowered to viewer, disabled, or disconnected the
	// account). The sender sees only unlinked_device, as for any device that feeds no
	// pool; who lost access where is for the operators' audit (see pending.audit). Not
	// sent back.
	InactiveLinks []InactiveLink `json:"-"`
	// Replay: the request was a copy of a delivery recorded before (Request.Once) and
	// wrote nothing. Its counts are what storing it again would have said: every
	// reading that would have been written is a duplicate.
	Replay bool `json:"-"`
}

// InactiveLink is a device whose pool link was refused at delivery, and how much of the
// request it cost.
type InactiveLink struct {
	DeviceID int64 `json:"deviceId"`
	PoolID   int64 `json:"poolId"`
	// UserID is the device account's user, who no longer may feed the pool.
	UserID int64 `json:"userId"`
	// Dropped counts the readings and test sessions refused.
	Dropped int `json:"dropped"`
}

// ActionInactiveLink is the audit action of a request that wrote nothing through a
// device link that no longer holds, when its caller records no audit row of its own
// (polls, retries); a caller's own row (webhook.received) carries the same list under
// "inactive_links" instead.
const ActionInactiveLink = "ingest.inactive_link"

// DroppedTotal sums the dropped counts.
func (r Result) DroppedTotal() int {
	n := 0
	for _, c := range r.Dropped {
		n += c
	}
	return n
}

// Service validates and persists readings.
type Service struct {
	store   Store
	cfg     atomic.Pointer[Config] // SetConfig swaps it on reload
	log     hclog.Logger
	metrics *metrics
	now     func() time.Time
	batch   *batcher
}

// New returns a Service. reg may be nil (no metrics exported).
func New(s Store, cfg Config, log hclog.Logger, reg prometheus.Registerer) *Service {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	svc := &Service{store: s, log: log.Named("ingest"), metrics: newMetrics(reg), now: time.Now}
	svc.cfg.Store(&cfg)
	writers := 1
	if w, ok := s.(Writers); ok {
		writers = max(1, w.GroupCommitWriters())
	}
	svc.batch = &batcher{max: maxBatch, writers: writers, commit: svc.commit, queued: svc.metrics.queued}
	return svc
}

// SetConfig puts new timestamp bounds in force (a config reload); batches already
// checked keep the bounds they were checked with.
func (s *Service) SetConfig(cfg Config) { s.cfg.Store(&cfg) }

// SetClock replaces the clock used when a request carries no ReceivedAt (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Ingest validates req's readings and stores the survivors in one transaction. An error
// means nothing was stored (the transaction rolled back) and the caller may retry the
// whole batch: replays are idempotent.
//
// A request without Finish is group-committed: deliveries arriving while another
// transaction is in flight share the next one (see batch.go). Ingest still returns only
// after the transaction holding req's rows committed.
func (s *Service) Ingest(ctx context.Context, req Request) (Result, error) {
	// No early return for an empty request: its Finish and Audit are the caller's
	// record of the outcome (a poll's lease, cursor and refreshed credentials, a retry's
	// resolution, a webhook's audit row), and "nothing new" is the commonest outcome.
	p := s.prepare(req)
	var err error
	if (len(p.values) > 0 || req.Audit != nil) && req.Finish == nil && !p.untimedDelivery && len(p.sessions) == 0 {
		err = s.batch.do(ctx, p)
	} else {
		err = s.ingestOne(ctx, p)
	}
	if err != nil {
		return Result{}, err
	}
	s.count(req.Provider, p.res)
	if n := p.res.DroppedTotal(); n > 0 {
		s.log.Debug("readings dropped", "provider", req.Provider, "account", req.AccountID, "dropped", p.res.Dropped)
	}
	if len(p.res.InactiveLinks) > 0 {
		s.log.Info("refused readings of devices whose pool link no longer holds", "provider", req.Provider,
			"account", req.AccountID, "inactive_links", p.res.InactiveLinks)
	}
	if ts := p.res.TestSessions; ts != nil && (len(ts.Dropped) > 0 || len(ts.ResultsDropped) > 0) {
		s.log.Debug("test sessions dropped", "provider", req.Provider, "account", req.AccountID,
			"dropped", ts.Dropped, "results_dropped", ts.ResultsDropped)
	}
	return p.res, nil
}

// pending is one request on its way to the database.
type pending struct {
	req        Request
	receivedAt time.Time
	// checked is what validation dropped; res starts from it on every attempt.
	checked Result
	values  []value
	ids     []string // distinct provider device ids of values
	// idBuf holds ids while a delivery names one device, as most do: in p, which is on
	// the heap already, an allocation fewer per delivery (TestPrepareAllocs).
	idBuf [1]string
	// targetBuf holds build's targets (resolve) while they are one, likewise.
	targetBuf [1]idTarget
	// untimedDelivery: a delivery id and readings without their own timestamp, which
	// take the delivery's first receipt time (stamp) in a transaction of their own.
	untimedDelivery bool

	// Set by build; res is final once the transaction committed.
	res        Result
	rows       []store.Reading
	stampLater []int // rows whose recorded_at is the delivery's first receipt

	once store.DeliveryKey // onceKey's answer
	call call              // its place in the group commit (batcher.do)

	// Test sessions (sessions.go): checked by prepare, rows set by build.
	sessions          []checkedSession
	sessionRows       []store.TestSession
	sessionStampLater []int
}

// prepare validates req's readings; it needs no database.
func (s *Service) prepare(req Request) *pending {
	// checked.Dropped stays nil until a reading is dropped, which most never are: build
	// gives res its own map anyway.
	p := &pending{req: req}
	receivedAt := req.ReceivedAt
	if receivedAt.IsZero() {
		receivedAt = s.now()
	}
	p.receivedAt = receivedAt.UTC().Truncate(time.Microsecond)
	cfg := s.cfg.Load()
	win := Window{MaxFutureSkew: cfg.MaxFutureSkew, MaxPastAge: cfg.MaxPastAge}

	p.values = make([]value, 0, len(req.Readings))
	p.ids = p.idBuf[:0]
	var seen map[string]bool // only once p.ids is long: see newID
	for i := range p.req.Readings {
		r := &p.req.Readings[i]
		v, reason := checkValue(r, p.receivedAt, win)
		if reason != "" {
			if p.checked.Dropped == nil {
				p.checked.Dropped = map[string]int{}
			}
			p.checked.Dropped[reason]++
			continue
		}
		p.values = append(p.values, v)
		if !r.HasTime() && req.DeliveryID != "" {
			p.untimedDelivery = true
		}
		if r.ProviderDeviceID != "" && p.newID(r.ProviderDeviceID, &seen) {
			p.ids = append(p.ids, r.ProviderDeviceID)
		}
	}
	p.prepareSessions(win)
	p.res = p.checked
	p.res.TestSessions = p.checked.TestSessions.clone()
	return p
}

// newID reports whether id is not in p.ids yet. A delivery names one device or a few:
// those are compared one by one, and only a long list is put in a map (*seen), which
// for every delivery was an allocation of its own (host/bench; TestPrepareAllocs).
func (p *pending) newID(id string, seen *map[string]bool) bool {
	const scanned = 8
	if len(p.ids) < scanned {
		return !slices.Contains(p.ids, id)
	}
	if *seen == nil {
		*seen = make(map[string]bool, 2*scanned)
		for _, known := range p.ids {
			(*seen)[known] = true
		}
	}
	if (*seen)[id] {
		return false
	}
	(*seen)[id] = true
	return true
}

// build resolves the validated readings against devices (every account's copy of at
// least p.ids, possibly more) into rows, starting res afresh from validation's drops.
func (p *pending) build(devices []store.Device) {
	p.res = Result{Dropped: make(map[string]int, len(p.checked.Dropped))}
	for k, v := range p.checked.Dropped {
		p.res.Dropped[k] = v
	}
	p.res.TestSessions = p.checked.TestSessions.clone()
	p.rows, p.stampLater = nil, nil
	if len(p.values) == 0 && len(p.sessions) == 0 {
		return
	}
	targets := resolve(devices, p.req.AccountID, p.req.ProviderAccountID, p.targetBuf[:0])
	p.buildSessions(targets)
	p.rows = make([]store.Reading, 0, len(p.values))
	for _, v := range p.values {
		untimed := !v.reading.HasTime()
		t, ok := targets.get(v.reading.ProviderDeviceID)
		if !ok {
			t.reason = DropUnknownDevice
		}
		p.res.noteInactive(t.inactive)
		if t.reason != "" {
			p.res.Dropped[t.reason]++
			if t.reason == DropUnverifiedDevice || t.reason == DropAmbiguousDevice {
				p.res.noteUnowned(t.reason, v.reading.ProviderDeviceID)
			}
			continue
		}
		for _, d := range t.devices {
			if untimed {
				p.stampLater = append(p.stampLater, len(p.rows))
			}
			p.rows = append(p.rows, store.Reading{
				DeviceID:   d.ID,
				PoolID:     d.PoolID,
				Metric:     v.reading.Metric,
				Value:      v.value,
				Unit:       v.unit,
				RecordedAt: v.recordedAt,
				ReceivedAt: p.receivedAt,
				Quality:    string(v.quality),
				RawPayload: v.reading.RawPayload,
				Qualifier:  string(v.reading.Qualifier), // judged in checkValue
			})
		}
	}
}

// stamp gives the rows of readings without their own timestamp the delivery's first
// receipt time, recording this sighting in tx.
func (p *pending) stamp(ctx context.Context, tx *store.Tx) error {
	if (len(p.stampLater) == 0 && len(p.sessionStampLater) == 0) || p.req.DeliveryID == "" {
		return nil
	}
	first, err := tx.RecordDelivery(ctx, store.DeliveryKey{
		Provider: p.req.Provider, AccountID: p.req.AccountID, DeliveryID: p.req.DeliveryID,
	}, p.receivedAt)
	if err != nil {
		return err
	}
	// checkValue stamped these with receivedAt, which passes the window; the first
	// sighting is the host's own clock too, so it needs no window either.
	first = first.UTC().Truncate(time.Microsecond)
	for _, i := range p.stampLater {
		p.rows[i].RecordedAt = first
	}
	for _, i := range p.sessionStampLater {
		p.sessionRows[i].TakenAt = first
	}
	return nil
}

// pools is the distinct pools p's rows and test sessions are for.
func (p *pending) pools() []int64 {
	var ids []int64
	add := func(id int64) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for i := range p.rows {
		add(p.rows[i].PoolID)
	}
	for i := range p.sessionRows {
		add(p.sessionRows[i].PoolID)
	}
	return ids
}

// onceKey is p's replay key (Request.Once), nil when it has none.
func (p *pending) onceKey() *store.DeliveryKey {
	if !p.req.Once || p.req.DeliveryID == "" {
		return nil
	}
	// In p, which is on the heap already: one allocation fewer per delivery.
	p.once = store.DeliveryKey{Provider: p.req.Provider, AccountID: p.req.AccountID, DeliveryID: p.req.DeliveryID}
	return &p.once
}

// replayed sets p's result for a copy of a delivery recorded before: nothing was
// written, and everything that would have been is a duplicate.
func (p *pending) replayed() {
	p.res.Replay = true
	p.res.Accepted, p.res.Duplicates = 0, len(p.rows)
	if ts := p.res.TestSessions; ts != nil {
		ts.Duplicates += ts.Accepted + len(p.sessionRows)
		ts.Accepted = 0
	}
}

// audit is p's audit event: its caller's, when it asked for one, else one of its own
// when a link that no longer holds refused some of it. The refusal is recorded in the
// transaction that stores the rest, whatever path the request came by.
func (p *pending) audit() (store.AuditEvent, bool) {
	if p.req.Audit == nil {
		if len(p.res.InactiveLinks) == 0 {
			return store.AuditEvent{}, false
		}
		details := store.Details{"inactive_links": p.res.InactiveLinks}
		if p.req.AccountID != 0 {
			details["account_id"] = p.req.AccountID
		}
		e := store.AuditEvent{
			Action: ActionInactiveLink, Actor: store.ProviderActor(p.req.Provider), Provider: p.req.Provider, Details: details,
		}
		if len(p.res.InactiveLinks) == 1 {
			e.TargetType, e.TargetID = "device", strconv.FormatInt(p.res.InactiveLinks[0].DeviceID, 10)
		}
		return e, true
	}
	e := p.req.Audit(p.res)
	if len(p.res.InactiveLinks) > 0 {
		details := make(store.Details, len(e.Details)+1)
		for k, v := range e.Details {
			details[k] = v
		}
		details["inactive_links"] = p.res.InactiveLinks
		e.Details = details
	}
	return e, true
}

// ingestOne stores one request in a transaction of its own. A pool its devices fed
// when they were looked up may be deleted before the transaction holds it
// (store.ErrPoolGone): the devices are then looked up again, and those readings drop
// as unlinked_device, as for any device that feeds no pool.
func (s *Service) ingestOne(ctx context.Context, p *pending) error {
	for attempt := 1; ; attempt++ {
		err := s.ingestOnce(ctx, p)
		if !errors.Is(err, store.ErrPoolGone) || attempt == maxPoolGoneAttempts {
			return err
		}
	}
}

// maxPoolGoneAttempts bounds ingestOne's lookups for one request: each retry follows a
// pool deleted meanwhile, and pools are seldom deleted.
const maxPoolGoneAttempts = 4

// ingestOnce is one attempt of ingestOne.
func (s *Service) ingestOnce(ctx context.Context, p *pending) error {
	var devices []store.Device
	if len(p.ids) > 0 {
		// Every account's copy of the devices, even for an account-scoped request: a
		// device found only under other accounts is foreign, not unknown.
		var err error
		devices, err = s.store.LookupDevices(ctx, store.DeviceLookup{Provider: p.req.Provider, ProviderDeviceIDs: p.ids})
		if err != nil {
			return fmt.Errorf("resolve devices: %w", err)
		}
	}
	p.build(devices)
	if len(p.rows) == 0 && len(p.sessionRows) == 0 && p.req.Finish == nil && p.req.Audit == nil && len(p.res.InactiveLinks) == 0 {
		return nil
	}
	return s.store.InTx(ctx, func(tx *store.Tx) error {
		p.res.Accepted, p.res.Duplicates, p.res.Replay = 0, 0, false
		if k := p.onceKey(); k != nil {
			first, err := tx.ClaimDelivery(ctx, *k, p.receivedAt)
			if err != nil {
				return err
			}
			if !first {
				p.replayed()
				return nil
			}
		}
		if err := tx.HoldPools(ctx, p.pools()); err != nil {
			return err
		}
		if err := p.stamp(ctx, tx); err != nil {
			return err
		}
		if len(p.rows) > 0 {
			inserted, err := tx.InsertReadings(ctx, p.rows)
			if err != nil {
				return fmt.Errorf("insert readings: %w", err)
			}
			p.res.Accepted = inserted
			p.res.Duplicates = len(p.rows) - inserted
		}
		if err := p.insertSessions(ctx, tx); err != nil {
			return fmt.Errorf("insert test sessions: %w", err)
		}
		if e, ok := p.audit(); ok {
			if _, err := tx.AppendAudit(ctx, e); err != nil {
				return err
			}
		}
		if p.req.Finish != nil {
			return p.req.Finish(ctx, tx, p.res)
		}
		return nil
	})
}

func (s *Service) count(provider string, res Result) {
	if res.Accepted > 0 {
		s.metrics.acceptedFor(provider).Add(float64(res.Accepted))
	}
	if res.Duplicates > 0 {
		s.metrics.duplicates.WithLabelValues(provider).Add(float64(res.Duplicates))
	}
	for reason, n := range res.Dropped {
		s.metrics.dropped.WithLabelValues(provider, reason).Add(float64(n))
	}
}

// target is where one provider device id's readings go, or why they go nowhere. Its
// devices point into the lookup's slice, which outlives the build: as copies they
// were 1.2 KB of the host's garbage per delivery (store.Device is some 250 bytes,
// copied twice), and a map of their accumulators besides (host/bench,
// postgres/c64/plugin; TestResolveAllocs).
type target struct {
	devices []*store.Device
	reason  string
	// inactive are the devices that would have received but whose link no longer
	// holds (store.Device.LinkActive).
	inactive []*store.Device
	// anyLive, during resolve only: a live account other than the request's (with an
	// account), or a live account at all (without), has the id.
	anyLive bool
}

// resolve maps provider device ids to the devices that receive their readings. This is
// the one place that decides who owns a reading, and the rule is: a delivery writes only
// to devices whose ownership the credential that authenticated it proves.
//
// With an account (account-scoped URL, polling), that account's secret or credentials
// proved the account: only its own device counts, and a device known only under other
// accounts is foreign.
//
// Without one (the provider-level URL), the provider's secret proves the provider and
// nothing about users. A device receives only when the provider itself vouched that its
// account owns it (discovered through the provider's API: Verified), never when a user
// merely declared the id — or anyone could subscribe to anyone's probe by typing its
// serial number — and only while the provider still accepts the credentials it vouched
// for (not reauth_required). When the payload names the provider-side account, only devices of
// accounts with that external id count. A device id still verified for several distinct
// provider accounts is not fanned out: the delivery cannot say whose it is. Accounts
// sharing one provider account (two users who linked the same login) all receive.
//
// The targets are appended to buf.
func resolve(devices []store.Device, accountID int64, providerAccount string, buf []idTarget) targets {
	// First pass: each id's candidates (the request account's own devices, or the
	// verified ones) gathered into its target's devices; the second judges them.
	out := targets{list: buf}
	for i := range devices {
		d := &devices[i]
		t := out.find(d.ProviderDeviceID)
		switch {
		case accountID != 0:
			if d.AccountID == accountID {
				t.devices = append(t.devices, d)
			} else {
				t.anyLive = true
			}
		case d.AccountStatus == store.AccountDisconnected:
		case providerAccount != "" && d.AccountExternalID != providerAccount:
		case d.AccountStatus == store.AccountReauthRequired:
			// The provider refused the account's credentials (the provider account's
			// owner revoked the access, say): its word that the account owns the
			// device was given for those credentials and holds no longer. The account
			// receives again once its user reconnects and the provider vouches anew.
			t.anyLive = true
		default:
			t.anyLive = true
			if d.Verified {
				t.devices = append(t.devices, d)
			}
		}
	}
	for i := range out.list {
		out.list[i].t = judgeTarget(out.list[i].t, accountID != 0)
	}
	return out
}

// targets is resolve's answer, each provider device id's target: a list searched in
// order while it is short (a delivery names one device or a few), indexed by a map
// past that. A map for every delivery was 2 allocations of the 3 resolve made for
// host/bench's (TestResolveAllocs).
type targets struct {
	list  []idTarget
	index map[string]int // list's positions, once it is longer than scannedTargets
}

type idTarget struct {
	id string
	t  target
}

const scannedTargets = 8

// find is id's target, added when it has none; the pointer holds until the next find.
func (ts *targets) find(id string) *target {
	if ts.index == nil {
		for i := range ts.list {
			if ts.list[i].id == id {
				return &ts.list[i].t
			}
		}
		if len(ts.list) < scannedTargets {
			ts.list = append(ts.list, idTarget{id: id})
			return &ts.list[len(ts.list)-1].t
		}
		ts.index = make(map[string]int, 2*scannedTargets)
		for i, e := range ts.list {
			ts.index[e.id] = i
		}
	}
	i, ok := ts.index[id]
	if !ok {
		i = len(ts.list)
		ts.list = append(ts.list, idTarget{id: id})
		ts.index[id] = i
	}
	return &ts.list[i].t
}

// get is id's target, and whether it has one.
func (ts targets) get(id string) (target, bool) {
	if ts.index != nil {
		i, ok := ts.index[id]
		if !ok {
			return target{}, false
		}
		return ts.list[i].t, true
	}
	for _, e := range ts.list {
		if e.id == id {
			return e.t, true
		}
	}
	return target{}, false
}

// judgeTarget turns one id's candidates (resolve's first pass) into where its readings
// go; scoped: the request has an account.
func judgeTarget(t target, scoped bool) target {
	mine := t.devices
	if scoped {
		switch {
		case len(mine) == 0 && t.anyLive:
			return target{reason: DropForeignDevice}
		case len(mine) == 0:
			return target{reason: DropUnknownDevice}
		case mine[0].PoolID == 0:
			return target{reason: DropUnlinkedDevice}
		case !mine[0].LinkActive:
			// Linked, but its owner may no longer feed that pool: to the sender it
			// is a device that feeds no pool, like any other.
			return target{reason: DropUnlinkedDevice, inactive: mine[:1]}
		default:
			return target{devices: mine[:1]}
		}
	}
	verified := t.devices
	ambiguous := false // verified for more than one provider account
	allLinked := true  // the common case: every verified device feeds its pool
	for _, d := range verified {
		ambiguous = ambiguous || d.AccountExternalID != verified[0].AccountExternalID
		allLinked = allLinked && d.PoolID != 0 && d.LinkActive
	}
	linked, inactive := verified, []*store.Device(nil)
	if !allLinked {
		linked = nil
		for _, d := range verified {
			switch {
			case d.PoolID == 0:
			case d.LinkActive:
				linked = append(linked, d)
			default:
				inactive = append(inactive, d)
			}
		}
	}
	switch {
	case !t.anyLive:
		return target{reason: DropUnknownDevice}
	case len(verified) == 0:
		return target{reason: DropUnverifiedDevice}
	case ambiguous:
		return target{reason: DropAmbiguousDevice}
	case len(linked) == 0:
		return target{reason: DropUnlinkedDevice, inactive: inactive}
	default:
		return target{devices: linked, inactive: inactive}
	}
}

// noteUnowned records a provider device id dropped for want of a proven owner.
func (r *Result) noteUnowned(reason, providerDeviceID string) {
	if r.Unowned == nil {
		r.Unowned = map[string][]string{}
	}
	if !slices.Contains(r.Unowned[reason], providerDeviceID) {
		r.Unowned[reason] = append(r.Unowned[reason], providerDeviceID)
	}
}

// noteInactive records that one reading or test session was refused by each of ds,
// devices whose link no longer holds.
func (r *Result) noteInactive(ds []*store.Device) {
	for _, d := range ds {
		i := slices.IndexFunc(r.InactiveLinks, func(l InactiveLink) bool { return l.DeviceID == d.ID })
		if i < 0 {
			r.InactiveLinks = append(r.InactiveLinks, InactiveLink{DeviceID: d.ID, PoolID: d.PoolID, UserID: d.OwnerID})
			i = len(r.InactiveLinks) - 1
		}
		r.InactiveLinks[i].Dropped++
	}
}
