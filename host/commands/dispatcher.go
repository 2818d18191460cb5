package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/internal/worker"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
)

// DispatchStore is what the dispatcher needs of host/store.
type DispatchStore interface {
	ExpireCommands(ctx context.Context) ([]store.Command, error)
	RescueCommands(ctx context.Context) ([]store.Command, error)
	ClaimCommands(ctx context.Context, owner string, limit int, lease, minInterval time.Duration) ([]store.Command, error)
	FinishCommand(ctx context.Context, id int64, l store.Lease, o store.CommandOutcome) (store.Command, error)
	GetAccount(ctx context.Context, id int64) (store.Account, error)
	GetDevice(ctx context.Context, id int64) (store.Device, error)
	CheckSend(ctx context.Context, c store.Command) (store.SendCheck, error)
	AccountCallCredentials(ctx context.Context, accountID int64) (store.CallCredentials, error)
	RefreshAccountCredentials(ctx context.Context, accountID, generation int64, creds map[string]string) error
	MarkReauthRequired(ctx context.Context, accountID, generation int64) error
}

// Sender sends one command: the plugin handle's SendCommand.
type Sender interface {
	SendCommand(ctx context.Context, req sdk.CommandRequest) (sdk.CommandResult, error)
}

// configured is what a Sender may also tell: its provider's block as configured now
// (*pluginmgr.Plugin does). The dispatcher checks the operator's approval against it at
// every send, not only when the command was queued.
type configured interface{ Config() config.Provider }

// approvingSender is a Sender that also asks, at the call itself, whether its provider's
// block as in force then still approves the command (*pluginmgr.Plugin does: after
// taking the plugin instance, and so after the restart a reload began, which a send
// waits for). The dispatcher's own look at the block comes before the send's database
// reads and before any such wait: a reload meanwhile (access back to "read-only",
// which restarts the plugin; the command off the list) is seen only there. approve's
// error comes back in the send's error, with nothing sent.
type approvingSender interface {
	SendCommandIf(ctx context.Context, req sdk.CommandRequest, approve func(config.Provider) error) (sdk.CommandResult, error)
}

var _ approvingSender = (*pluginmgr.Plugin)(nil)

// notApproved is the operator's approval withdrawn, as the send's call found it.
type notApproved struct{ why string }

func (e notApproved) Error() string { return "no longer approved: " + e.why }

// errPastExpiry: the command's expiry passed before the send's call was made.
var errPastExpiry = errors.New("not sent before its expiry")

// Senders finds a provider's sender; ManagerPlugins adapts a plugin manager.
type Senders interface {
	Sender(provider string) (Sender, error)
}

// DispatcherConfig is config.CommandWorker (its Lease bounds a send from claim to
// finish) plus what tests inject.
type DispatcherConfig struct {
	config.CommandWorker
	// Owner names this dispatcher in leases; default hostname-pid-random.
	Owner string
	// Concurrency bounds the sends in flight at once (each to another device). Default 8.
	Concurrency int
	Now         func() time.Time
}

// Dispatcher sends queued commands.
type Dispatcher struct {
	st      DispatchStore
	senders Senders
	audit   *audit.Recorder
	metrics *Metrics
	cfg     DispatcherConfig
	log     hclog.Logger
	loop    worker.Loop
}

// NewDispatcher returns a dispatcher; nothing runs until Start.
func NewDispatcher(st DispatchStore, senders Senders, rec *audit.Recorder, m *Metrics, log hclog.Logger, cfg DispatcherConfig) *Dispatcher {
	def := config.DefaultCommandWorker
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
		cfg.Concurrency = 8
	}
	if cfg.Owner == "" {
		cfg.Owner = worker.OwnerID("commands")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Dispatcher{st: st, senders: senders, audit: rec, metrics: m, cfg: cfg, log: log.Named("commands")}
}

// Start runs the dispatcher until ctx ends or Close. A disabled dispatcher says so and
// sends nothing: commands wait, and expire.
func (d *Dispatcher) Start(ctx context.Context) {
	if !d.cfg.Enabled {
		d.log.Info("command dispatcher disabled: queued commands will wait and expire")
		return
	}
	ticks := worker.NewTickLog(d.log, "command tick failed")
	if d.loop.Start(ctx, d.cfg.Interval, func(ctx context.Context) {
		if _, err := d.Tick(ctx); err != nil && ctx.Err() == nil {
			ticks.Fail(err)
		}
	}) {
		d.log.Info("command dispatcher started", "owner", d.cfg.Owner, "interval", d.cfg.Interval,
			"batch_size", d.cfg.BatchSize, "device_interval", d.cfg.DeviceInterval)
	}
}

