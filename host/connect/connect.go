// Package connect is the provider-account lifecycle shared by the HTTP API and the CLI:
// which providers a user may connect (rollout flags), the OAuth state handshake,
// API-key linkage, device discovery, device links and disconnection. It is the only
// code that hands account credentials to plugins, and the only one that may make a
// write/control call (see Control).
//
// One file per lifecycle step: connect.go (types, rollout flags, plugin errors),
// providers.go (what a user may connect), linking.go (Connect), oauth.go (the OAuth2
// callback), accounts.go (listing, disconnecting), devices.go (discovery and pool
// links), operators.go (the operators' provider view: Control, statuses, reload).
package connect

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// StateTTL is how long an OAuth state stays valid: long enough to log in at the provider,
// short enough that a leaked authorize URL is soon worthless.
const StateTTL = 10 * time.Minute

// Problem types specific to this package (host.Error.Type).
const (
	TypeProviderNotFound = "provider-not-found"
	TypeProviderInPilot  = "provider-in-pilot"
	TypeStateInvalid     = "oauth-state-invalid"
	TypeReauthRequired   = "reauth-required"
	TypeUnsupported      = "provider-unsupported"
	// TypeProviderDisabled: the account's provider is disabled or no longer configured,
	// so nothing that needs its plugin can run; the account can still be read and
	// disconnected.
	TypeProviderDisabled = "provider-disabled"
)

// An account's providerState: whether its provider's block is enabled now. Accounts of
// a disabled or removed provider stay listed to their owner, who may read and
// disconnect them (erasing their credentials) but nothing else.
const (
	ProviderEnabled  = "enabled"
	ProviderDisabled = "disabled" // the block says enabled = false
	ProviderRemoved  = "removed"  // no block for it any more
)

// Adapter is what the service calls on a provider's plugin. The plugin manager's handles
// implement it, applying per-method deadlines.
type Adapter interface {
	Describe(ctx context.Context) (sdk.Description, error)
	Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error)
	Callback(ctx context.Context, req sdk.CallbackRequest) (sdk.Linkage, error)
	DiscoverDevices(ctx context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error)
}

// Subscriber is the optional part of a provider's plugin that registers an account's own
// webhook URL with the provider's cloud (sdk.Subscriber). The plugin manager's handles
// implement it whatever the plugin does; a plugin without it answers KindUnsupported.
type Subscriber interface {
	Subscribe(ctx context.Context, req sdk.SubscribeRequest) error
	Unsubscribe(ctx context.Context, req sdk.SubscribeRequest) error
}

// PluginState is the supervision state of one provider's plugin.
type PluginState struct {
	State     string
	Since     time.Time
	Restarts  int
	LastError string
	Version   string
	SHA256    string
	PID       int
	Warning   string
	Refused   string // why the config block from the last reload is not in force
}

// Plugins is what the service needs of the plugin manager.
type Plugins interface {
	// Adapter returns the running plugin of a provider. Errors wrapping ErrPluginNotFound
	// or ErrPluginUnavailable are mapped to 404 and 503; anything else to 503 as well.
	Adapter(provider string) (Adapter, error)
	// States returns the supervision state of every provider the manager knows.
	States() map[string]PluginState
}

// Errors a Plugins implementation wraps so the service can tell them apart.
var (
	ErrPluginNotFound    = errors.New("plugin not found")
	ErrPluginUnavailable = errors.New("plugin unavailable")
)

