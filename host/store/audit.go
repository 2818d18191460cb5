package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Actors other than a user id.
const (
	ActorSystem = "system"
)

// ProviderActor is the actor string for events a provider caused (webhooks).
func ProviderActor(provider string) string { return "provider:" + provider }

// UserActor is the actor string for a user.
func UserActor(userID int64) string { return fmt.Sprintf("user:%d", userID) }

// ActorUserID is the user id of a UserActor string, and whether it is one.
func ActorUserID(actor string) (int64, bool) {
	rest, ok := strings.CutPrefix(actor, "user:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// AuditEvent is one audited action.
type AuditEvent struct {
	ID         int64     `db:"id"`
	At         time.Time `db:"at"`
	Action     string    `db:"action"` // e.g. integration.connected, webhook.rejected
	Actor      string    `db:"actor"`  // UserActor, ActorSystem or ProviderActor
	Provider   string    `db:"provider"`
	TargetType string    `db:"target_type"`
	TargetID   string    `db:"target_id"`
	RequestID  string    `db:"request_id"`
	Details    Details   `db:"details"`
}

const auditColumns = `id, at, action, actor, provider, target_type, target_id, request_id, details`

// AppendAudit stores an event and returns it with its id. A zero At is now. Details must
// never carry secrets: they are shown to operators.
func (q queries) AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	if e.Action == "" || e.Actor == "" {
		return AuditEvent{}, fmt.Errorf("append audit: %w: action and actor are required", ErrInvalid)
	}
	at := q.clock()
	if !e.At.IsZero() {
		at = ts(e.At)
	}
	var out AuditEvent
	err := q.get(ctx, &out, `INSERT INTO audit_events (at, action, actor, provider, target_type, target_id, request_id, details)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+auditColumns,
		at, e.Action, e.Actor, e.Provider, e.TargetType, e.TargetID, e.RequestID, e.Details)
	if err != nil {
		return AuditEvent{}, fmt.Errorf("append audit: %w", err)
	}
	return out, nil
}

// AppendAudits stores several events with multi-row INSERTs, ids not returned: group
// commit records each delivery's webhook.received in one statement. The same rules as
// AppendAudit apply to each event.
func (q queries) AppendAudits(ctx context.Context, es []AuditEvent) error {
	const perRow = 8
	const batch = 500 // 4,000 parameters, far below both engines' limits
	now := q.clock()
	for start := 0; start < len(es); start += batch {
		part := es[start:min(start+batch, len(es))]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO audit_events (at, action, actor, provider, target_type, target_id, request_id, details) VALUES `)
		args := make([]any, 0, len(part)*perRow)
		for i, e := range part {
			if e.Action == "" || e.Actor == "" {
				return fmt.Errorf("append audit: %w: action and actor are required", ErrInvalid)
			}
			at := now
			if !e.At.IsZero() {
				at = ts(e.At)
			}
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,?,?,?,?,?)")
			args = append(args, at, e.Action, e.Actor, e.Provider, e.TargetType, e.TargetID, e.RequestID, e.Details)
		}
		if _, err := q.exec(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
	}
	return nil
}

// Who an audit event is by (AuditFilter.By): people, or the system. Operators look for
// what people did, which per-delivery receipts (webhook.received, one per delivery)
// would otherwise bury.
const (
	AuditByAnyone = ""       // every event
	AuditByPeople = "people" // users (API and console), and operators at the host: the CLI, a SIGHUP
	AuditBySystem = "system" // everything else: providers' deliveries, the workers, the plugin supervisor
)

// peopleActors is AuditByPeople in SQL. The partial index audit_events_people_idx has
// this very text as its condition: both engines use a partial index only for a query
// whose WHERE clause carries the index's condition, so keep them identical.
const peopleActors = `(actor LIKE 'user:%' OR actor IN ('system:cli', 'system:signal'))`

// auditListSQL is ListAudit's statement for a By.
func auditListSQL(by string) (string, error) {
	var cond string
	switch by {
	case AuditByAnyone:
	case AuditByPeople:
		cond = ` AND ` + peopleActors
	case AuditBySystem:
		cond = ` AND NOT ` + peopleActors
	default:
		return "", fmt.Errorf("list audit: %w: by must be %q, %q or empty", ErrInvalid, AuditByPeople, AuditBySystem)
	}
	return `SELECT ` + auditColumns + ` FROM audit_events
		WHERE (? = '' OR action = ? OR action LIKE ? ESCAPE '\') AND (? = '' OR provider = ?) AND (? = '' OR actor = ?)` + cond + `
		  AND (CAST(? AS BIGINT) IS NULL OR at >= ?) AND (? = 0 OR id < ?)
		ORDER BY id DESC LIMIT ?`, nil
}

// AuditFilter selects audit events, newest first.
type AuditFilter struct {
	Action   string    // "" for any; an action, or a category ("ingestion": every ingestion.*)
	By       string    // AuditByAnyone, AuditByPeople or AuditBySystem
	Provider string    // "" for any
	Actor    string    // "" for any
	Since    time.Time // at or after; zero for no bound
	BeforeID int64     // keyset: ids below this; 0 for the first page
	Limit    int       // 1..1001 (a page of 1000 and one more to tell whether another follows), default 100
}

// ListAudit returns one page of events, newest first. The next page is BeforeID = the
// last event's ID, while a full page came back.
func (q queries) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	query, args, err := auditList(f)
	if err != nil {
		return nil, err
	}
	var es []AuditEvent
	// Without JIT: over months of partitions a filtered listing's estimate passes
	// jit_above_cost, and compiling it cost more than reading it.
	err = q.withoutJIT(ctx, func(q queries) error { return q.sel(ctx, &es, query, args...) })
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return es, nil
}

// auditList is ListAudit's statement and arguments for f. On PostgreSQL, an action or
// category is a range of audit_events_action_idx: action is in collation "C" (migration
// 00033), where a LIKE prefix is one.
func auditList(f AuditFilter) (string, []any, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1001) // a page of 1000, and one more to tell whether another follows
	var since any
	if !f.Since.IsZero() {
		since = ts(f.Since)
	}
	// An action is matched exactly, or as a category: "ingestion" finds every
	// "ingestion.*" action.
	category := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Action) + ".%"
	query, err := auditListSQL(f.By)
	if err != nil {
		return "", nil, err
	}
	return query, []any{f.Action, f.Action, category, f.Provider, f.Provider, f.Actor, f.Actor, isSet(since), since, f.BeforeID, f.BeforeID, limit}, nil
}
