package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
)

// Audit actions: one per transition, plus the refusals.
const (
	ActionQueued    = "command.queued"
	ActionRefused   = "command.refused" // not approved: nothing stored, nothing sent
	ActionCanceled  = pools.CommandCanceled
	ActionExpired   = "command.expired"
	ActionSending   = "command.sending"
	ActionSent      = "command.sent"
	ActionDelivered = "command.delivered"
	ActionSucceeded = "command.succeeded"
	ActionFailed    = "command.failed"
	ActionUnknown   = pools.CommandUnknown
	ActionRequeued  = "command.requeued" // the provider refused for now; tried again later
	ActionBound     = "equipment.bound"
)

// Statuses are every status a command can have, in lifecycle order.
var Statuses = []string{"queued", "sending", "sent", "delivered", "succeeded", "failed", "expired", "canceled", "unknown"}

// Problem types.
const (
	TypeNotApproved = "command-not-approved"
	TypeNotBound    = "equipment-not-bound"
	TypeInvalid     = "invalid-command"
	TypeIdempotency = "idempotency-key-reused"
	// TypeProviderDisabled: the device's provider is disabled or no longer configured.
	// The same problem as an account's operations that need the provider
	// (connect.TypeProviderDisabled): nothing to approve until the operator enables it.
	TypeProviderDisabled = "provider-disabled"
)

// Store is what the service needs of host/store.
type Store interface {
	GetEquipmentBinding(ctx context.Context, poolID, equipmentID int64) (store.EquipmentBinding, error)
	BindEquipment(ctx context.Context, poolID, equipmentID, deviceID int64, channel string) (store.EquipmentBinding, error)
	GetDevice(ctx context.Context, id int64) (store.Device, error)
	CreateCommand(ctx context.Context, n store.NewCommand) (store.Command, bool, error)
	GetCommand(ctx context.Context, poolID int64, publicID string) (store.Command, error)
	ListCommands(ctx context.Context, f store.CommandFilter) ([]store.Command, error)
	CancelCommand(ctx context.Context, poolID int64, publicID string) (store.Command, error)
	ApplyCommandUpdate(ctx context.Context, accountID int64, publicID, providerRef string, status store.CommandStatus, reason string) (store.Command, store.Command, error)
}

// Provider is what the service asks of a provider: its operator's block and what its
// plugin said it can do.
type Provider interface {
	Config() config.Provider
	Description() (sdk.Description, bool)
}

// Providers finds a provider by id; *pluginmgr.Manager through ManagerProviders.
type Providers interface {
	Provider(id string) (Provider, bool)
}

// Config is the service's part of config.CommandWorker.
type Config struct {
	DefaultExpiry time.Duration // default 10m
}

// Service applies the command rules.
type Service struct {
	st        Store
	pools     *pools.Service
	providers Providers
	audit     *audit.Recorder
	cfg       Config
	now       func() time.Time
	metrics   *Metrics
}

// New returns a Service. metrics may be nil.
func New(st Store, ps *pools.Service, providers Providers, rec *audit.Recorder, cfg Config, m *Metrics) *Service {
	if cfg.DefaultExpiry <= 0 {
		cfg.DefaultExpiry = config.DefaultCommandWorker.DefaultExpiry
	}
	return &Service{st: st, pools: ps, providers: providers, audit: rec, cfg: cfg, now: time.Now, metrics: m}
}

// SetClock replaces time.Now (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Command is a command as the API shows it.
type Command struct {
	ID               string         `json:"id"`
	PoolID           int64          `json:"poolId"`
	EquipmentID      int64          `json:"equipmentId,omitempty"`
	DeviceID         int64          `json:"deviceId"`
	Provider         string         `json:"provider"`
	ProviderDeviceID string         `json:"providerDeviceId"`
	Channel          string         `json:"channel,omitempty"`
	Command          string         `json:"command"`
	Params           map[string]any `json:"params"`
	Status           string         `json:"status"`
	Reason           string         `json:"reason,omitempty"`
	ProviderRef      string         `json:"providerRef,omitempty"`
	RequestedBy      int64          `json:"requestedBy,omitempty"`
	CreatedAt        time.Time      `json:"createdAt"`
	UpdatedAt        time.Time      `json:"updatedAt"`
	ExpiresAt        time.Time      `json:"expiresAt"`
	FinishedAt       *time.Time     `json:"finishedAt,omitempty"`
}