// Store is what the service needs of host/store.
type Store interface {
	CreateOAuthState(ctx context.Context, userID, tokenID int64, provider, redirectURI string, ttl time.Duration) (string, store.OAuthState, error)
	GetOAuthState(ctx context.Context, value string) (store.OAuthState, error)
	ConsumeOAuthState(ctx context.Context, value string) (store.OAuthState, error)
	UpsertAccount(ctx context.Context, a store.NewAccount) (store.Account, bool, error)
	GetUserAccount(ctx context.Context, userID, accountID int64) (store.Account, error)
	ListAccounts(ctx context.Context, userID int64) ([]store.Account, error)
	AccountCredentials(ctx context.Context, accountID int64) (map[string]string, error)
	AccountCallCredentials(ctx context.Context, accountID int64) (store.CallCredentials, error)
	RefreshAccountCredentials(ctx context.Context, accountID, generation int64, creds map[string]string) error
	SetAccountStatus(ctx context.Context, accountID int64, status store.AccountStatus) error
	MarkReauthRequired(ctx context.Context, accountID, generation int64) error
	SetSubscriptionError(ctx context.Context, accountID int64, msg string, retryIn time.Duration) (time.Time, error)
	DueSubscriptions(ctx context.Context, providers []string, limit int) ([]store.Account, error)
	ElectLeader(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	RotateWebhookSecret(ctx context.Context, accountID int64, secret string, overlap time.Duration) (time.Time, error)
	DisconnectAccount(ctx context.Context, accountID int64) (store.DisconnectResult, error)
	ListProviderAccounts(ctx context.Context, provider string, status store.AccountStatus) ([]store.Account, error)
	UpsertDevices(ctx context.Context, accountID int64, devices []store.NewDevice) ([]store.UpsertedDevice, error)
	GetDevice(ctx context.Context, id int64) (store.Device, error)
	ListDevicesAfter(ctx context.Context, accountID, afterID int64, limit int) ([]store.Device, error)
	LinkDevice(ctx context.Context, deviceID, poolID, byUserID int64) (int64, error)
	UnlinkDevice(ctx context.Context, deviceID, poolID int64) error
}

// Deps are the service's collaborators.
type Deps struct {
	Store   Store
	Plugins Plugins
	Pools   *pools.Service
	Audit   *audit.Recorder
	Logger  hclog.Logger
	// Config returns the current configuration; it changes on reload, so the service
	// never keeps a copy of the flags.
	Config func() *config.Config
	// Reload re-reads the configuration and puts in force what can change at run time
	// (the SIGHUP path), saying what changed. A file with errors changes nothing.
	Reload func(ctx context.Context) (ReloadReport, error)
}

// ReloadReport says what a reload did.
type ReloadReport struct {
	// Changed are the settings now in force, named as in the file ("log_level",
	// "http.read_timeout", "provider.generic").
	Changed []string `json:"changed"`
	// RestartRequired changed in the file but keep their old value until a restart.
	RestartRequired []string `json:"restartRequired"`
	// Warnings are for the operator: settings that need a restart, config warnings,
	// plugins that did not start.
	Warnings []string `json:"warnings"`
	// Recovered are the providers whose plugin was failed (it kept crashing) and runs
	// again: a reload restarts it, its block changed or not.
	Recovered []string         `json:"recovered"`
	Providers []ProviderStatus `json:"providers"`
}

// Service runs the provider-account lifecycle.
type Service struct {
	d   Deps
	log hclog.Logger
}

// New returns a Service.
func New(d Deps) *Service {
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	return &Service{d: d, log: d.Logger.Named("connect")}
}

// Provider is a provider as a user may see it.
type Provider struct {
	ID       string          `json:"id"`
	Stage    string          `json:"stage"`
	Access   string          `json:"access"`
	Connect  sdk.ConnectKind `json:"connect"`
	Webhooks bool            `json:"webhooks"`
	Poll     bool            `json:"poll"`
	Version  string          `json:"version,omitempty"`
	// Inputs are what a user gives at connect, as the plugin declares them.
	Inputs []Input `json:"inputs,omitempty"`
	// WebhookURL is the provider-level webhook URL, for providers whose webhooks are
	// enabled and that do not give each account its own URL (see ProviderWebhookURL).
	WebhookURL string `json:"webhookUrl,omitempty"`
}

// Input is one connect input a user gives, as a plugin declares it (sdk.Option).
type Input struct {
	Key      string         `json:"key"`
	Type     sdk.OptionType `json:"type"`
	Help     string         `json:"help,omitempty"`
	Secret   bool           `json:"secret"`
	Required bool           `json:"required"`
}

func inputsOf(opts []sdk.Option) []Input {
	var out []Input
	for _, o := range opts {
		typ := o.Type
		if typ == "" {
			typ = sdk.OptionString
		}
		out = append(out, Input{Key: o.Key, Type: typ, Help: o.Help, Secret: o.Secret, Required: o.Required})
	}
	return out
}

// Account is a linked provider account. Credentials never leave the service.
type Account struct {
	ID                int64  `json:"id"`
	Provider          string `json:"provider"`
	ExternalAccountID string `json:"externalAccountId"`
	DisplayName       string `json:"displayName"`
	Status            string `json:"status"`
	// ProviderState is ProviderEnabled, ProviderDisabled or ProviderRemoved.
	ProviderState string    `json:"providerState"`
	CreatedAt     time.Time `json:"createdAt"`
	// WebhookURL is the account's own webhook URL, verified with its own secret: set
	// whenever the account's credentials hold one (WebhookSecretCredential), whatever
	// its connect kind, for the user to enter in the provider's console or for the
	// plugin to register with the provider's cloud.
	WebhookURL string `json:"webhookUrl,omitempty"`
	// SubscriptionError says why the plugin could not register WebhookURL with the
	// provider's cloud (sdk.Subscriber). Absent when registered, or when there is
	// nothing to register. The host tries again at SubscriptionRetryAt, backing off
	// like a failing poll (RetrySubscriptions), and at the account's next discovery;
	// SubscriptionAttempts counts the failures in a row.
	SubscriptionError    string     `json:"subscriptionError,omitempty"`
	SubscriptionAttempts int        `json:"subscriptionAttempts,omitempty"`
	SubscriptionRetryAt  *time.Time `json:"subscriptionRetryAt,omitempty"`
}

// Device is a discovered provider device, with the pool it feeds when linked.
type Device struct {
	ID               int64             `json:"id"`
	AccountID        int64             `json:"accountId"`
	Provider         string            `json:"provider"`
	ProviderDeviceID string            `json:"providerDeviceId"`
	Name             string            `json:"name"`
	Model            string            `json:"model"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	PoolID           *int64            `json:"poolId"`
	// LinkActive: the device feeds its pool now. A link stops when its owner may no
	// longer write to the pool (removed, lowered to viewer, disabled, account
	// disconnected; store.Device.LinkActive) and resumes if that access comes back;
	// unlinking ends it for good.
	LinkActive bool `json:"linkActive"`
	// Verified: the provider vouched for the device; only verified devices receive
	// deliveries on the provider-level webhook URL.
	Verified bool `json:"verified"`
	// Suggestion is the provider's suggested configuration of the device's pool (its
	// volume, kind, ...), applied only when a pool editor accepts it
	// (POST /v1/pools/{poolId}/devices/{deviceId}/suggestion/accept).
	Suggestion *store.PoolSuggestion `json:"suggestion,omitempty"`
}

// AccountWebhookURL is an account's own webhook URL (see Account.WebhookURL). Like
// RedirectURI it is built from public_url only.
func AccountWebhookURL(publicURL, provider string, accountID int64) string {
	return ProviderWebhookURL(publicURL, provider) + "/accounts/" + id(accountID)
}

// withWebhookURL is accountOf with the account's own webhook URL when its credentials
// (creds, or the stored ones when creds is nil) hold a webhook secret. Listing accounts
// decrypts each account's credentials for this; a few per user.
func (s *Service) withWebhookURL(ctx context.Context, acc store.Account, creds map[string]string) (Account, error) {
	out := accountOf(acc)
	out.ProviderState = s.providerState(acc.Provider)
	if out.ProviderState != ProviderEnabled {
		return out, nil // the provider's webhook routes refuse everything: no URL to use
	}
	if creds == nil {
		var err error
		if creds, err = s.d.Store.AccountCredentials(ctx, acc.ID); errors.Is(err, store.ErrNotFound) {
			return out, nil // none stored
		} else if host.ErrorCode(store.Unavailable(err)) == host.EUNAVAILABLE {
			return Account{}, err
		} else if err != nil {
			// Credentials that no longer open (a credentials key rotated without
			// rewrapping them) cost this account its URL in the view, not the user
			// the whole list; the poll or the next delivery reports them.
			s.log.Warn("account credentials unreadable; shown without its webhook URL", "account", acc.ID, "error", err)
			return out, nil
		}
	}
	if creds[WebhookSecretCredential] != "" {
		out.WebhookURL = AccountWebhookURL(s.d.Config().PublicURL, acc.Provider, acc.ID)
	}
	return out, nil
}

// ConnectResult is either a redirect for the user's browser or the account linked at once.
type ConnectResult struct {
	AuthorizeURL string   `json:"authorizeUrl,omitempty"`
	Account      *Account `json:"account,omitempty"`
	// Webhook is set when the new account's credentials hold a webhook secret, whatever
	// the provider's connect kind: where the user's devices (or the provider's cloud)
	// post, and the secret they sign with. It is shown this once; the host keeps it
	// encrypted.
	Webhook *WebhookEndpoint `json:"webhook,omitempty"`
	// ProviderWebhookURL is set for the other providers with webhooks enabled, when the
	// account has no URL of its own: the one URL the provider posts to for every
	// account, which some providers ask the user to enter in their console.
	ProviderWebhookURL string `json:"providerWebhookUrl,omitempty"`
}

// WebhookEndpoint is an account-scoped webhook URL and its signing secret.
type WebhookEndpoint struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// WebhookSecretCredential is the credentials key under which webhook_secret providers
// keep an account's own signing secret.
const WebhookSecretCredential = "webhook_secret"

// ProviderStatus is what operators see of a configured provider.
type ProviderStatus struct {
	ID         string     `json:"id"`
	Enabled    bool       `json:"enabled"`
	Stage      string     `json:"stage"`
	Access     string     `json:"access"`
	Webhooks   bool       `json:"webhooks"`
	Poll       bool       `json:"poll"`
	PilotUsers []string   `json:"pilotUsers,omitempty"`
	State      string     `json:"state"`
	Since      *time.Time `json:"since,omitempty"`
	Restarts   int        `json:"restarts"`
	LastError  string     `json:"lastError,omitempty"`
	Version    string     `json:"version,omitempty"`
	// SHA256 is the hash of the file the plugin process was started from (the last one,
	// once it is gone); PinnedSHA256 is the config's pin.
	SHA256       string `json:"sha256,omitempty"`
	PinnedSHA256 string `json:"pinnedSha256,omitempty"`
	PID          int    `json:"pid,omitempty"`
	// ReloadWarning says why the last reload left the running plugin in place (a stale
	// pin, a bundle changed without its manifest).
	ReloadWarning string `json:"reloadWarning,omitempty"`
	// PendingConfigRefused says why the provider's block in the config file is not in
	// force (it could not start, e.g. a wrong pin): the provider runs its previous
	// block, and keeps saying so across restarts of its process until a reload fixes it.
	PendingConfigRefused string `json:"pendingConfigRefused,omitempty"`
}

func accountOf(a store.Account) Account {
	return Account{ID: a.ID, Provider: a.Provider, ExternalAccountID: a.ExternalAccountID,
		DisplayName: a.DisplayName, Status: string(a.Status), CreatedAt: a.CreatedAt,
		SubscriptionError: a.SubscriptionError, SubscriptionAttempts: a.SubscriptionAttempts, SubscriptionRetryAt: a.SubscriptionRetryAt}
}

func deviceOf(d store.Device) Device {
	out := Device{ID: d.ID, AccountID: d.AccountID, Provider: d.Provider, ProviderDeviceID: d.ProviderDeviceID,
		Name: d.Name, Model: d.Model, Metadata: d.Metadata, Verified: d.Verified, Suggestion: d.Suggestion.PoolSuggestion,
		LinkActive: d.LinkActive}
	if d.PoolID != 0 {
		p := d.PoolID
		out.PoolID = &p
	}
	return out
}

func requireUser(a auth.Actor) error {
	if !a.IsUser() {
		return host.Errorf(host.EUNAUTHORIZED, "a user is required")
	}
	return nil
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// ---- rollout flags

// notFound is the answer of a provider's own routes when it is unknown or disabled. It
// does not say which (a disabled provider is indistinguishable from an unknown one),
// but says both may be, so the owner of an account of a disabled provider trying to
// reconnect it learns why it fails.
func notFound(provider string) error {
	return host.Errorf(host.ENOTFOUND, "provider %q is not offered: unknown, or disabled by the operator", provider).WithType(TypeProviderNotFound)
}

// enabled returns the provider's config when it is configured and enabled. On the
// provider's own routes (connect, callback, webhooks) a disabled provider is
// indistinguishable from an unknown one; its accounts, devices and readings stay
// stored, listed to their owners (providerState), and come back when it is enabled
// again.
func (s *Service) enabled(provider string) (config.Provider, error) {
	cfg := s.d.Config()
	if cfg == nil {
		return config.Provider{}, notFound(provider)
	}
	p, ok := cfg.Provider(provider)
	if !ok || !p.Enabled {
		return config.Provider{}, notFound(provider)
	}
	return p, nil
}

// Enabled reports whether a provider is configured and enabled (for other services,
// e.g. ingestion, that must apply the same rule).
func (s *Service) Enabled(provider string) bool {
	_, err := s.enabled(provider)
	return err == nil
}

// providerState says whether provider is enabled, disabled or no longer configured.
func (s *Service) providerState(provider string) string {
	cfg := s.d.Config()
	if cfg == nil {
		return ProviderRemoved
	}
	p, ok := cfg.Provider(provider)
	switch {
	case !ok:
		return ProviderRemoved
	case !p.Enabled:
		return ProviderDisabled
	}
	return ProviderEnabled
}

// accountProvider is the rule for what an owner does with an account beyond reading
// and disconnecting it: its provider must be enabled. Otherwise 409 provider-disabled,
// not 404: the owner sees the account (Accounts), so "no such account" would be false,
// and "provider not found" would not say why; nor 503, since retrying will not help
// until an operator enables the provider again.
func (s *Service) accountProvider(provider string) error {
	switch s.providerState(provider) {
	case ProviderDisabled:
		return host.Errorf(host.ECONFLICT, "provider %q is disabled by the operator: its accounts can be read and disconnected, nothing else", provider).WithType(TypeProviderDisabled)
	case ProviderRemoved:
		return host.Errorf(host.ECONFLICT, "provider %q is no longer configured by the operator: its accounts can be read and disconnected, nothing else", provider).WithType(TypeProviderDisabled)
	}
	return nil
}

// mayConnect applies the pilot allow-list on top of enabled.
func (s *Service) mayConnect(a auth.Actor, provider string) (config.Provider, error) {
	p, err := s.enabled(provider)
	if err != nil {
		return p, err
	}
	if !p.PilotAllows(a.Email, id(a.UserID)) {
		return p, host.Errorf(host.EFORBIDDEN, "provider %q is in a pilot and you are not on its list", provider).WithType(TypeProviderInPilot)
	}
	return p, nil
}

// adapter returns the provider's running plugin.
func (s *Service) adapter(provider string) (Adapter, error) {
	if s.d.Plugins == nil {
		return nil, host.Errorf(host.EUNAVAILABLE, "provider %q is not running", provider)
	}
	ad, err := s.d.Plugins.Adapter(provider)
	var he *host.Error
	switch {
	case err == nil:
		return ad, nil
	case errors.As(err, &he):
		return nil, err // classified by the plugin manager
	case errors.Is(err, ErrPluginNotFound):
		return nil, host.Wrap(host.ENOTFOUND, err, "no provider %q", provider).WithType(TypeProviderNotFound)
	default:
		return nil, host.Wrap(host.EUNAVAILABLE, err, "provider %q is not available right now", provider)
	}
}

// pluginError translates a plugin call's failure. Plugin messages are written for
// operators and users (sdk.Error says: never secrets), so invalid-input messages are
// passed on; anything else gets a generic text and the cause goes to the log.
func (s *Service) pluginError(provider, call string, err error) error {
	var he *host.Error
	if errors.As(err, &he) {
		return err // already classified (e.g. the plugin manager said unavailable)
	}
	var se *sdk.Error
	if errors.As(err, &se) {
		switch se.Kind {
		case sdk.KindInvalidInput:
			return host.Wrap(host.EINVALID, err, "%s: %s", provider, pluginMessage(se.Message))
		case sdk.KindReauth:
			return host.Wrap(host.ECONFLICT, err, "%s rejected the account's credentials; reconnect it", provider).WithType(TypeReauthRequired)
		case sdk.KindUnsupported:
			return host.Wrap(host.EINVALID, err, "%s does not support %s", provider, call).WithType(TypeUnsupported)
		case sdk.KindPermanent:
			return host.Wrap(host.EINVALID, err, "%s refused the request: %s", provider, pluginMessage(se.Message))
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return host.Wrap(host.EUNAVAILABLE, err, "%s did not answer in time", provider)
	}
	s.log.Warn("plugin call failed", "provider", provider, "call", call, "error", err)
	return host.Wrap(host.EUNAVAILABLE, err, "%s is not available right now", provider)
}