// Close stops claiming and waits for the sends in flight to finish (SIGTERM drains):
// a send is never abandoned midway, since that would make its command unknown.
func (d *Dispatcher) Close() error {
	d.loop.Close()
	return nil
}

// Stats counts what one tick did.
type Stats struct {
	Expired, Rescued, Claimed int
	Sent, Failed, Unknown     int
	Requeued, LeaseLost       int
}

// Tick expires overdue commands, turns interrupted sends into unknown, then claims and
// sends due commands until fewer than a batch are due. Exported for tests and bench.
func (d *Dispatcher) Tick(ctx context.Context) (Stats, error) {
	var st Stats
	system := auth.Actor{System: "command-dispatcher"}
	expired, err := d.st.ExpireCommands(ctx)
	if err != nil {
		return st, err
	}
	for _, c := range expired {
		st.Expired++
		d.transition(ctx, system, c, nil)
	}
	rescued, err := d.st.RescueCommands(ctx)
	if err != nil {
		return st, err
	}
	for _, c := range rescued {
		st.Rescued++
		d.log.Warn("send interrupted: command outcome unknown, not resent", "command", c.PublicID, "provider", c.Provider)
		d.transition(ctx, system, c, nil)
	}
	for ctx.Err() == nil {
		claimed := time.Now()
		batch, err := d.st.ClaimCommands(ctx, d.cfg.Owner, d.cfg.BatchSize, d.cfg.Lease, d.cfg.DeviceInterval)
		if err != nil {
			return st, err
		}
		st.Claimed += len(batch)
		d.sendBatch(ctx, batch, claimed.Add(d.cfg.Lease-d.cfg.Lease/LeaseMarginDivisor), &st)
		if len(batch) < d.cfg.BatchSize {
			break
		}
	}
	return st, nil
}

// LeaseMarginDivisor: a send must be over by its lease less lease/LeaseMarginDivisor,
// the part kept for recording its outcome and for the replicas' clocks to differ by.
const LeaseMarginDivisor = 4

// sendBatch sends a claimed batch, Concurrency at a time. sendBy is when their leases
// stop covering a send (see send).
func (d *Dispatcher) sendBatch(ctx context.Context, batch []store.Command, sendBy time.Time, st *Stats) {
	var mu sync.Mutex
	sem := make(chan struct{}, d.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, c := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, err := d.send(ctx, c, sendBy)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, store.ErrLeaseLost):
				st.LeaseLost++
			case err != nil:
				d.log.Error("finish command", "command", c.PublicID, "error", err)
			case out == store.CommandUnknown:
				st.Unknown++
			case out == store.CommandFailed:
				st.Failed++
			case out == store.CommandQueued:
				st.Requeued++
			case out == store.CommandExpired:
				st.Expired++
			default:
				st.Sent++
			}
		}()
	}
	wg.Wait()
}