// View turns a stored command into what the API shows.
func View(c store.Command) Command {
	params := map[string]any(c.Params)
	if params == nil {
		params = map[string]any{}
	}
	return Command{
		ID: c.PublicID, PoolID: c.PoolID, EquipmentID: c.EquipmentID, DeviceID: c.DeviceID, Provider: c.Provider,
		ProviderDeviceID: c.ProviderDeviceID, Channel: c.Channel, Command: c.Command, Params: params,
		Status: string(c.Status), Reason: c.Reason, ProviderRef: c.ProviderRef, RequestedBy: c.RequestedBy,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, ExpiresAt: c.ExpiresAt, FinishedAt: c.FinishedAt,
	}
}

// Request is a user's command for a piece of equipment.
type Request struct {
	Command string         `json:"command"`
	Params  map[string]any `json:"params"`
	// ExpiresInSeconds bounds how long it may wait to be sent; 0 is the default (10m),
	// at most 24h.
	ExpiresInSeconds int64 `json:"expiresInSeconds,omitempty"`
}

// Preview is what a dry run would send.
type Preview struct {
	DryRun           bool           `json:"dryRun"`
	Provider         string         `json:"provider"`
	DeviceID         int64          `json:"deviceId"`
	ProviderDeviceID string         `json:"providerDeviceId"`
	Channel          string         `json:"channel,omitempty"`
	Command          string         `json:"command"`
	Params           map[string]any `json:"params"`
	ExpiresAt        time.Time      `json:"expiresAt"`
}

// Submitted is Submit's answer: the command (Created false when an earlier request with
// the same Idempotency-Key made it), or a dry run's Preview.
type Submitted struct {
	Command *Command
	Created bool
	Preview *Preview
}

// Binding is the device a piece of equipment commands.
type Binding struct {
	EquipmentID int64  `json:"equipmentId"`
	DeviceID    int64  `json:"deviceId,omitempty"`
	Channel     string `json:"channel,omitempty"`
}

// Bind binds a pool's equipment to a device linked to the same pool (deviceID 0
// unbinds). Owners and editors.
func (s *Service) Bind(ctx context.Context, a auth.Actor, poolID, equipmentID, deviceID int64, channel string) (Binding, error) {
	if _, err := s.pools.Require(ctx, a, poolID, pools.Editor); err != nil {
		return Binding{}, err
	}
	if len(channel) > 64 {
		return Binding{}, host.Errorf(host.EINVALID, "channel must be at most 64 bytes")
	}
	// A name like any other: sent to the plugin, stored, shown to members and operators.
	if err := host.CheckText("channel", channel, false); err != nil {
		return Binding{}, err
	}
	b, err := s.st.BindEquipment(ctx, poolID, equipmentID, deviceID, channel)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Binding{}, host.Wrap(host.ENOTFOUND, err, "no such equipment")
	case errors.Is(err, store.ErrInvalid):
		return Binding{}, host.Wrap(host.EINVALID, err, "device %d is not linked to this pool", deviceID)
	case err != nil:
		return Binding{}, err
	}
	s.audit.Record(ctx, audit.Entry{Action: ActionBound, Actor: a, TargetType: "pool", TargetID: strconv.FormatInt(poolID, 10),
		Details: map[string]any{"equipmentId": equipmentID, "deviceId": deviceID, "channel": channel}})
	return Binding{EquipmentID: b.EquipmentID, DeviceID: b.DeviceID, Channel: b.Channel}, nil
}

// GetBinding returns a piece of equipment's binding. Any member.
func (s *Service) GetBinding(ctx context.Context, a auth.Actor, poolID, equipmentID int64) (Binding, error) {
	if _, err := s.pools.Require(ctx, a, poolID, pools.Viewer); err != nil {
		return Binding{}, err
	}
	b, err := s.st.GetEquipmentBinding(ctx, poolID, equipmentID)
	if errors.Is(err, store.ErrNotFound) {
		return Binding{}, host.Wrap(host.ENOTFOUND, err, "no such equipment")
	}
	if err != nil {
		return Binding{}, err
	}
	return Binding{EquipmentID: b.EquipmentID, DeviceID: b.DeviceID, Channel: b.Channel}, nil
}

