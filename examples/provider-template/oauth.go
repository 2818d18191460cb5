package template

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/poolhost/poolhost/sdk"
)

// Connect starts the OAuth2 authorization-code flow: it only builds the URL of Acme's
// consent page. The host generated State (single use, bound to the user) and owns the
// RedirectURI; both must reach Acme unchanged, or the callback will not match.
func (a *Adapter) Connect(_ context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
	cfg, err := a.config()
	if err != nil {
		return sdk.ConnectResult{}, err
	}
	if req.RedirectURI == "" || req.State == "" {
		return sdk.ConnectResult{}, sdk.InvalidInput("connect needs a redirect URI and a state")
	}
	u := cfg.baseURL.JoinPath("oauth", "authorize")
	q := url.Values{
		"response_type": {"code"},
		"client_id":     {cfg.clientID},
		"redirect_uri":  {req.RedirectURI},
		"state":         {req.State},
		"scope":         {cfg.scope},
	}
	// Acme supports PKCE: send the host's challenge, so that an intercepted code is
	// useless without the verifier the host keeps.
	if req.CodeChallenge != "" {
		q.Set("code_challenge", req.CodeChallenge)
		q.Set("code_challenge_method", req.CodeChallengeMethod)
	}
	u.RawQuery = q.Encode()
	return sdk.ConnectResult{AuthorizeURL: u.String()}, nil
}

// Callback completes the flow: the host has already checked State (owner, expiry,
// single use) before calling, so the adapter only trades the code for tokens and asks
// Acme who the account is.
func (a *Adapter) Callback(ctx context.Context, req sdk.CallbackRequest) (sdk.Linkage, error) {
	cfg, err := a.config()
	if err != nil {
		return sdk.Linkage{}, err
	}
	// RFC 6749 §4.1.2.1: a user who clicks "Deny" comes back with error=access_denied
	// and no code. That is the user's choice, not a failure of ours.
	if e := req.Query["error"]; e != "" {
		return sdk.Linkage{}, sdk.InvalidInput("acme authorization failed: %s", e)
	}
	if req.Code == "" {
		return sdk.Linkage{}, sdk.InvalidInput("callback carries no authorization code")
	}
	form := url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {req.Code},
		"redirect_uri": {req.RedirectURI},
	}
	if req.CodeVerifier != "" {
		form.Set("code_verifier", req.CodeVerifier)
	}
	tok, err := a.token(ctx, cfg, form)
	if errors.Is(err, errInvalidGrant) {
		// Expired, already used, or issued for another redirect URI.
		return sdk.Linkage{}, sdk.InvalidInput("acme refused the authorization code; please connect again")
	}
	if err != nil {
		return sdk.Linkage{}, fmt.Errorf("exchange code: %w", err)
	}
	s := &session{a: a, cfg: cfg, creds: tok.credentials(a.now(), nil)}
	me, err := s.me(ctx)
	if err != nil {
		return sdk.Linkage{}, err
	}
	return sdk.Linkage{
		// ExternalAccountID is what makes reconnecting the same Acme account update the
		// existing link instead of creating a second one: use Acme's stable id, never
		// an email address or a display name.
		ExternalAccountID: me.ID,
		DisplayName:       me.Name,
		Credentials:       s.creds,
	}, nil
}
