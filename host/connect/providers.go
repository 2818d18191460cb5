package connect

// What a user may connect, and the URLs a provider is given: redirect and webhook.

import (
	"context"
	"net/url"
	"strings"

	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/sdk"
)

// Providers lists what the actor may connect: enabled providers, and pilot providers
// only for allow-listed users.
func (s *Service) Providers(ctx context.Context, a auth.Actor) ([]Provider, error) {
	if err := requireUser(a); err != nil {
		return nil, err
	}
	cfg := s.d.Config()
	if cfg == nil {
		return nil, nil
	}
	var out []Provider
	for _, p := range cfg.EnabledProviders() {
		if !p.PilotAllows(a.Email, id(a.UserID)) {
			continue
		}
		pr := Provider{ID: p.ID, Stage: p.Stage, Access: p.Access, Webhooks: p.Webhooks, Poll: p.Poll}
		if ad, err := s.adapter(p.ID); err == nil {
			if desc, err := ad.Describe(ctx); err == nil {
				pr.Connect, pr.Version = desc.Capabilities.Connect, desc.Version
				pr.Inputs = inputsOf(desc.ConnectInputs)
				pr.WebhookURL = s.providerWebhookURL(p, desc)
			}
		}
		out = append(out, pr)
	}
	return out, nil
}

// RedirectURI is the callback URL registered with a provider: it is built from
// public_url only, never from request headers a client controls.
func RedirectURI(publicURL, provider string) string {
	return strings.TrimRight(publicURL, "/") + "/v1/providers/" + url.PathEscape(provider) + "/callback"
}

// ProviderWebhookURL is where a provider posts deliveries for all its accounts (the
// provider-level URL, as opposed to a webhook_secret account's own URL). Like
// RedirectURI it is built from public_url only.
func ProviderWebhookURL(publicURL, provider string) string {
	return strings.TrimRight(publicURL, "/") + "/v1/webhooks/" + url.PathEscape(provider)
}

// providerWebhookURL is ProviderWebhookURL when users need it: the provider's webhooks
// are on and its accounts have no URL of their own.
func (s *Service) providerWebhookURL(p config.Provider, desc sdk.Description) string {
	if !p.Webhooks || !desc.Capabilities.Webhook || desc.Capabilities.Connect == sdk.ConnectWebhookSecret {
		return ""
	}
	return ProviderWebhookURL(s.d.Config().PublicURL, p.ID)
}