// Submit validates, authorizes and queues a command for a piece of equipment, or with
// dryRun only shows what would be sent. Owners and editors; a viewer gets EFORBIDDEN, a
// non-member ENOTFOUND. A command the operator did not approve is EFORBIDDEN
// (command-not-approved) and an audit row; no plugin is ever called here.
func (s *Service) Submit(ctx context.Context, a auth.Actor, poolID, equipmentID int64, req Request, idemKey string, dryRun bool) (Submitted, error) {
	if _, err := s.pools.Require(ctx, a, poolID, pools.Editor); err != nil {
		return Submitted{}, err
	}
	if len(idemKey) > 255 {
		return Submitted{}, host.Errorf(host.EINVALID, "Idempotency-Key must be at most 255 bytes")
	}
	// A header may carry bytes that are not UTF-8 (obs-text): SQLite stored them and
	// PostgreSQL refused them; the key is refused on both.
	if err := host.CheckText("Idempotency-Key", idemKey, false); err != nil {
		return Submitted{}, err
	}
	b, err := s.st.GetEquipmentBinding(ctx, poolID, equipmentID)
	if errors.Is(err, store.ErrNotFound) {
		return Submitted{}, host.Wrap(host.ENOTFOUND, err, "no such equipment")
	}
	if err != nil {
		return Submitted{}, err
	}
	params, err := command.Validate(req.Command, req.Params)
	switch {
	case errors.Is(err, command.ErrUnknownCommand) && req.Command == "":
		return Submitted{}, host.Wrap(host.EINVALID, err, "command is required: one of %s", strings.Join(command.Names(), ", ")).WithType(TypeInvalid)
	case errors.Is(err, command.ErrUnknownCommand):
		return Submitted{}, host.Wrap(host.EINVALID, err, "unknown command %q: one of %s", clipName(req.Command), strings.Join(command.Names(), ", ")).WithType(TypeInvalid)
	case err != nil:
		return Submitted{}, host.Wrap(host.EINVALID, err, "%s", err.Error()).WithType(TypeInvalid)
	}
	expiry := s.cfg.DefaultExpiry
	if req.ExpiresInSeconds != 0 {
		// Checked in seconds, before it becomes a Duration: 9223372037 seconds overflowed
		// into a negative one, and the command was queued already expired.
		if maxSecs := int64(config.MaxCommandExpiry / time.Second); req.ExpiresInSeconds < 0 || req.ExpiresInSeconds > maxSecs {
			return Submitted{}, host.Errorf(host.EINVALID, "expiresInSeconds must be between 1 and %d", maxSecs).WithType(TypeInvalid)
		}
		expiry = time.Duration(req.ExpiresInSeconds) * time.Second
	}
	if b.DeviceID == 0 {
		return Submitted{}, host.Errorf(host.ECONFLICT, "equipment %d is bound to no device; bind it first (PUT .../equipment/%d/device)", equipmentID, equipmentID).WithType(TypeNotBound)
	}
	dev, err := s.st.GetDevice(ctx, b.DeviceID)
	if err != nil {
		return Submitted{}, err
	}
	if dev.PoolID != poolID {
		return Submitted{}, host.Errorf(host.ECONFLICT, "the equipment's device is no longer linked to this pool").WithType(TypeNotBound)
	}
	if !dev.LinkActive {
		// Still linked, but its owner may no longer write to the pool (removed, lowered
		// to viewer, disabled, account disconnected: store.Device.LinkActive): the pool
		// does not command their device with their credentials either.
		return Submitted{}, host.Errorf(host.ECONFLICT, "the equipment's device no longer feeds this pool: its owner may not write to the pool now").WithType(TypeNotBound)
	}
	if why, disabled := s.approval(dev.Provider, req.Command, a); why != "" {
		s.audit.Record(ctx, audit.Entry{Action: ActionRefused, Actor: a, Provider: dev.Provider, TargetType: "pool",
			TargetID: strconv.FormatInt(poolID, 10), Details: map[string]any{
				"command": req.Command, "params": map[string]any(params), "equipmentId": equipmentID,
				"deviceId": dev.ID, "providerDeviceId": dev.ProviderDeviceID, "reason": why, "dryRun": dryRun,
			}})
		s.metrics.outcome(dev.Provider, req.Command, "refused")
		if disabled {
			return Submitted{}, host.Errorf(host.ECONFLICT, "%s", why).WithType(TypeProviderDisabled)
		}
		return Submitted{}, host.Errorf(host.EFORBIDDEN, "%s", why).WithType(TypeNotApproved)
	}
	expiresAt := s.now().Add(expiry).UTC()
	if dryRun {
		return Submitted{Preview: &Preview{DryRun: true, Provider: dev.Provider, DeviceID: dev.ID,
			ProviderDeviceID: dev.ProviderDeviceID, Channel: b.Channel, Command: req.Command, Params: params,
			ExpiresAt: expiresAt}}, nil
	}
	c, created, err := s.st.CreateCommand(ctx, store.NewCommand{
		PoolID: poolID, EquipmentID: equipmentID, DeviceID: dev.ID, AccountID: dev.AccountID, Provider: dev.Provider,
		ProviderDeviceID: dev.ProviderDeviceID, Channel: b.Channel, Command: req.Command, Params: store.Details(params),
		RequestedBy: a.UserID, IdempotencyKey: idemKey, RequestHash: requestHash(equipmentID, req.Command, params, req.ExpiresInSeconds),
		ExpiresAt: expiresAt,
	})
	if errors.Is(err, store.ErrIdempotencyMismatch) {
		return Submitted{}, host.Wrap(host.EUNPROCESSABLE, err, "this Idempotency-Key was used with a different request").WithType(TypeIdempotency)
	}
	if err != nil {
		return Submitted{}, err
	}
	if created {
		s.record(ctx, a, ActionQueued, c, nil)
		s.metrics.outcome(c.Provider, c.Command, string(store.CommandQueued))
	}
	v := View(c)
	return Submitted{Command: &v, Created: created}, nil
}

