// Package users provisions users and API tokens and authenticates bearer tokens. The
// admin HTTP routes and the CLI (`poolhost users create`, `poolhost tokens create`) both
// end up in host/store's token functions, so a token made either way works on the API.
package users

import (
	"context"
	"errors"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/store"
)

// Store is what the service needs of host/store.
type Store interface {
	AuthenticateToken(ctx context.Context, plaintext string) (store.User, store.APIToken, error)
	CreateUser(ctx context.Context, email string, isAdmin bool) (store.User, error)
	GetUser(ctx context.Context, id int64) (store.User, error)
	CreateAPIToken(ctx context.Context, userID int64, name string) (string, store.APIToken, error)
	ListAPITokens(ctx context.Context, userID int64) ([]store.APIToken, error)
	RevokeAPIToken(ctx context.Context, tokenID int64) error
	RevokeUserTokens(ctx context.Context, userID int64) (int64, error)
	DisableUser(ctx context.Context, id int64) (bool, error)
	EnableUser(ctx context.Context, id int64) (enabled bool, revoked int64, err error)
	SetUserAdmin(ctx context.Context, id int64, admin bool) (bool, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error)
	UserEmails(ctx context.Context, ids []int64) (map[int64]string, error)
	CreateConsoleSession(ctx context.Context, tokenID int64, expires time.Time) (string, error)
	AuthenticateConsoleSession(ctx context.Context, value string) (store.User, store.ConsoleSession, error)
	DeleteConsoleSession(ctx context.Context, value string) error
}

// Service provisions users and tokens.
type Service struct {
	st      Store
	audit   *audit.Recorder
	signIns *audit.Throttle // console.signin_refused rows
	now     func() time.Time
}

// New returns a Service.
func New(st Store, rec *audit.Recorder) *Service {
	return &Service{st: st, audit: rec, signIns: audit.NewThrottle(SignInAuditInterval, SignInAuditMax), now: time.Now}
}