// send makes the one send a claimed command gets. It runs without the tick's
// cancellation: a shutdown waits for it rather than cut it (and its bookkeeping) short.
//
// It runs within its lease, though (sendBy): past it, another replica's RescueCommands
// takes the command for an interrupted send (unknown) and the device's next command is
// due, so a send still under way then would reach the device after, or alongside, the
// command queued behind it; and one not yet begun would go out while the command reads
// unknown. The deadline bounds the reads before the call, a wait for a restarting
// plugin and the call itself; a command whose slot in the batch comes after it is
// queued again unsent. Only the outcome's bookkeeping runs past it.
func (d *Dispatcher) send(ctx context.Context, c store.Command, sendBy time.Time) (store.CommandStatus, error) {
	ctx = context.WithoutCancel(ctx)
	leased, cancel := context.WithDeadline(ctx, sendBy)
	defer cancel()
	system := auth.Actor{System: "command-dispatcher"}
	d.transition(ctx, system, c, nil)
	log := d.log.With("command", c.PublicID, "provider", c.Provider, "device", c.ProviderDeviceID)

	finish := func(o store.CommandOutcome) (store.CommandStatus, error) {
		o.Reason = capReason(o.Reason) // often the plugin's error, however long
		done, err := d.st.FinishCommand(ctx, c.ID, c.Lease(), o)
		if err != nil {
			return "", err
		}
		d.transition(ctx, system, done, nil)
		return done.Status, nil
	}
	// Nothing has been sent yet: a missing plugin or account is a failure (or a retry),
	// never unknown.
	sender, err := d.senders.Sender(c.Provider)
	if errors.Is(err, pluginmgr.ErrNotFound) {
		// The plugin manager offers no disabled or removed provider (Manager.Get): the
		// operator withdrew it, as operatorApproval says of a disabled block. Queued
		// again, the command waited out its expiry (up to a day) and went out if the
		// provider was enabled again meanwhile, with whatever else had piled up.
		return finish(store.CommandOutcome{Status: store.CommandFailed,
			Reason: notApproved{"provider " + c.Provider + " is disabled or no longer configured"}.Error()})
	}
	if err != nil {
		return finish(d.notSent(c, fmt.Sprintf("provider plugin: %v", err), true))
	}
	var block *config.Provider
	if pc, ok := sender.(configured); ok {
		cfg := pc.Config()
		if why := operatorApproval(cfg, c.Provider, c.Command); why != "" {
			return finish(store.CommandOutcome{Status: store.CommandFailed, Reason: notApproved{why}.Error()})
		}
		block = &cfg
	}
	acct, err := d.st.GetAccount(leased, c.AccountID)
	if err != nil {
		return finish(d.notSent(c, "account unavailable", true))
	}
	if acct.Status != store.AccountActive {
		return finish(store.CommandOutcome{Status: store.CommandFailed, Reason: "the provider account is " + string(acct.Status)})
	}
	// The command was authorized when it was queued, but the device must still feed
	// the pool when it is sent: once its owner was removed from the pool (or lowered to
	// viewer, disabled, or the device unlinked), the pool no longer reaches their device
	// with their credentials (store.Device.LinkActive).
	dev, err := d.st.GetDevice(leased, c.DeviceID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return finish(store.CommandOutcome{Status: store.CommandFailed, Reason: "the device is gone"})
	case err != nil:
		return finish(d.notSent(c, "device unavailable", true))
	case dev.PoolID != c.PoolID || !dev.LinkActive:
		return finish(store.CommandOutcome{Status: store.CommandFailed, Reason: "the device no longer feeds this pool"})
	}
	// So must whoever asked for it still command the pool (a member removed since,
	// lowered to viewer or disabled has no say over its equipment any more, queued or
	// not), and the equipment still drive this device and channel.
	check := store.SendCheck{RequesterMay: true, Bound: true} // nothing to ask of a command with neither
	if c.RequestedBy != 0 || c.EquipmentID != 0 {
		check, err = d.st.CheckSend(leased, c)
	}
	switch {
	case err != nil:
		return finish(d.notSent(c, "send check unavailable", true))
	case !check.RequesterMay:
		return finish(store.CommandOutcome{Status: store.CommandFailed,
			Reason: "its requester may no longer command this pool (removed, now a viewer, or disabled)"})
	case !check.Bound:
		return finish(store.CommandOutcome{Status: store.CommandFailed,
			Reason: "the equipment no longer commands this device and channel (rebound or deleted since)"})
	}
	// The operator's approval as a provider block gives it: asked here, and again by an
	// approvingSender at the call.
	approval := func(cfg config.Provider) error {
		if why := operatorApproval(cfg, c.Provider, c.Command); why != "" {
			return notApproved{why}
		}
		if c.RequestedBy != 0 && !cfg.PilotAllows(check.RequesterEmail, strconv.FormatInt(c.RequestedBy, 10)) {
			return notApproved{"provider " + c.Provider + " is in pilot and its requester is not a pilot user"}
		}
		return nil
	}
	if block != nil {
		if err := approval(*block); err != nil {
			return finish(store.CommandOutcome{Status: store.CommandFailed, Reason: err.Error()})
		}
	}
	// With the generation of the account's connection they belong to: what the plugin
	// refreshes is stored only while no reconnect has replaced it.
	creds, err := d.st.AccountCallCredentials(leased, c.AccountID)
	if err != nil {
		return finish(d.notSent(c, "account credentials unavailable", true))
	}
	params, err := command.Validate(c.Command, c.Params)
	if err != nil {
		return finish(store.CommandOutcome{Status: store.CommandFailed, Reason: err.Error()})
	}
	req := sdk.CommandRequest{
		Account:          sdk.Account{ID: fmt.Sprint(c.AccountID), ExternalAccountID: acct.ExternalAccountID, Credentials: creds.Credentials},
		ProviderDeviceID: c.ProviderDeviceID, Channel: c.Channel, Command: c.Command, Params: params,
		CommandID: c.PublicID, ExpiresAt: c.ExpiresAt,
	}
	// Its expiry bounds when it may go out, not only when it may be claimed: a turn late
	// in a slow batch, or a wait for a restarting plugin (asked at the call, with the
	// approval), can pass it. The store's clock is the real one, as here.
	pastExpiry := func() bool { return !time.Now().Before(c.ExpiresAt) }
	notInTime := store.CommandOutcome{Status: store.CommandExpired, Reason: "not sent before its expiry"}
	if pastExpiry() {
		return finish(notInTime)
	}
	if leased.Err() != nil {
		// Its lease no longer covers a send (a slot that came late in a slow batch):
		// not begun, so queued again, not called with a context already ended, which
		// would read as a send cut short.
		return finish(d.notSent(c, "its turn came too late in its lease; not sent", true))
	}
	var res sdk.CommandResult
	if as, ok := sender.(approvingSender); ok {
		res, err = as.SendCommandIf(leased, req, func(cfg config.Provider) error {
			if pastExpiry() {
				return errPastExpiry
			}
			return approval(cfg)
		})
	} else {
		res, err = sender.SendCommand(leased, req)
	}
	if errors.Is(err, errPastExpiry) {
		return finish(notInTime) // at the call, before the plugin: not sent
	}
	if na, ok := errors.AsType[notApproved](err); ok {
		// Refused at the call, before the plugin: nothing was sent.
		return finish(store.CommandOutcome{Status: store.CommandFailed, Reason: na.Error()})
	}
	fresh := res.RefreshedCredentials
	if err != nil {
		fresh, _ = sdk.RefreshedCredentialsOf(err)
	}
	if fresh != nil {
		uerr := d.st.RefreshAccountCredentials(ctx, c.AccountID, creds.Generation, fresh)
		switch {
		case errors.Is(uerr, store.ErrConnectionReplaced):
			log.Warn("account reconnected during the send; its refreshed credentials dropped")
		case uerr != nil:
			log.Error("store refreshed credentials", "error", uerr)
		}
	}
	if err == nil {
		st := store.CommandSent
		switch res.Status {
		case sdk.CommandDelivered:
			st = store.CommandDelivered
		case sdk.CommandSucceeded:
			st = store.CommandSucceeded
		}
		ref := res.ProviderRef
		if len(ref) > MaxProviderRefBytes {
			// Not a reference anyone can match an update to, and every member reads it
			// in the command list: kept out, the send itself stands.
			log.Warn("plugin's provider reference too long; not stored", "bytes", len(ref), "max", MaxProviderRefBytes)
			ref = ""
		}
		return finish(store.CommandOutcome{Status: st, ProviderRef: ref})
	}
	if sdk.IsOutcomeUnknown(err) {
		log.Warn("command outcome unknown: not resent", "error", err)
		return finish(store.CommandOutcome{Status: store.CommandUnknown, Reason: "outcome unknown: " + err.Error()})
	}
	if kind, ok := sdk.CommandRefusal(err); ok {
		switch kind {
		case sdk.KindTemporary:
			o := d.notSent(c, "the provider refused it for now: "+err.Error(), true)
			if after := sdk.RetryAfterOf(err); after > 0 {
				o.RetryAt = d.cfg.Now().Add(after)
			}
			return finish(o)
		case sdk.KindReauth:
			if replaced := d.reauth(ctx, log, c, creds.Generation, err); replaced {
				// Refused, so not carried out, and refused for credentials the owner
				// has replaced since: the next attempt goes with the new connection's.
				return finish(d.notSent(c, "the provider refused the credentials of a connection replaced during the send", true))
			}
			return finish(store.CommandOutcome{Status: store.CommandFailed, Reason: "unauthorized: the provider refused the account's credentials; reconnect it: " + err.Error()})
		default:
			return finish(store.CommandOutcome{Status: store.CommandFailed, Reason: err.Error()})
		}
	}
	// It does not offer commands, or there was no instance to call (the plugin is
	// restarting, unresponsive or disabled): nothing left the host. Only a call refused
	// before it reached the plugin says so (pluginmgr.ErrNotCalled); one the plugin died
	// or hung in is unavailable too, and may have been sent.
	if sdk.IsKind(err, sdk.KindUnsupported) {
		return finish(store.CommandOutcome{Status: store.CommandFailed, Reason: err.Error()})
	}
	if errors.Is(err, pluginmgr.ErrNotCalled) {
		return finish(d.notSent(c, err.Error(), true))
	}
	// Anything else may have happened after the request left: unknown.
	log.Warn("command outcome unknown: not resent", "error", err)
	return finish(store.CommandOutcome{Status: store.CommandUnknown, Reason: "outcome unknown: " + err.Error()})
}

