package connect

// Linking an account: Connect (API-key style at once, OAuth2 by redirect) and link, which stores the linkage.

import (
	"context"
	"errors"
	mrand "math/rand/v2"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/internal/worker"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// Connect starts linking an account: a redirect for OAuth2 providers (with a fresh
// single-use state bound to the actor), or an account at once for API-key style ones.
func (s *Service) Connect(ctx context.Context, a auth.Actor, provider string, input map[string]string) (ConnectResult, error) {
	if err := requireUser(a); err != nil {
		return ConnectResult{}, err
	}
	pc, err := s.mayConnect(a, provider)
	if err != nil {
		return ConnectResult{}, err
	}
	if err := checkInput(input); err != nil {
		return ConnectResult{}, err
	}
	ad, err := s.adapter(provider)
	if err != nil {
		return ConnectResult{}, err
	}
	desc, err := ad.Describe(ctx)
	if err != nil {
		return ConnectResult{}, s.pluginError(provider, "describe", err)
	}
	if err := checkDeclaredInput(provider, desc.ConnectInputs, input); err != nil {
		return ConnectResult{}, err
	}
	req := sdk.ConnectRequest{Input: input}
	switch desc.Capabilities.Connect {
	case sdk.ConnectOAuth2:
		req.RedirectURI = RedirectURI(s.d.Config().PublicURL, provider)
		state, st, err := s.d.Store.CreateOAuthState(ctx, a.UserID, a.TokenID, provider, req.RedirectURI, StateTTL)
		if err != nil {
			return ConnectResult{}, err
		}
		req.State = state
		req.CodeChallenge, req.CodeChallengeMethod = st.CodeChallenge(), "S256"
	case sdk.ConnectAPIKey, sdk.ConnectWebhookSecret:
	default:
		return ConnectResult{}, host.Errorf(host.EINVALID, "provider %q has no per-user accounts to connect", provider).WithType(TypeUnsupported)
	}
	res, err := ad.Connect(ctx, req)
	if err != nil {
		return ConnectResult{}, s.pluginError(provider, "connect", err)
	}
	switch {
	case desc.Capabilities.Connect == sdk.ConnectOAuth2 && res.AuthorizeURL != "":
		return ConnectResult{AuthorizeURL: res.AuthorizeURL, ProviderWebhookURL: s.providerWebhookURL(pc, desc)}, nil
	case desc.Capabilities.Connect != sdk.ConnectOAuth2 && res.Linkage != nil:
		if typed(input, res.Linkage.DisplayName) {
			// The user's own name for the account (generic's and ttn's "name" input):
			// theirs to shorten. One the provider gave is shortened by link.
			if err := checkDisplayName(res.Linkage.DisplayName); err != nil {
				return ConnectResult{}, err
			}
		}
		acct, err := s.link(ctx, a, a.UserID, provider, ad, *res.Linkage)
		if err != nil {
			return ConnectResult{}, err
		}
		out := ConnectResult{Account: &acct}
		if secret := res.Linkage.Credentials[WebhookSecretCredential]; secret != "" {
			// The provider-level URL would reject every delivery for this account.
			out.Webhook = &WebhookEndpoint{URL: acct.WebhookURL, Secret: secret}
		} else {
			out.ProviderWebhookURL = s.providerWebhookURL(pc, desc)
		}
		return out, nil
	}
	s.log.Error("plugin answered connect with neither the expected redirect nor a linkage", "provider", provider)
	return ConnectResult{}, host.Errorf(host.EUNAVAILABLE, "%s gave an unusable answer", provider)
}

// link stores a linkage and audits it.
// An account with its own webhook URL is then subscribed (see subscribe); a failure
// there does not undo the link, it is shown on the account.
func (s *Service) link(ctx context.Context, a auth.Actor, userID int64, provider string, ad Adapter, l sdk.Linkage) (Account, error) {
	if l.ExternalAccountID == "" {
		s.log.Error("plugin linkage without external account id", "provider", provider)
		return Account{}, host.Errorf(host.EUNAVAILABLE, "%s gave an unusable answer", provider)
	}
	l.DisplayName = shortName(cleanName(l.DisplayName))
	limit := s.d.Config().Ingest.MaxAccountsPerUser
	if limit <= 0 {
		limit = config.DefaultIngest.MaxAccountsPerUser // a Config built without defaults
	}
	acc, created, err := s.d.Store.UpsertAccount(ctx, store.NewAccount{
		UserID: userID, Provider: provider, ExternalAccountID: l.ExternalAccountID,
		AlternateAccountIDs: l.AlternateAccountIDs, DisplayName: l.DisplayName, Credentials: l.Credentials, MaxPerUser: limit,
	})
	if err != nil {
		return Account{}, err
	}
	s.d.Audit.Record(ctx, audit.Entry{
		Action: audit.IntegrationConnected, Actor: a, Provider: provider, TargetType: "account", TargetID: id(acc.ID),
		Details: map[string]any{"externalAccountId": acc.ExternalAccountID, "created": created},
	})
	creds := l.Credentials
	if creds == nil {
		creds = map[string]string{} // none: nothing to decrypt again
	}
	out, err := s.withWebhookURL(ctx, acc, creds)
	if err != nil {
		return Account{}, err
	}
	s.subscribe(ctx, ad, &out, creds)
	return out, nil
}

// subscribe asks the plugin to register the account's own webhook URL with its
// provider's cloud, when the account has one and the plugin can (sdk.Subscriber), and
// records the outcome on the account and in acc: the error a user sees and when the
// next attempt is due (RetrySubscriptions), or none. It returns that error.
func (s *Service) subscribe(ctx context.Context, ad Adapter, acc *Account, creds map[string]string) string {
	msg := ""
	// Not a Subscriber (any more), or no URL: nothing to register, and an error left
	// from before is cleared rather than retried forever.
	if sub, ok := ad.(Subscriber); ok && acc.WebhookURL != "" {
		err := sub.Subscribe(ctx, sdk.SubscribeRequest{
			Account:           sdk.Account{ID: id(acc.ID), ExternalAccountID: acc.ExternalAccountID, Credentials: creds},
			AccountWebhookURL: acc.WebhookURL,
		})
		if err != nil && !sdk.IsKind(err, sdk.KindUnsupported) { // Unsupported: nothing to register
			msg = subscriptionFailed(acc.Provider, s.subscriptionMessage(acc.Provider, "subscribe", err))
		}
	}
	return s.recordSubscription(ctx, acc, msg)
}

// subscriptionFailed is the error a user sees on the account.
func subscriptionFailed(provider, why string) string {
	return "could not register the account's webhook URL with " + provider + ": " + why
}

// recordSubscription stores a subscription's outcome on the account and in acc, and
// returns msg.
func (s *Service) recordSubscription(ctx context.Context, acc *Account, msg string) string {
	if msg == "" && acc.SubscriptionError == "" {
		return "" // registered, as it was: nothing to write
	}
	// Backoff as a failing poll's: from SubscriptionRetryBase, doubling per failure in
	// a row, never longer apart than SubscriptionRetryMax.
	delay := worker.Backoff(acc.SubscriptionAttempts, SubscriptionRetryBase, SubscriptionRetryMax, mrand.Float64)
	at, serr := s.d.Store.SetSubscriptionError(ctx, acc.ID, msg, delay)
	if serr != nil {
		s.log.Error("record subscription outcome", "account", acc.ID, "error", serr)
		return msg
	}
	acc.SubscriptionError, acc.SubscriptionRetryAt = msg, nil
	if msg == "" {
		acc.SubscriptionAttempts = 0
	} else {
		acc.SubscriptionAttempts++
		acc.SubscriptionRetryAt = &at
	}
	return msg
}

// subscriptionMessage is what the user sees of a failed (un)subscription: the plugin's
// own message, which is written for users (sdk.Error: never secrets) and, unlike
// pluginError's generic text, says what the provider's cloud answered, since the user
// may have to act on it; else pluginError's.
func (s *Service) subscriptionMessage(provider, call string, err error) string {
	var se *sdk.Error
	if errors.As(err, &se) && se.Message != "" {
		return pluginMessage(se.Message)
	}
	return host.ErrorMessage(s.pluginError(provider, call, err))
}

// unsubscribe asks the plugin to remove the account's registration before its
// credentials are erased. It never stops a disconnect: the user asked to leave, and a
// provider that keeps posting gets 401s. It returns what went wrong, for the audit row.
func (s *Service) unsubscribe(ctx context.Context, acc store.Account) string {
	ad, err := s.adapter(acc.Provider)
	if err != nil {
		return host.ErrorMessage(err)
	}
	sub, ok := ad.(Subscriber)
	if !ok {
		return ""
	}
	creds, err := s.d.Store.AccountCredentials(ctx, acc.ID)
	if errors.Is(err, store.ErrNotFound) || err == nil && creds[WebhookSecretCredential] == "" {
		return "" // no URL of its own: nothing registered
	} else if err != nil {
		return "credentials unreadable"
	}
	err = sub.Unsubscribe(ctx, sdk.SubscribeRequest{
		Account:           sdk.Account{ID: id(acc.ID), ExternalAccountID: acc.ExternalAccountID, Credentials: creds},
		AccountWebhookURL: AccountWebhookURL(s.d.Config().PublicURL, acc.Provider, acc.ID),
	})
	if err != nil && !sdk.IsKind(err, sdk.KindUnsupported) {
		s.log.Warn("unsubscribe failed; disconnecting anyway", "provider", acc.Provider, "account", acc.ID, "error", err)
		return s.subscriptionMessage(acc.Provider, "unsubscribe", err)
	}
	return ""
}
