// Package audit records who did what, through which request, and lets operators read it
// back. Every audited action in the domain services goes through Recorder, so the actor
// and request id are never forgotten.
package audit

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/auth"
)

// Actions recorded by the API services.
const (
	IntegrationConnected    = "integration.connected"
	IntegrationDisconnected = "integration.disconnected"
	WebhookSecretRotated    = "integration.webhook_secret_rotated"
	DeviceDiscovered        = "device.discovered"
	DeviceLinked            = "device.linked"
	DeviceUnlinked          = "device.unlinked"
	ProviderReloaded        = "provider.reloaded"
	PluginRestarted         = "plugin.restarted" // a running plugin went down (exited, unresponsive, unhealthy): restarted, or failed
	MemberChanged           = "member.changed"
	PoolConfigured          = "pool.configured"
	PoolDeleted             = "pool.deleted"
	TestSessionDeleted      = "test_session.deleted"
	EquipmentChanged        = "equipment.changed"
)

// Event is one audit row.
type Event struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Action string    `json:"action"`
	Actor  string    `json:"actor"`
	// ActorEmail is the email of a user actor ("user:2"), looked up when the event is
	// read: people are known by their email, not their id.
	ActorEmail string         `json:"actorEmail,omitempty"`
	Provider   string         `json:"provider,omitempty"`
	TargetType string         `json:"targetType,omitempty"`
	TargetID   string         `json:"targetId,omitempty"`
	RequestID  string         `json:"requestId,omitempty"`
	Details    map[string]any `json:"details,omitempty"`
}

// Query filters audit events, newest first.
type Query struct {
	Action   string // an action, or a category ("ingestion": every ingestion.*)
	By       string // "" (anyone), "people" or "system": store.AuditByPeople…
	Provider string
	Since    time.Time
	Limit    int
	BeforeID int64 // keyset: only events with a smaller id
}

// Page is one page of events; NextBeforeID is 0 on the last page.
type Page struct {
	Events       []Event
	NextBeforeID int64
}

// Entry is what a service records; the Recorder adds the time and request id.
type Entry struct {
	Action     string
	Actor      auth.Actor
	Provider   string
	TargetType string
	TargetID   string
	Details    map[string]any
}

// WriteFunc persists one event (host/store in production).
type WriteFunc func(ctx context.Context, e Event) error

// Recorder writes audit events. A failed write is logged, never returned: the action it
// describes has already happened and cannot be undone by failing the request.
type Recorder struct {
	write WriteFunc
	log   hclog.Logger
	now   func() time.Time
}

// NewRecorder returns a Recorder. A nil write records nothing (tests of other concerns).
func NewRecorder(write WriteFunc, log hclog.Logger) *Recorder {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Recorder{write: write, log: log.Named("audit"), now: time.Now}
}

// Record writes one event, taking the request id from ctx.
func (r *Recorder) Record(ctx context.Context, e Entry) {
	if r == nil || r.write == nil {
		return
	}
	ev := Event{
		At: r.now().UTC(), Action: e.Action, Actor: e.Actor.String(), Provider: e.Provider,
		TargetType: e.TargetType, TargetID: e.TargetID, RequestID: auth.RequestID(ctx), Details: e.Details,
	}
	// The request may be cancelled right after the action committed; the audit row
	// must still be written.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.write(wctx, ev); err != nil {
		r.log.Error("write audit event", "action", e.Action, "actor", ev.Actor, "request_id", ev.RequestID, "error", err)
	}
}
