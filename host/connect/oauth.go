package connect

// The OAuth2 callback: the single-use state handshake, then the linkage.

import (
	"context"
	"errors"
	"fmt"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// unknownState says why a state may be unknown to its own user: a connect they started
// later replaced it (store.MaxPendingOAuthStates).
var unknownState = fmt.Sprintf("unknown authorization state (a user's %d newest connects in progress are kept, older ones are dropped): connect again", store.MaxPendingOAuthStates)

func stateError(msg string) error {
	return host.Errorf(host.EINVALID, "%s", msg).WithType(TypeStateInvalid)
}

// TypeCallbackUnauthenticated is the problem of a callback that no user's credential
// vouches for.
const TypeCallbackUnauthenticated = "oauth-callback-unauthenticated"

// TypeCallbackFailed is a callback whose provider could not be reached: its state is
// spent, so the user connects again.
const TypeCallbackFailed = "oauth-callback-failed"

// Callback completes an OAuth2 flow. It must be completed by the user who started it,
// proven by that user's API token (by): the state alone does not do, or a user could
// start a connect, send the authorize URL to a victim, and have the victim's provider
// account linked to their own (account-linking CSRF). An app completes the flow from
// its return_url page, posting code and state with its user's token.
//
// The state must be known, unused, unexpired, issued for this provider and to by's
// user. It is spent only once all of that holds, so another user's attempt with it
// leaves it usable by its owner. Any failure stores nothing.
func (s *Service) Callback(ctx context.Context, by *auth.Actor, provider string, query map[string]string) (Account, error) {
	if _, err := s.enabled(provider); err != nil {
		return Account{}, err
	}
	if by == nil || by.UserID == 0 {
		return Account{}, host.Errorf(host.EUNAUTHORIZED,
			"complete the connection with the API token of the user who started it (send code and state with it)").
			WithType(TypeCallbackUnauthenticated)
	}
	// Completing a connect is connecting: a user the operator took off a pilot
	// provider's list since the flow started links nothing, as one never on it could
	// not start it.
	if _, err := s.mayConnect(*by, provider); err != nil {
		return Account{}, err
	}
	value := query["state"]
	if value == "" {
		return Account{}, stateError("the state parameter is missing")
	}
	st, err := s.d.Store.GetOAuthState(ctx, value)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Account{}, stateError(unknownState)
	case err != nil:
		return Account{}, err
	}
	if st.Provider != provider {
		return Account{}, stateError("the authorization state was issued for another provider")
	}
	if by.UserID != st.UserID {
		return Account{}, stateError("the authorization state belongs to another user")
	}
	if st, err = s.d.Store.ConsumeOAuthState(ctx, value); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Account{}, stateError(unknownState)
		}
		return Account{}, err
	}
	if e := query["error"]; e != "" {
		return Account{}, host.Errorf(host.EINVALID, "%s did not authorize the connection (%s)", provider, e).WithType("oauth-denied")
	}
	if query["code"] == "" {
		return Account{}, host.Errorf(host.EINVALID, "the code parameter is missing")
	}
	ad, err := s.adapter(provider)
	if err != nil {
		return Account{}, err
	}
	l, err := ad.Callback(ctx, sdk.CallbackRequest{
		Code: query["code"], State: value, RedirectURI: st.RedirectURI, Query: query, CodeVerifier: st.CodeVerifier,
	})
	if err != nil {
		err = s.pluginError(provider, "callback", err)
		if host.ErrorCode(err) == host.EUNAVAILABLE {
			// Not a 503: its Retry-After would have the app send this callback again,
			// and the state is spent (single use), so that can only answer "already
			// used". The user has to start over.
			return Account{}, host.Wrap(host.EUPSTREAM, err, "%s; this authorization cannot be completed now: connect again", host.ErrorMessage(err)).WithType(TypeCallbackFailed)
		}
		return Account{}, err
	}
	return s.link(ctx, *by, st.UserID, provider, ad, l)
}