// reauth marks the account reauth_required, as the poll worker does when a provider
// rejects its credentials: a webhook-only provider (ttn) meets its API key only when
// sending, so a revoked downlink key would otherwise stay hidden behind failed commands
// while the account still looks active. Later commands of the account then fail before
// any send, until the user reconnects it. Not if the user reconnected it during the
// send (the credentials the send was given are of connection generation): the provider
// rejected those the reconnect replaced, not the new ones; replaced says so.
func (d *Dispatcher) reauth(ctx context.Context, log hclog.Logger, c store.Command, generation int64, cause error) (replaced bool) {
	err := d.st.MarkReauthRequired(ctx, c.AccountID, generation)
	if errors.Is(err, store.ErrConnectionReplaced) {
		log.Warn("provider rejected the credentials of a connection replaced during the send; the account stays active", "account", c.AccountID)
		return true
	}
	if err != nil {
		log.Error("mark account reauth_required", "account", c.AccountID, "error", err)
		return false
	}
	d.audit.Record(ctx, audit.Entry{Action: poll.ActionReauthRequired, Actor: auth.Actor{System: "command-dispatcher"}, Provider: c.Provider,
		TargetType: "account", TargetID: strconv.FormatInt(c.AccountID, 10),
		Details: map[string]any{"error": worker.TruncateError(cause.Error()), "commandId": c.PublicID}})
	log.Warn("provider rejected the account's credentials; the account needs reconnecting", "account", c.AccountID, "error", cause)
	return false
}

