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
	// TokenID is the API token the user authenticated with (0: none, or a console
	// session's, whose token is its own): what a connect started by this request is
	// bound to, so revoking the token ends it (store.RevokeAPIToken).
	TokenID int64
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

// ValidRequestID reports whether a client-supplied request id may be used as the
// request's own (in its answer, its log lines and its audit rows): short and plain,
// [A-Za-z0-9._:-]{1,128}, so it can never smuggle newlines into logs, markup into a
// page, or bytes a database refuses into an audit row. A loop, not a regexp: the regexp
// was about 1% of the host's CPU per webhook delivery (host/bench).
func ValidRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}
