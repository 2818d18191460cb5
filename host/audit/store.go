package audit

import (
	"context"

	"github.com/poolhost/poolhost/host/store"
)

// Appender is the store method the Recorder writes through.
type Appender interface {
	AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error)
}

// StoreWriter writes events to host/store.
func StoreWriter(st Appender) WriteFunc {
	return func(ctx context.Context, e Event) error {
		_, err := st.AppendAudit(ctx, store.AuditEvent{
			At: e.At, Action: e.Action, Actor: e.Actor, Provider: e.Provider,
			TargetType: e.TargetType, TargetID: e.TargetID, RequestID: e.RequestID, Details: store.Details(e.Details),
		})
		return err
	}
}

// FromStore converts a stored event.
func FromStore(e store.AuditEvent) Event {
	return Event{ID: e.ID, At: e.At, Action: e.Action, Actor: e.Actor, Provider: e.Provider,
		TargetType: e.TargetType, TargetID: e.TargetID, RequestID: e.RequestID, Details: map[string]any(e.Details)}
}