// notSent is the outcome of a command that certainly did not reach the provider: back
// to queued after a backoff (it expires if it cannot be sent in time), or failed.
func (d *Dispatcher) notSent(c store.Command, reason string, retry bool) store.CommandOutcome {
	if !retry {
		return store.CommandOutcome{Status: store.CommandFailed, Reason: reason}
	}
	backoff := time.Duration(min(c.Attempts, 6)) * 5 * time.Second
	return store.CommandOutcome{Status: store.CommandQueued, Reason: reason, RetryAt: d.cfg.Now().Add(backoff)}
}

func (d *Dispatcher) transition(ctx context.Context, a auth.Actor, c store.Command, extra map[string]any) {
	record(ctx, d.audit, a, actionFor(c.Status), c, extra)
	outcome := string(c.Status)
	if c.Status == store.CommandQueued {
		outcome = "requeued"
	}
	d.metrics.outcome(c.Provider, c.Command, outcome)
}

// ManagerPlugins adapts a plugin manager to Senders and Providers.
func ManagerPlugins(m *pluginmgr.Manager) interface {
	Senders
	Providers
} {
	return managerPlugins{m}
}

type managerPlugins struct{ m *pluginmgr.Manager }

func (mp managerPlugins) Sender(provider string) (Sender, error) {
	p, err := mp.m.Get(provider)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (mp managerPlugins) Provider(id string) (Provider, bool) {
	p, err := mp.m.Get(id)
	if err != nil {
		return nil, false
	}
	return p, true
}

// Owner is the dispatcher's lease owner id.
func (d *Dispatcher) Owner() string { return d.cfg.Owner }