// approval says why the command may not be sent to the provider, "" when it may: the
// operator's block must say access = "read-write" and list the command, the staged
// rollout must admit the user, and the plugin must declare the command. disabled says
// the reason is the provider being disabled or removed (the plugin manager offers no
// disabled provider: Provider is false for both).
func (s *Service) approval(provider, name string, a auth.Actor) (why string, disabled bool) {
	p, ok := s.providers.Provider(provider)
	if !ok {
		return "provider " + provider + " is disabled or no longer configured by the operator", true
	}
	cfg := p.Config()
	if why := operatorApproval(cfg, provider, name); why != "" {
		return why, !cfg.Enabled
	}
	switch {
	case !cfg.PilotAllows(a.Email, strconv.FormatInt(a.UserID, 10)):
		return "provider " + provider + " is in pilot and you are not a pilot user", false
	}
	d, ok := p.Description()
	if !ok || !d.Capabilities.Write || !slices.Contains(d.Capabilities.Commands, name) {
		return "provider " + provider + "'s plugin does not offer " + name, false
	}
	return "", false
}

// operatorApproval says why the provider's block, as configured now, does not approve
// the command ("" when it does): Submit asks it when a command is queued, and the
// dispatcher again when it sends, so an operator who withdraws the approval (access
// back to read-only, the command off the list, the provider disabled) stops the queued
// commands too.
func operatorApproval(cfg config.Provider, provider, name string) string {
	switch {
	case !cfg.Enabled:
		return "provider " + provider + " is disabled"
	case cfg.Access != config.AccessReadWrite:
		return "provider " + provider + ` is read-only: its operator has not set access = "read-write"`
	case !slices.Contains(cfg.Commands, name):
		return "command " + name + " is not approved for provider " + provider
	}
	return ""
}