// User is a host user.
type User struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"createdAt"`
}

// NewToken is a freshly created API token. Token is the plaintext, shown once.
type NewToken struct {
	ID     int64  `json:"id"`
	UserID int64  `json:"userId"`
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
	Token  string `json:"token"`
}

// Authenticate resolves a bearer token. The lookup is by the token's SHA-256 (an
// indexed equality on a hash the caller cannot steer), so response time says nothing
// about how close a guess was. Unknown and revoked tokens are the same EUNAUTHORIZED.
func (s *Service) Authenticate(ctx context.Context, token string) (auth.Actor, error) {
	if token == "" || len(token) > 256 {
		return auth.Actor{}, host.Errorf(host.EUNAUTHORIZED, "invalid token")
	}
	u, t, err := s.st.AuthenticateToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return auth.Actor{}, host.Wrap(host.EUNAUTHORIZED, err, "invalid token")
	}
	if err != nil {
		return auth.Actor{}, err
	}
	return auth.Actor{UserID: u.ID, Email: u.Email, Admin: u.IsAdmin, TokenID: t.ID}, nil
}

func requireAdmin(a auth.Actor) error {
	if a.IsUser() && !a.Admin {
		return host.Errorf(host.EFORBIDDEN, "this needs an admin")
	}
	if !a.IsUser() && a.System == "" {
		return host.Errorf(host.EUNAUTHORIZED, "an admin is required")
	}
	return nil
}

// CreateUser adds a user. Admins (or the CLI, as a system actor) only.
func (s *Service) CreateUser(ctx context.Context, a auth.Actor, email string, admin bool) (User, error) {
	if err := requireAdmin(a); err != nil {
		return User{}, err
	}
	email = strings.TrimSpace(email)
	if err := CheckEmail(email); err != nil {
		return User{}, err
	}
	u, err := s.st.CreateUser(ctx, email, admin)
	if errors.Is(err, store.ErrConflict) {
		return User{}, host.Wrap(host.ECONFLICT, err, "a user with this email exists")
	}
	if err != nil {
		return User{}, err
	}
	s.audit.Record(ctx, audit.Entry{Action: "user.created", Actor: a, TargetType: "user", TargetID: strconv.FormatInt(u.ID, 10),
		Details: map[string]any{"admin": admin}})
	return User{ID: u.ID, Email: u.Email, Admin: u.IsAdmin, CreatedAt: u.CreatedAt}, nil
}

// CreateToken issues a token for a user. Admins (or the CLI) only.
func (s *Service) CreateToken(ctx context.Context, a auth.Actor, userID int64, name string) (NewToken, error) {
	if err := requireAdmin(a); err != nil {
		return NewToken{}, err
	}
	if len(name) > 200 {
		return NewToken{}, host.Errorf(host.EINVALID, "name must be at most 200 characters")
	}
	if err := host.CheckText("name", name, false); err != nil {
		return NewToken{}, err
	}
	u, err := s.st.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return NewToken{}, host.Wrap(host.ENOTFOUND, err, "no such user")
	} else if err != nil {
		return NewToken{}, err
	}
	if u.DisabledAt != nil {
		// The token would be shown once and never authenticate.
		return NewToken{}, host.Errorf(host.ECONFLICT, "user %d is disabled: no token of theirs authenticates (poolhost users enable gives them access back, then make the token)", userID).WithType("user-disabled")
	}
	plain, t, err := s.st.CreateAPIToken(ctx, userID, name)
	if err != nil {
		return NewToken{}, err
	}
	s.audit.Record(ctx, audit.Entry{Action: "token.created", Actor: a, TargetType: "user", TargetID: strconv.FormatInt(userID, 10),
		Details: map[string]any{"tokenId": t.ID, "prefix": t.Prefix}})
	return NewToken{ID: t.ID, UserID: userID, Name: t.Name, Prefix: t.Prefix, Token: plain}, nil
}

// RevokeTokens revokes one of the user's tokens (tokenID != 0) or all of them, and
// returns how many were revoked. Admins (or the CLI) only.
func (s *Service) RevokeTokens(ctx context.Context, a auth.Actor, userID, tokenID int64) (int, error) {
	if err := requireAdmin(a); err != nil {
		return 0, err
	}
	if _, err := s.st.GetUser(ctx, userID); errors.Is(err, store.ErrNotFound) {
		return 0, host.Wrap(host.ENOTFOUND, err, "no such user")
	} else if err != nil {
		return 0, err
	}
	n := 0
	if tokenID != 0 {
		ts, err := s.st.ListAPITokens(ctx, userID)
		if err != nil {
			return 0, err
		}
		found := false
		for _, t := range ts {
			if t.ID == tokenID {
				found = true
				if t.RevokedAt == nil {
					n = 1
				}
			}
		}
		if !found {
			return 0, host.Errorf(host.ENOTFOUND, "no such token")
		}
		if err := s.st.RevokeAPIToken(ctx, tokenID); err != nil {
			return 0, err
		}
	} else {
		c, err := s.st.RevokeUserTokens(ctx, userID)
		if err != nil {
			return 0, err
		}
		n = int(c)
	}
	s.audit.Record(ctx, audit.Entry{Action: "token.revoked", Actor: a, TargetType: "user", TargetID: strconv.FormatInt(userID, 10),
		Details: map[string]any{"tokenId": tokenID, "revoked": n}})
	return n, nil
}

// DisableUser disables a user: their tokens and console sessions stop authenticating
// at once, and the user and their data stay. It reports whether the user was enabled
// before. Admins (or the CLI) only; audited.
func (s *Service) DisableUser(ctx context.Context, a auth.Actor, userID int64) (bool, error) {
	if err := requireAdmin(a); err != nil {
		return false, err
	}
	changed, err := s.st.DisableUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return false, host.Wrap(host.ENOTFOUND, err, "no such user")
	} else if err != nil {
		return false, err
	}
	if changed {
		s.audit.Record(ctx, audit.Entry{Action: "user.disabled", Actor: a, TargetType: "user", TargetID: strconv.FormatInt(userID, 10)})
	}
	return changed, nil
}

// EnableUser gives a disabled user back their access, without their old tokens: every
// one still live is revoked with it (store.EnableUser), so a token that leaked, the
// reason a user is often disabled, does not come back, nor does a connect one of them
// started. It reports whether the user was disabled and how many tokens it revoked.
// Admins (or the CLI) only; audited.
func (s *Service) EnableUser(ctx context.Context, a auth.Actor, userID int64) (bool, int64, error) {
	if err := requireAdmin(a); err != nil {
		return false, 0, err
	}
	changed, revoked, err := s.st.EnableUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return false, 0, host.Wrap(host.ENOTFOUND, err, "no such user")
	} else if err != nil {
		return false, 0, err
	}
	if changed {
		s.audit.Record(ctx, audit.Entry{Action: "user.enabled", Actor: a, TargetType: "user", TargetID: strconv.FormatInt(userID, 10),
			Details: map[string]any{"tokensRevoked": revoked}})
	}
	return changed, revoked, nil
}

// SetAdmin grants a user the admin role or takes it away, and reports whether that
// changed anything. Their tokens and console sessions follow at once (each request reads
// the role). Admins (or the CLI) only; audited as user.admin_granted or
// user.admin_revoked.
func (s *Service) SetAdmin(ctx context.Context, a auth.Actor, userID int64, admin bool) (bool, error) {
	if err := requireAdmin(a); err != nil {
		return false, err
	}
	changed, err := s.st.SetUserAdmin(ctx, userID, admin)
	if errors.Is(err, store.ErrNotFound) {
		return false, host.Wrap(host.ENOTFOUND, err, "no such user")
	} else if err != nil {
		return false, err
	}
	if changed {
		action := "user.admin_granted"
		if !admin {
			action = "user.admin_revoked"
		}
		s.audit.Record(ctx, audit.Entry{Action: action, Actor: a, TargetType: "user", TargetID: strconv.FormatInt(userID, 10)})
	}
	return changed, nil
}

// Audit returns a page of audit events, newest first. Admins only.
func (s *Service) Audit(ctx context.Context, a auth.Actor, q audit.Query) (audit.Page, error) {
	if err := requireAdmin(a); err != nil {
		return audit.Page{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	switch q.By {
	case store.AuditByAnyone, store.AuditByPeople, store.AuditBySystem:
	default:
		return audit.Page{}, host.Errorf(host.EINVALID, "by must be %s or %s (or absent, for everyone)", store.AuditByPeople, store.AuditBySystem)
	}
	// One more than a page tells whether another follows (audit.Page: 0 on the last page),
	// so the console's "Older" link and the API's nextCursor do not lead to an empty page
	// after a last page that is exactly full.
	es, err := s.st.ListAudit(ctx, store.AuditFilter{Action: q.Action, By: q.By, Provider: q.Provider, Since: q.Since, BeforeID: q.BeforeID, Limit: limit + 1})
	if err != nil {
		return audit.Page{}, err
	}
	var next int64
	if len(es) > limit {
		es = es[:limit]
		next = es[limit-1].ID
	}
	// Actors by email: one lookup for the page's users.
	var ids []int64
	for _, e := range es {
		if id, ok := store.ActorUserID(e.Actor); ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	emails, err := s.st.UserEmails(ctx, ids)
	if err != nil {
		return audit.Page{}, err
	}
	page := audit.Page{Events: make([]audit.Event, 0, len(es))}
	for _, e := range es {
		ev := audit.FromStore(e)
		if id, ok := store.ActorUserID(e.Actor); ok {
			ev.ActorEmail = emails[id]
		}
		page.Events = append(page.Events, ev)
	}
	page.NextBeforeID = next
	return page, nil
}

// Emails returns the emails of the users among ids that exist, by id: the console
// shows people by email (who requested a command). Admins only.
func (s *Service) Emails(ctx context.Context, a auth.Actor, ids []int64) (map[int64]string, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	return s.st.UserEmails(ctx, ids)
}

// CheckEmail accepts one bare address as net/mail reads it (RFC 5322): no display name,
// no comment, no list, and nothing net/mail would rewrite (a quoted local part such as
// "<x>"@example.com comes back unquoted, so it is refused rather than stored as
// something other than what was typed). Emails are shown in the console and the audit
// trail, where markup has no business.
func CheckEmail(email string) error {
	const want = "email must be one plain address such as ana@example.com (no display name, quotes or comments)"
	if email == "" || len(email) > 320 {
		return host.Errorf(host.EINVALID, want)
	}
	if err := host.CheckText("email", email, false); err != nil {
		return err
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return host.Errorf(host.EINVALID, want)
	}
	return nil
}
