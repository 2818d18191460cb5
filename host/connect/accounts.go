package connect

// A user's connected accounts and disconnecting one.

import (
	"context"
	"errors"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk/signature"
)

// Accounts lists the actor's connected accounts, those of a disabled or removed provider
// included (marked by ProviderState): the owner keeps seeing, and may disconnect, what
// the host stores for them whatever the operator did to the provider.
func (s *Service) Accounts(ctx context.Context, a auth.Actor) ([]Account, error) {
	if err := requireUser(a); err != nil {
		return nil, err
	}
	as, err := s.d.Store.ListAccounts(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]Account, 0, len(as))
	for _, acc := range as {
		if acc.Status == store.AccountDisconnected {
			continue
		}
		view, err := s.withWebhookURL(ctx, acc, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, view)
	}
	return out, nil
}

// Account returns one of the actor's connected accounts, with its own webhook URL.
func (s *Service) Account(ctx context.Context, a auth.Actor, accountID int64) (Account, error) {
	acc, err := s.ownedAccount(ctx, a, accountID)
	if err != nil {
		return Account{}, err
	}
	return s.withWebhookURL(ctx, acc, nil)
}

// ownedAccount returns the actor's own, connected account, whatever its provider's
// state: callers that need the provider's plugin (or its webhooks) check
// accountProvider too. Another user's account is ENOTFOUND, like a missing one.
func (s *Service) ownedAccount(ctx context.Context, a auth.Actor, accountID int64) (store.Account, error) {
	if err := requireUser(a); err != nil {
		return store.Account{}, err
	}
	acc, err := s.d.Store.GetUserAccount(ctx, a.UserID, accountID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && acc.Status == store.AccountDisconnected) {
		return store.Account{}, host.Errorf(host.ENOTFOUND, "no such account")
	}
	if err != nil {
		return store.Account{}, err
	}
	return acc, nil
}

// RotatedSecret is the answer to a webhook secret rotation: the new secret, shown this
// once, and until when the one it replaced is still accepted.
type RotatedSecret struct {
	WebhookURL               string    `json:"webhookUrl"`
	Secret                   string    `json:"secret"`
	PreviousSecretValidUntil time.Time `json:"previousSecretValidUntil"`
}

// RotateWebhookSecret gives an account with its own webhook URL a new secret without
// reconnecting. The old one stays accepted for the overlap (ingest {
// webhook_secret_overlap }), so the sender can switch, or sign with both (Standard
// Webhooks' multiple signatures); then it is retired. keep, when given, shortens the
// overlap for this rotation: 0 retires the old secret at once, which is what an owner
// whose secret leaked needs (with the overlap, the leaked secret would sign for another
// day). It cannot lengthen it: the operator's overlap bounds how long a rotated-away
// secret may work.
func (s *Service) RotateWebhookSecret(ctx context.Context, a auth.Actor, accountID int64, keep *time.Duration) (RotatedSecret, error) {
	overlap := s.d.Config().Ingest.WebhookSecretOverlap
	if overlap <= 0 {
		overlap = config.DefaultIngest.WebhookSecretOverlap // a Config built without defaults
	}
	if keep != nil {
		if *keep < 0 || *keep > overlap {
			return RotatedSecret{}, host.Errorf(host.EINVALID,
				"previousSecretValidSeconds must be from 0 (retire the old secret now) to %d (ingest { webhook_secret_overlap })", int64(overlap/time.Second))
		}
		overlap = *keep
	}
	acc, err := s.ownedAccount(ctx, a, accountID)
	if err != nil {
		return RotatedSecret{}, err
	}
	if err := s.accountProvider(acc.Provider); err != nil {
		return RotatedSecret{}, err // its webhook routes refuse everything meanwhile
	}
	secret, err := signature.GenerateSecret()
	if err != nil {
		return RotatedSecret{}, host.Wrap(host.EINTERNAL, err, "generate a secret")
	}
	until, err := s.d.Store.RotateWebhookSecret(ctx, acc.ID, secret, overlap)
	if errors.Is(err, store.ErrNotFound) {
		return RotatedSecret{}, host.Errorf(host.ECONFLICT, "the account has no webhook secret of its own to rotate")
	}
	if err != nil {
		return RotatedSecret{}, err
	}
	s.d.Audit.Record(ctx, audit.Entry{
		Action: audit.WebhookSecretRotated, Actor: a, Provider: acc.Provider, TargetType: "account", TargetID: id(acc.ID),
		Details: map[string]any{"previousSecretValidUntil": until},
	})
	return RotatedSecret{WebhookURL: AccountWebhookURL(s.d.Config().PublicURL, acc.Provider, acc.ID), Secret: secret,
		PreviousSecretValidUntil: until}, nil
}