// requestHash identifies a request for the Idempotency-Key check: the same key with
// another body is refused.
func requestHash(equipmentID int64, name string, params command.Params, expires int64) string {
	b, _ := json.Marshal(struct {
		E int64          `json:"e"`
		C string         `json:"c"`
		P command.Params `json:"p"`
		X int64          `json:"x"`
	}{equipmentID, name, params, expires})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// List returns a pool's commands, newest first. Any member.
func (s *Service) List(ctx context.Context, a auth.Actor, poolID int64, statuses []string, limit int) ([]Command, error) {
	if _, err := s.pools.Require(ctx, a, poolID, pools.Viewer); err != nil {
		return nil, err
	}
	f := store.CommandFilter{PoolID: poolID, Limit: limit}
	for _, st := range statuses {
		if !slices.Contains(Statuses, st) {
			return nil, host.Errorf(host.EINVALID, "status %q is not one of %v", st, Statuses)
		}
		f.Statuses = append(f.Statuses, store.CommandStatus(st))
	}
	cs, err := s.st.ListCommands(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]Command, 0, len(cs))
	for _, c := range cs {
		out = append(out, View(c))
	}
	return out, nil
}

// RecentQuery selects the commands Recent lists.
type RecentQuery struct {
	Statuses []string // none: every status
	Provider string   // "": every provider
	// BeforeID lists only commands older than this one: a page's NextBeforeID, for the
	// page after it. 0 starts from the newest.
	BeforeID int64
	Limit    int // default 100, at most 500
}

// RecentPage is one page of Recent, newest first. NextBeforeID is the BeforeID of the
// next page, 0 on the last: a command's internal id, which Command does not show.
type RecentPage struct {
	Commands     []Command
	NextBeforeID int64
}

// Recent lists commands across pools, newest first, a page at a time, for operators
// (the console's Commands page). Admins only.
func (s *Service) Recent(ctx context.Context, a auth.Actor, q RecentQuery) (RecentPage, error) {
	if !a.Admin {
		return RecentPage{}, host.Errorf(host.EFORBIDDEN, "operators only")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 500)
	// One more than a page tells whether another follows, so the last page does not
	// link to an empty one.
	f := store.CommandFilter{Provider: q.Provider, BeforeID: q.BeforeID, Limit: limit + 1}
	for _, st := range q.Statuses {
		f.Statuses = append(f.Statuses, store.CommandStatus(st))
	}
	cs, err := s.st.ListCommands(ctx, f)
	if err != nil {
		return RecentPage{}, err
	}
	var page RecentPage
	if len(cs) > limit {
		cs = cs[:limit]
		page.NextBeforeID = cs[limit-1].ID
	}
	page.Commands = make([]Command, 0, len(cs))
	for _, c := range cs {
		page.Commands = append(page.Commands, View(c))
	}
	return page, nil
}

// Get returns one of a pool's commands. Any member.
func (s *Service) Get(ctx context.Context, a auth.Actor, poolID int64, id string) (Command, error) {
	if _, err := s.pools.Require(ctx, a, poolID, pools.Viewer); err != nil {
		return Command{}, err
	}
	c, err := s.st.GetCommand(ctx, poolID, id)
	if errors.Is(err, store.ErrNotFound) {
		return Command{}, host.Wrap(host.ENOTFOUND, err, "no such command")
	}
	if err != nil {
		return Command{}, err
	}
	return View(c), nil
}

// Cancel cancels a queued command. Owners and editors; a command already on its way is
// a conflict.
func (s *Service) Cancel(ctx context.Context, a auth.Actor, poolID int64, id string) (Command, error) {
	if _, err := s.pools.Require(ctx, a, poolID, pools.Editor); err != nil {
		return Command{}, err
	}
	c, err := s.st.CancelCommand(ctx, poolID, id)
	switch {
	case errors.Is(err, store.ErrConflict):
		// Say what it is now, so the user knows whether to look at the device.
		if cur, gerr := s.st.GetCommand(ctx, poolID, id); gerr == nil {
			return Command{}, host.Wrap(host.ECONFLICT, err, "the command is %s: only a queued command can be canceled", cur.Status)
		}
		return Command{}, host.Wrap(host.ECONFLICT, err, "only a queued command can be canceled")
	case errors.Is(err, store.ErrNotFound):
		return Command{}, host.Wrap(host.ENOTFOUND, err, "no such command")
	case err != nil:
		return Command{}, err
	}
	s.record(ctx, a, ActionCanceled, c, nil)
	s.metrics.outcome(c.Provider, c.Command, string(c.Status))
	return View(c), nil
}

