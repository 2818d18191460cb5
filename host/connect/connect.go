// Package connect is the provider-account lifecycle shared by the HTTP API and the CLI:
// which providers a user may connect (rollout flags), the OAuth state handshake,
// API-key linkage, device discovery, device links and disconnection. It is the only
// code that hands account credentials to plugins, and the only one that may make a
// write/control call (see Control).
package connect

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/signature"
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
	TypeReadOnly         = "read-only-provider"
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
	CreateOAuthState(ctx context.Context, userID int64, provider, redirectURI string, ttl time.Duration) (string, store.OAuthState, error)
	GetOAuthState(ctx context.Context, value string) (store.OAuthState, error)
	ConsumeOAuthState(ctx context.Context, value string) (store.OAuthState, error)
	UpsertAccount(ctx context.Context, a store.NewAccount) (store.Account, bool, error)
	GetUserAccount(ctx context.Context, userID, accountID int64) (store.Account, error)
	ListAccounts(ctx context.Context, userID int64) ([]store.Account, error)
	AccountCredentials(ctx context.Context, accountID int64) (map[string]string, error)
	UpdateAccountCredentials(ctx context.Context, accountID int64, creds map[string]string) error
	SetAccountStatus(ctx context.Context, accountID int64, status store.AccountStatus) error
	SetSubscriptionError(ctx context.Context, accountID int64, msg string) error
	RotateWebhookSecret(ctx context.Context, accountID int64, secret string, overlap time.Duration) (time.Time, error)
	DisconnectAccount(ctx context.Context, accountID int64) (store.DisconnectResult, error)
	ListProviderAccounts(ctx context.Context, provider string, status store.AccountStatus) ([]store.Account, error)
	UpsertDevices(ctx context.Context, accountID int64, devices []store.NewDevice) ([]store.UpsertedDevice, error)
	GetDevice(ctx context.Context, id int64) (store.Device, error)
	ListDevices(ctx context.Context, accountID int64) ([]store.Device, error)
	LinkDevice(ctx context.Context, deviceID, poolID, byUserID int64) (int64, error)
	UnlinkDevice(ctx context.Context, deviceID int64) (int64, error)
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
	// SecretOverlap is how long an account's webhook secret is still accepted after it
	// was rotated, for the sender to switch; DefaultSecretOverlap when zero.
	SecretOverlap time.Duration
}

// DefaultSecretOverlap gives whoever signs an account's webhooks a day to switch to its
// rotated secret.
const DefaultSecretOverlap = 24 * time.Hour

