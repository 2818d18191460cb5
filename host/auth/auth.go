// Package auth carries who is acting and on behalf of which request through the domain
// services. httpapi fills it from a bearer token, the CLI from the command line; the
// services decide what the actor may do (see host/pools and host/connect), so both
// front ends obey the same rules.
package auth

import (
	"context"
	"strconv"
)

// Actor is an authenticated caller.
type Actor struct {
	UserID int64
	Email  string
	Admin  bool
	// System names a non-user actor ("cli", "poll-worker"); UserID is then 0.
	System string
}

// String is the actor as audit rows record it: "user:42" or "system:cli".
func (a Actor) String() string {
	if a.UserID == 0 {
		if a.System == "" {
			return "anonymous"
		}
		return "system:" + a.System
	}
	return "user:" + strconv.FormatInt(a.UserID, 10)
}

// IsUser reports whether the actor is a signed-in user (as opposed to the system).
func (a Actor) IsUser() bool { return a.UserID != 0 }

// System returns a non-user actor, e.g. System("cli").
func System(name string) Actor { return Actor{System: name} }

type ctxKey int

const (
	requestIDKey ctxKey = iota
	actorKey
)

// WithRequestID returns ctx carrying the request id that audit rows and logs record.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// WithActor returns ctx carrying the authenticated actor.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey, a)
}

// ActorFrom returns the actor carried by ctx and whether there is one.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey).(Actor)
	return a, ok
}
