package users

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/store"
)

// Audit actions of the operators' console.
const (
	ActionConsoleSignedIn  = "console.signed_in"
	ActionConsoleSignedOut = "console.signed_out"
	// ActionConsoleSignInRefused is a wrong token or a non-admin's at the sign-in form,
	// with the client address: at most one row per client and minute, and at most
	// SignInAuditMax a minute in all (the rest counted into a summary row).
	ActionConsoleSignInRefused        = "console.signin_refused"
	ActionConsoleSignInRefusedSummary = "console.signin_refused_summary"
)

// SignInAuditInterval and SignInAuditMax throttle the refused sign-in rows as webhook
// rejections are throttled (webhook.Config's defaults): a guesser learns nothing from
// them, and must not be able to grow the audit trail with every attempt.
const (
	SignInAuditInterval = time.Minute
	SignInAuditMax      = 20
)

// ConsoleSession is an open operators' console session. Value is the cookie value,
// returned once by OpenConsoleSession.
type ConsoleSession struct {
	Value   string
	Expires time.Time
	Actor   auth.Actor
}

// OpenConsoleSession signs an admin in to the operators' console with an API token.
// The session is bound to that token: it ends at ttl, at sign-out, or when the token is
// revoked, whichever comes first. Non-admins are refused (EFORBIDDEN), unknown and
// revoked tokens are EUNAUTHORIZED like on the API. Audited.
//
// client is the address the attempt came from (httpapi decides it), recorded with a
// refusal: wrong tokens and non-admins' sign-ins are audited, throttled (SignInAuditMax).
func (s *Service) OpenConsoleSession(ctx context.Context, token, client string, ttl time.Duration) (ConsoleSession, error) {
	if token == "" || len(token) > 256 {
		s.refuseSignIn(ctx, auth.Actor{}, client, "invalid_token")
		return ConsoleSession{}, host.Errorf(host.EUNAUTHORIZED, "invalid token")
	}
	u, tok, err := s.st.AuthenticateToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		s.refuseSignIn(ctx, auth.Actor{}, client, "invalid_token")
		return ConsoleSession{}, host.Wrap(host.EUNAUTHORIZED, err, "invalid token")
	}
	if err != nil {
		return ConsoleSession{}, err
	}
	a := auth.Actor{UserID: u.ID, Email: u.Email, Admin: u.IsAdmin}
	if !u.IsAdmin {
		s.refuseSignIn(ctx, a, client, "not_admin")
		return ConsoleSession{}, host.Errorf(host.EFORBIDDEN, "the operators' console is for admins only")
	}
	expires := time.Now().Add(ttl)
	value, err := s.st.CreateConsoleSession(ctx, tok.ID, expires)
	if err != nil {
		return ConsoleSession{}, err
	}
	s.audit.Record(ctx, audit.Entry{Action: ActionConsoleSignedIn, Actor: a, TargetType: "api_token",
		TargetID: strconv.FormatInt(tok.ID, 10), Details: map[string]any{"expires_at": expires.UTC().Format(time.RFC3339)}})
	return ConsoleSession{Value: value, Expires: expires, Actor: a}, nil
}

// ConsoleActor resolves a console session cookie to its admin, from the user's role and
// state now, not at sign-in. An unknown, expired or revoked-token session, or a disabled
// user's, is EUNAUTHORIZED. A user no longer admin is EFORBIDDEN, and the session ends
// there: it was issued to an admin, so giving the role back later does not revive it.
func (s *Service) ConsoleActor(ctx context.Context, value string) (auth.Actor, error) {
	if value == "" || len(value) > 256 {
		return auth.Actor{}, host.Errorf(host.EUNAUTHORIZED, "not signed in")
	}
	u, _, err := s.st.AuthenticateConsoleSession(ctx, value)
	if errors.Is(err, store.ErrNotFound) {
		return auth.Actor{}, host.Wrap(host.EUNAUTHORIZED, err, "the session has ended; sign in again")
	}
	if err != nil {
		return auth.Actor{}, err
	}
	if !u.IsAdmin {
		if err := s.st.DeleteConsoleSession(ctx, value); err != nil {
			return auth.Actor{}, err
		}
		return auth.Actor{}, host.Errorf(host.EFORBIDDEN, "the operators' console is for admins only")
	}
	return auth.Actor{UserID: u.ID, Email: u.Email, Admin: true}, nil
}

// CloseConsoleSession signs out. Audited.
func (s *Service) CloseConsoleSession(ctx context.Context, a auth.Actor, value string) error {
	if err := s.st.DeleteConsoleSession(ctx, value); err != nil {
		return err
	}
	s.audit.Record(ctx, audit.Entry{Action: ActionConsoleSignedOut, Actor: a, TargetType: "user", TargetID: strconv.FormatInt(a.UserID, 10)})
	return nil
}

// refuseSignIn audits a refused sign-in, unless the throttle holds it back: then it is
// counted in the client's next row, or in the interval's summary row.
func (s *Service) refuseSignIn(ctx context.Context, a auth.Actor, client, reason string) {
	ok, suppressed, sum := s.signIns.Take("console", audit.ClientKey(client), s.now())
	if sum != nil {
		s.audit.Record(ctx, audit.Entry{Action: ActionConsoleSignInRefusedSummary, Details: map[string]any{
			"suppressed": sum.Suppressed, "from": sum.From.UTC().Format(time.RFC3339), "to": sum.To.UTC().Format(time.RFC3339),
		}})
	}
	if !ok {
		return
	}
	details := map[string]any{"client": client, "reason": reason}
	if suppressed > 0 {
		details["suppressed_since_last"] = suppressed
	}
	s.audit.Record(ctx, audit.Entry{Action: ActionConsoleSignInRefused, Actor: a, Details: details})
}