// ReloadReport says what a reload did.
type ReloadReport struct {
	// Changed are the settings now in force, named as in the file ("log_level",
	// "http.read_timeout", "provider.generic").
	Changed []string `json:"changed"`
	// RestartRequired changed in the file but keep their old value until a restart.
	RestartRequired []string `json:"restartRequired"`
	// Warnings are for the operator: settings that need a restart, config warnings,
	// plugins that did not start.
	Warnings  []string         `json:"warnings"`
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
	ID                int64     `json:"id"`
	Provider          string    `json:"provider"`
	ExternalAccountID string    `json:"externalAccountId"`
	DisplayName       string    `json:"displayName"`
	Status            string    `json:"status"`
	CreatedAt         time.Time `json:"createdAt"`
	// WebhookURL is the account's own webhook URL, verified with its own secret: set
	// whenever the account's credentials hold one (WebhookSecretCredential), whatever
	// its connect kind, for the user to enter in the provider's console or for the
	// plugin to register with the provider's cloud.
	WebhookURL string `json:"webhookUrl,omitempty"`
	// SubscriptionError says why the plugin could not register WebhookURL with the
	// provider's cloud (sdk.Subscriber); the host tries again at the account's next
	// discovery. Absent when registered, or when there is nothing to register.
	SubscriptionError string `json:"subscriptionError,omitempty"`
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
	if creds == nil {
		var err error
		if creds, err = s.d.Store.AccountCredentials(ctx, acc.ID); errors.Is(err, store.ErrNotFound) {
			return out, nil // none stored
		} else if err != nil {
			return Account{}, err
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
		DisplayName: a.DisplayName, Status: string(a.Status), CreatedAt: a.CreatedAt, SubscriptionError: a.SubscriptionError}
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

func notFound(provider string) error {
	return host.Errorf(host.ENOTFOUND, "no provider %q", provider).WithType(TypeProviderNotFound)
}

// enabled returns the provider's config when it is configured and enabled. A disabled
// provider is indistinguishable from an unknown one; its accounts, devices and
// readings stay stored and come back when it is enabled again.
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
			return host.Wrap(host.EINVALID, err, "%s: %s", provider, se.Message)
		case sdk.KindReauth:
			return host.Wrap(host.ECONFLICT, err, "%s rejected the account's credentials; reconnect it", provider).WithType(TypeReauthRequired)
		case sdk.KindUnsupported:
			return host.Wrap(host.EINVALID, err, "%s does not support %s", provider, call).WithType(TypeUnsupported)
		case sdk.KindPermanent:
			return host.Wrap(host.EINVALID, err, "%s refused the request: %s", provider, se.Message)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return host.Wrap(host.EUNAVAILABLE, err, "%s did not answer in time", provider)
	}
	s.log.Warn("plugin call failed", "provider", provider, "call", call, "error", err)
	return host.Wrap(host.EUNAVAILABLE, err, "%s is not available right now", provider)
}

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
		state, st, err := s.d.Store.CreateOAuthState(ctx, a.UserID, provider, req.RedirectURI, StateTTL)
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
	if err := checkDisplayName(l.DisplayName); err != nil {
		return Account{}, err
	}
	acc, created, err := s.d.Store.UpsertAccount(ctx, store.NewAccount{
		UserID: userID, Provider: provider, ExternalAccountID: l.ExternalAccountID,
		DisplayName: l.DisplayName, Credentials: l.Credentials,
	})
	if err != nil {
		return Account{}, err
	}
	s.d.Audit.Record(ctx, audit.Entry{
		Action: audit.IntegrationConnected, Actor: a, Provider: provider, TargetType: "account", TargetID: id(acc.ID),
		Details: map[string]any{"externalAccountId": l.ExternalAccountID, "created": created},
	})
	creds := l.Credentials
	if creds == nil {
		creds = map[string]string{} // none: nothing to decrypt again
	}
	out, err := s.withWebhookURL(ctx, acc, creds)
	if err != nil {
		return Account{}, err
	}
	out.SubscriptionError = s.subscribe(ctx, ad, out, creds)
	return out, nil
}

// subscribe asks the plugin to register the account's own webhook URL with its
// provider's cloud, when the account has one and the plugin can (sdk.Subscriber), and
// records the outcome on the account: the error a user sees, or none. It returns that
// error. A failure is retried at the account's next discovery.
func (s *Service) subscribe(ctx context.Context, ad Adapter, acc Account, creds map[string]string) string {
	sub, ok := ad.(Subscriber)
	if !ok || acc.WebhookURL == "" {
		return ""
	}
	err := sub.Subscribe(ctx, sdk.SubscribeRequest{
		Account:           sdk.Account{ID: id(acc.ID), ExternalAccountID: acc.ExternalAccountID, Credentials: creds},
		AccountWebhookURL: acc.WebhookURL,
	})
	msg := ""
	if err != nil && !sdk.IsKind(err, sdk.KindUnsupported) { // Unsupported: nothing to register
		msg = "could not register the account's webhook URL with " + acc.Provider + ": " + s.subscriptionMessage(acc.Provider, "subscribe", err)
	}
	if msg != acc.SubscriptionError {
		if serr := s.d.Store.SetSubscriptionError(ctx, acc.ID, msg); serr != nil {
			s.log.Error("record subscription outcome", "account", acc.ID, "error", serr)
		}
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
		return se.Message
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

func stateError(msg string) error {
	return host.Errorf(host.EINVALID, "%s", msg).WithType(TypeStateInvalid)
}

// TypeCallbackUnauthenticated is the problem of a callback that no user's credential
// vouches for.
const TypeCallbackUnauthenticated = "oauth-callback-unauthenticated"

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
	value := query["state"]
	if value == "" {
		return Account{}, stateError("the state parameter is missing")
	}
	st, err := s.d.Store.GetOAuthState(ctx, value)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Account{}, stateError("unknown authorization state")
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
			return Account{}, stateError("unknown authorization state")
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
		return Account{}, s.pluginError(provider, "callback", err)
	}
	return s.link(ctx, *by, st.UserID, provider, ad, l)
}