// ApplyUpdates applies a provider's command updates that arrived with a webhook or poll
// authenticated for accountID. An update naming a command of another account, or one
// the command cannot take (backwards), changes nothing. accountID 0 (a provider-level
// webhook, authenticated by the provider's secret, not an account's) applies nothing.
func (s *Service) ApplyUpdates(ctx context.Context, provider string, accountID int64, us []sdk.CommandUpdate) (applied int) {
	if s == nil || accountID == 0 {
		return 0
	}
	for _, u := range us {
		if u.Skipped() != nil {
			continue // the kit fails a plugin that sends one (sdktest)
		}
		st := store.CommandStatus(u.Status) // delivered, succeeded or failed: the same words
		reason := capReason(u.Reason)
		_, after, err := s.st.ApplyCommandUpdate(ctx, accountID, u.CommandID, u.ProviderRef, st, reason)
		if err != nil {
			// Another account's command, or one the update cannot move: nothing changes.
			continue
		}
		applied++
		s.record(ctx, auth.Actor{System: "provider:" + provider}, actionFor(after.Status), after, map[string]any{"via": "provider update"})
		s.metrics.outcome(after.Provider, after.Command, string(after.Status))
	}
	return applied
}

// MaxReasonBytes caps a command's reason, which a plugin's error or a provider's update
// words and every member reads in the pool's command list.
const MaxReasonBytes = 500

// MaxProviderRefBytes caps the provider's reference for a sent command, as the plugin
// reports it (the provider's message or job id).
const MaxProviderRefBytes = 256

// capReason cuts a reason to MaxReasonBytes on a character boundary.
func capReason(r string) string {
	if len(r) <= MaxReasonBytes {
		return r
	}
	cut := MaxReasonBytes
	for cut > 0 && !utf8.RuneStart(r[cut]) {
		cut--
	}
	return r[:cut]
}

func actionFor(st store.CommandStatus) string {
	switch st {
	case store.CommandSending:
		return ActionSending
	case store.CommandSent:
		return ActionSent
	case store.CommandDelivered:
		return ActionDelivered
	case store.CommandSucceeded:
		return ActionSucceeded
	case store.CommandFailed:
		return ActionFailed
	case store.CommandUnknown:
		return ActionUnknown
	case store.CommandExpired:
		return ActionExpired
	case store.CommandCanceled:
		return ActionCanceled
	case store.CommandQueued:
		return ActionRequeued
	}
	return "command." + string(st)
}

// record writes a transition's audit row: who, what, parameters, pool, equipment,
// device, provider.
func (s *Service) record(ctx context.Context, a auth.Actor, action string, c store.Command, extra map[string]any) {
	record(ctx, s.audit, a, action, c, extra)
}

func record(ctx context.Context, rec *audit.Recorder, a auth.Actor, action string, c store.Command, extra map[string]any) {
	d := map[string]any{
		"commandId": c.PublicID, "command": c.Command, "params": map[string]any(c.Params), "poolId": c.PoolID,
		"equipmentId": c.EquipmentID, "deviceId": c.DeviceID, "providerDeviceId": c.ProviderDeviceID,
		"status": string(c.Status),
	}
	if c.Channel != "" {
		d["channel"] = c.Channel
	}
	if c.Reason != "" {
		d["reason"] = c.Reason
	}
	if c.ProviderRef != "" {
		d["providerRef"] = c.ProviderRef
	}
	for k, v := range extra {
		d[k] = v
	}
	rec.Record(ctx, audit.Entry{Action: action, Actor: a, Provider: c.Provider, TargetType: "command", TargetID: c.PublicID, Details: d})
}

// clipName keeps a name a client sent short enough to echo.
func clipName(s string) string {
	for i := range s {
		if i >= 64 {
			return s[:i] + "…"
		}
	}
	return s
}