// Disconnect erases the account's credentials and unlinks its devices. Devices and
// readings are kept.
//
// It works whatever the provider's state: an owner keeps control of what the host
// stores for them when the operator disables or removes the provider. Only the
// plugin's part (Unsubscribe: removing the account's webhook registration from the
// provider's cloud) cannot run then; the audit row says so (providerState,
// unsubscribeError), since the provider may still hold a registration pointing at the
// account's URL, which refuses every delivery from now on.
func (s *Service) Disconnect(ctx context.Context, a auth.Actor, accountID int64) error {
	acc, err := s.ownedAccount(ctx, a, accountID)
	if err != nil {
		return err
	}
	return s.disconnect(ctx, a, acc, s.providerState(acc.Provider))
}

// DisconnectProvider disconnects every account of a provider the operator disabled or
// removed, as each owner could (Disconnect): credentials erased, devices unlinked,
// readings kept, each audited with the provider's state. It is how an operator who
// decommissions a provider stops keeping its users' credentials. The plugin is not
// called (it is not running), so a webhook registration at the provider's cloud cannot
// be removed, which each audit row says. A provider still enabled is refused: its
// accounts are its users' to disconnect. Admins (or the CLI) only; it returns how many
// accounts it disconnected.
func (s *Service) DisconnectProvider(ctx context.Context, a auth.Actor, provider string) (int, error) {
	if err := requireAdmin(a); err != nil {
		return 0, err
	}
	state := s.providerState(provider)
	if state == ProviderEnabled {
		return 0, host.Errorf(host.ECONFLICT, "provider %q is enabled: its accounts are its users' to disconnect; set enabled = false in its provider block (or remove the block) first", provider)
	}
	n := 0
	for _, status := range []store.AccountStatus{store.AccountActive, store.AccountReauthRequired} {
		accs, err := s.d.Store.ListProviderAccounts(ctx, provider, status)
		if err != nil {
			return n, err
		}
		for _, acc := range accs {
			if err := s.disconnect(ctx, a, acc, state); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// disconnect disconnects acc, whose provider is in state, on a's behalf.
func (s *Service) disconnect(ctx context.Context, a auth.Actor, acc store.Account, state string) error {
	var unsubErr string
	if state == ProviderEnabled {
		unsubErr = s.unsubscribe(ctx, acc)
	} else if s.hasOwnWebhookSecret(ctx, acc) {
		unsubErr = "provider " + acc.Provider + " is " + state + ": its plugin was not called, so a webhook registration at the provider (if any) could not be removed"
	}
	res, err := s.d.Store.DisconnectAccount(ctx, acc.ID)
	if err != nil {
		return err
	}
	details := map[string]any{"unlinkedDevices": res.UnlinkedDevices}
	if state != ProviderEnabled {
		details["providerState"] = state
	}
	if unsubErr != "" {
		details["unsubscribeError"] = unsubErr
	}
	s.d.Audit.Record(ctx, audit.Entry{
		Action: audit.IntegrationDisconnected, Actor: a, Provider: acc.Provider, TargetType: "account", TargetID: id(acc.ID),
		Details: details,
	})
	return nil
}

// hasOwnWebhookSecret reports whether the account has a webhook URL of its own, which a
// plugin may have registered with the provider's cloud. Unreadable credentials count
// as yes: the audit should not claim there was nothing to remove.
func (s *Service) hasOwnWebhookSecret(ctx context.Context, acc store.Account) bool {
	creds, err := s.d.Store.AccountCredentials(ctx, acc.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	return err != nil || creds[WebhookSecretCredential] != ""
}