// Accounts lists the actor's connected accounts of enabled providers.
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
		if acc.Status == store.AccountDisconnected || !s.Enabled(acc.Provider) {
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

// ownedAccount returns the actor's own, connected account of an enabled provider.
// Another user's account is ENOTFOUND, like a missing one.
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
	if _, err := s.enabled(acc.Provider); err != nil {
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
// reconnecting. The old one stays accepted for the overlap (Deps.SecretOverlap), so the
// sender can switch, or sign with both (Standard Webhooks' multiple signatures); then it
// is retired.
func (s *Service) RotateWebhookSecret(ctx context.Context, a auth.Actor, accountID int64) (RotatedSecret, error) {
	acc, err := s.ownedAccount(ctx, a, accountID)
	if err != nil {
		return RotatedSecret{}, err
	}
	secret, err := signature.GenerateSecret()
	if err != nil {
		return RotatedSecret{}, host.Wrap(host.EINTERNAL, err, "generate a secret")
	}
	overlap := s.d.SecretOverlap
	if overlap <= 0 {
		overlap = DefaultSecretOverlap
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
func (s *Service) Disconnect(ctx context.Context, a auth.Actor, accountID int64) error {
	acc, err := s.ownedAccount(ctx, a, accountID)
	if err != nil {
		return err
	}
	unsubErr := s.unsubscribe(ctx, acc)
	res, err := s.d.Store.DisconnectAccount(ctx, acc.ID)
	if err != nil {
		return err
	}
	details := map[string]any{"unlinkedDevices": res.UnlinkedDevices}
	if unsubErr != "" {
		details["unsubscribeError"] = unsubErr
	}
	s.d.Audit.Record(ctx, audit.Entry{
		Action: audit.IntegrationDisconnected, Actor: a, Provider: acc.Provider, TargetType: "account", TargetID: id(acc.ID),
		Details: details,
	})
	return nil
}

// Discover asks the provider for the account's devices, stores them and any refreshed
// credentials (also when the call failed after refreshing them). Credentials the
// provider rejects mark the account reauth_required.
func (s *Service) Discover(ctx context.Context, a auth.Actor, accountID int64) ([]Device, error) {
	acc, err := s.ownedAccount(ctx, a, accountID)
	if err != nil {
		return nil, err
	}
	return s.discover(ctx, a, acc)
}

// discover runs a discovery of acc for Discover, or for a reload (reverify).
func (s *Service) discover(ctx context.Context, a auth.Actor, acc store.Account) ([]Device, error) {
	ad, err := s.adapter(acc.Provider)
	if err != nil {
		return nil, err
	}
	creds, err := s.d.Store.AccountCredentials(ctx, acc.ID)
	if err != nil {
		return nil, err
	}
	res, err := ad.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: sdk.Account{
		ID: id(acc.ID), ExternalAccountID: acc.ExternalAccountID, Credentials: creds,
	}})
	if err != nil {
		// A plugin that refreshed the tokens and then failed hands them back on the
		// error. Store them whatever the error: with rotating refresh tokens the stored
		// pair is already dead, and dropping these would lock the account out.
		if fresh, ok := sdk.RefreshedCredentialsOf(err); ok {
			if serr := s.d.Store.UpdateAccountCredentials(ctx, acc.ID, fresh); serr != nil {
				s.log.Error("store refreshed credentials of a failed discovery", "account", acc.ID, "error", serr)
			}
		}
		if sdk.IsKind(err, sdk.KindReauth) {
			if serr := s.d.Store.SetAccountStatus(ctx, acc.ID, store.AccountReauthRequired); serr != nil {
				s.log.Error("mark account reauth_required", "account", acc.ID, "error", serr)
			}
		}
		return nil, s.pluginError(acc.Provider, "discover devices", err)
	}
	// Refreshed tokens are stored before anything else: the provider may already have
	// revoked the old ones.
	if res.RefreshedCredentials != nil {
		if err := s.d.Store.UpdateAccountCredentials(ctx, acc.ID, res.RefreshedCredentials); err != nil {
			return nil, err
		}
	}
	if acc.Status == store.AccountReauthRequired {
		if err := s.d.Store.SetAccountStatus(ctx, acc.ID, store.AccountActive); err != nil {
			return nil, err
		}
	}
	if acc.SubscriptionError != "" {
		// The registration failed before: the account's discovery is when it is retried.
		if res.RefreshedCredentials != nil {
			creds = res.RefreshedCredentials
		}
		view, err := s.withWebhookURL(ctx, acc, creds)
		if err != nil {
			return nil, err
		}
		s.subscribe(ctx, ad, view, creds)
	}
	nds := make([]store.NewDevice, 0, len(res.Devices))
	for _, d := range res.Devices {
		if d.ProviderDeviceID == "" {
			s.log.Warn("plugin reported a device without id; skipped", "provider", acc.Provider)
			continue
		}
		nds = append(nds, store.NewDevice{ProviderDeviceID: d.ProviderDeviceID, Name: d.Name, Model: d.Model, Metadata: d.Metadata,
			Verified: d.Verified, Suggestion: pools.CleanSuggestion(d.Suggested)})
	}
	ups, err := s.d.Store.UpsertDevices(ctx, acc.ID, nds)
	if err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(ups))
	for _, u := range ups {
		if u.Created {
			s.d.Audit.Record(ctx, audit.Entry{
				Action: audit.DeviceDiscovered, Actor: a, Provider: acc.Provider, TargetType: "device", TargetID: id(u.ID),
				Details: map[string]any{"accountId": acc.ID, "providerDeviceId": u.ProviderDeviceID},
			})
		}
		out = append(out, deviceOf(u.Device))
	}
	return out, nil
}

// Devices lists the account's known devices.
func (s *Service) Devices(ctx context.Context, a auth.Actor, accountID int64) ([]Device, error) {
	acc, err := s.ownedAccount(ctx, a, accountID)
	if err != nil {
		return nil, err
	}
	ds, err := s.d.Store.ListDevices(ctx, acc.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(ds))
	for _, d := range ds {
		out = append(out, deviceOf(d))
	}
	return out, nil
}

// device returns a device of an enabled provider when the actor may know it exists:
// it owns the device's account, or is a member of the pool it is linked to.
func (s *Service) device(ctx context.Context, a auth.Actor, deviceID int64) (store.Device, error) {
	if err := requireUser(a); err != nil {
		return store.Device{}, err
	}
	d, err := s.d.Store.GetDevice(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Device{}, host.Errorf(host.ENOTFOUND, "no such device")
	}
	if err != nil {
		return store.Device{}, err
	}
	visible := d.OwnerID == a.UserID
	if !visible && d.PoolID != 0 {
		_, rerr := s.d.Pools.RoleOf(ctx, a, d.PoolID)
		visible = rerr == nil
	}
	if !visible || d.AccountStatus == store.AccountDisconnected && d.OwnerID != a.UserID {
		return store.Device{}, host.Errorf(host.ENOTFOUND, "no such device")
	}
	if _, err := s.enabled(d.Provider); err != nil {
		return store.Device{}, err
	}
	return d, nil
}

// Link links a device to a pool. It takes both ownership of the device's account and
// the editor role on the pool.
func (s *Service) Link(ctx context.Context, a auth.Actor, deviceID, poolID int64) (Device, error) {
	d, err := s.device(ctx, a, deviceID)
	if err != nil {
		return Device{}, err
	}
	if d.OwnerID != a.UserID {
		return Device{}, host.Errorf(host.EFORBIDDEN, "only the owner of the device's account may link it")
	}
	if d.AccountStatus == store.AccountDisconnected {
		return Device{}, host.Errorf(host.ECONFLICT, "the device's account is disconnected; reconnect it first")
	}
	if poolID <= 0 {
		return Device{}, host.Errorf(host.EINVALID, "poolId is required")
	}
	if _, err := s.d.Pools.Require(ctx, a, poolID, pools.Editor); err != nil {
		return Device{}, err
	}
	prev, err := s.d.Store.LinkDevice(ctx, d.ID, poolID, a.UserID)
	if err != nil {
		return Device{}, err
	}
	if prev != poolID {
		s.d.Audit.Record(ctx, audit.Entry{
			Action: audit.DeviceLinked, Actor: a, Provider: d.Provider, TargetType: "device", TargetID: id(d.ID),
			Details: map[string]any{"poolId": poolID, "previousPoolId": prev},
		})
	}
	// Just authorized above: the caller owns the account and edits the pool.
	d.PoolID, d.LinkActive = poolID, true
	return deviceOf(d), nil
}

// Unlink removes a device's pool link. The device's account owner may, and so may an
// editor of the pool it feeds. poolID, when not 0, must be the current link.
func (s *Service) Unlink(ctx context.Context, a auth.Actor, deviceID, poolID int64) error {
	d, err := s.device(ctx, a, deviceID)
	if err != nil {
		return err
	}
	if d.PoolID == 0 {
		return host.Errorf(host.ENOTFOUND, "the device is not linked to a pool")
	}
	if poolID != 0 && poolID != d.PoolID {
		return host.Errorf(host.ECONFLICT, "the device is linked to another pool")
	}
	if d.OwnerID != a.UserID {
		if _, err := s.d.Pools.Require(ctx, a, d.PoolID, pools.Editor); err != nil {
			return err
		}
	}
	prev, err := s.d.Store.UnlinkDevice(ctx, d.ID)
	if errors.Is(err, store.ErrNotFound) {
		return host.Errorf(host.ENOTFOUND, "the device is not linked to a pool")
	}
	if err != nil {
		return err
	}
	s.d.Audit.Record(ctx, audit.Entry{
		Action: audit.DeviceUnlinked, Actor: a, Provider: d.Provider, TargetType: "device", TargetID: id(d.ID),
		Details: map[string]any{"poolId": prev},
	})
	return nil
}

// Control is the one door for write/control calls to a provider (none exist in the
// adapter contract yet). It refuses unless the operator set access = "read-write" and
// the plugin declares the Write capability, so a read-only provider can never receive
// one, whatever code path asks.
func (s *Service) Control(ctx context.Context, provider string, call func(ctx context.Context, ad Adapter) error) error {
	p, err := s.enabled(provider)
	if err != nil {
		return err
	}
	if p.Access != config.AccessReadWrite {
		return host.Errorf(host.EFORBIDDEN, "provider %q is read-only", provider).WithType(TypeReadOnly)
	}
	ad, err := s.adapter(provider)
	if err != nil {
		return err
	}
	desc, err := ad.Describe(ctx)
	if err != nil {
		return s.pluginError(provider, "describe", err)
	}
	if !desc.Capabilities.Write {
		return host.Errorf(host.EFORBIDDEN, "provider %q does not offer write calls", provider).WithType(TypeReadOnly)
	}
	if err := call(ctx, ad); err != nil {
		return s.pluginError(provider, "control", err)
	}
	return nil
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

// ProviderStatuses lists every configured provider, enabled or not, with its flags and
// its plugin's supervision state. Admins only.
func (s *Service) ProviderStatuses(ctx context.Context, a auth.Actor) ([]ProviderStatus, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	cfg := s.d.Config()
	if cfg == nil {
		return nil, nil
	}
	var states map[string]PluginState
	if s.d.Plugins != nil {
		states = s.d.Plugins.States()
	}
	out := make([]ProviderStatus, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		ps := ProviderStatus{ID: p.ID, Enabled: p.Enabled, Stage: p.Stage, Access: p.Access, Webhooks: p.Webhooks, Poll: p.Poll, State: "disabled", PinnedSHA256: p.SHA256}
		if p.InPilot() {
			ps.PilotUsers = append([]string{}, p.PilotUsers...)
		}
		if st, ok := states[p.ID]; ok {
			ps.State, ps.Restarts, ps.LastError, ps.Version, ps.PID = st.State, st.Restarts, st.LastError, st.Version, st.PID
			if !st.Since.IsZero() {
				since := st.Since
				ps.Since = &since
			}
			ps.SHA256, ps.ReloadWarning, ps.PendingConfigRefused = st.SHA256, st.Warning, st.Refused
		} else if p.Enabled {
			ps.State = "unknown"
		}
		out = append(out, ps)
	}
	return out, nil
}

// Reload re-reads the configuration and puts it in force, then reports what changed
// and the providers. Admins and the system (SIGHUP: system:signal) only; audited
// either way, a refused file included.
func (s *Service) Reload(ctx context.Context, a auth.Actor) (ReloadReport, error) {
	if err := requireAdmin(a); err != nil {
		return ReloadReport{}, err
	}
	if s.d.Reload == nil {
		return ReloadReport{}, host.Errorf(host.EUNAVAILABLE, "reload is not available")
	}
	old := s.d.Config()
	rep, rerr := s.d.Reload(ctx)
	details := map[string]any{"ok": rerr == nil}
	if rerr != nil {
		details["error"] = host.ErrorMessage(rerr)
	} else {
		details["changed"] = nonNilStrings(rep.Changed)
		if len(rep.RestartRequired) > 0 {
			details["restartRequired"] = rep.RestartRequired
		}
		reverified, warnings := s.reverify(ctx, a, old, s.d.Config())
		if len(reverified) > 0 {
			details["reverifiedAccounts"] = reverified
		}
		rep.Warnings = append(rep.Warnings, warnings...)
	}
	var statuses []ProviderStatus
	if rerr == nil {
		var err error
		if statuses, err = s.ProviderStatuses(ctx, a); err != nil {
			return ReloadReport{}, err
		}
		// "ok" says the file was accepted; these say what it left wrong.
		notRunning, kept := ReloadTrouble(statuses)
		if len(notRunning) > 0 {
			details["notRunning"] = notRunning
		}
		if len(kept) > 0 {
			details["keptOldProcess"] = kept
		}
	}
	s.d.Audit.Record(ctx, audit.Entry{Action: audit.ProviderReloaded, Actor: a, TargetType: "config", Details: details})
	if rerr != nil {
		return ReloadReport{}, rerr
	}
	rep.Changed, rep.RestartRequired, rep.Warnings = nonNilStrings(rep.Changed), nonNilStrings(rep.RestartRequired), nonNilStrings(rep.Warnings)
	rep.Providers = statuses
	return rep, nil
}

// ReloadTrouble names, after a reload, the enabled providers whose plugin is not
// running (with its state and last error) and those that kept their old process (with
// why): what the reload's audit row and the console's banner must say.
func ReloadTrouble(ps []ProviderStatus) (notRunning, keptOldProcess map[string]string) {
	notRunning, keptOldProcess = map[string]string{}, map[string]string{}
	for _, p := range ps {
		if p.Enabled && p.State != "running" {
			why := p.State
			if p.LastError != "" {
				why += ": " + p.LastError
			}
			notRunning[p.ID] = why
		}
		// A stale file kept its process; a refused block kept the previous block (and
		// stays refused across restarts of the process).
		var why []string
		for _, w := range []string{p.ReloadWarning, p.PendingConfigRefused} {
			if w != "" {
				why = append(why, w)
			}
		}
		if len(why) > 0 {
			keptOldProcess[p.ID] = strings.Join(why, "; ")
		}
	}
	return notRunning, keptOldProcess
}

// nonNilStrings makes an empty list [] rather than null in JSON.
func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
