package template

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/command"
	"github.com/poolhost/poolhost/sdk/signature"
)

// ID is the provider id. It must match the `provider "<id>"` block in the host config
// and the binary name poolhost-provider-<id>.
const ID = "template"

// Version is the plugin's own version, shown to operators by `poolhost plugins check`.
const Version = "0.1.0"

// Settings and secrets this adapter reads from Configure. Settings are plain config
// values; secrets come from the host's secret sources (env or file), never the config
// file in clear.
const (
	SettingBaseURL  = "base_url"  // required: e.g. https://api.acme-pool.example
	SettingClientID = "client_id" // required: the OAuth client registered with Acme
	SettingScope    = "scope"     // optional: OAuth scope, default DefaultScope

	SecretClientSecret  = "client_secret"  // required: the OAuth client's secret
	SecretWebhookSecret = "webhook_secret" // optional: whsec_… secret for the provider-level webhook URL
)

// DefaultScope asks Acme for read access only: poolhost providers are read-only unless
// an operator approves a write use case.
const DefaultScope = "devices:read readings:read"

// MinPollInterval is what Acme's quota tolerates per account. The host never polls an
// account more often than this, whatever the operator configures.
const MinPollInterval = 5 * time.Minute

// Compile-time proof that the adapter implements the contract and both optional
// interfaces. Keep these lines when you copy the template: a missing method then fails
// the build instead of silently dropping a capability.
var (
	_ sdk.Adapter       = (*Adapter)(nil)
	_ sdk.Poller        = (*Adapter)(nil)
	_ sdk.HealthChecker = (*Adapter)(nil)
)

// Adapter is the Acme Pool Cloud provider. Create it with New; the host configures it
// through Configure before any other call (and again on every reload).
type Adapter struct {
	// client makes upstream calls. It has no timeout of its own on purpose: every call
	// runs under the context deadline the host sets per method.
	client *http.Client
	// now is the clock, replaceable in tests (token expiry is computed from it).
	now func() time.Time

	// mu guards cfg: Configure may run again (on reload) while other calls are in flight.
	mu  sync.RWMutex
	cfg *config
}

// config is the validated form of ConfigureRequest.
type config struct {
	baseURL      *url.URL
	clientID     string
	clientSecret string
	scope        string
	// webhook verifies deliveries to the provider-level URL; nil when no webhook_secret
	// is configured (only account-scoped URLs work then).
	webhook *signature.StandardWebhooks
}

// New returns an unconfigured adapter. main passes it to sdk.Serve.
func New() *Adapter {
	// sdk.HTTPClient: the upstream calls join the host's trace when tracing is on.
	return &Adapter{client: sdk.HTTPClient(0), now: time.Now}
}

// Describe tells the host who we are. The host refuses to run the plugin if this
// contradicts its config (say, poll = true for a provider without Poll).
func (a *Adapter) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{
		ID:              ID,
		Version:         Version,
		ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{
			Connect:         sdk.ConnectOAuth2,
			Webhook:         true,
			Poll:            true,
			MinPollInterval: MinPollInterval,
			// Where the signature travels: the conformance kit puts garbage there.
			SignatureHeaders: signature.StandardWebhooksHeaders,
			// Write/control (command.go): only sent when the operator approves them.
			Write:    true,
			Commands: []string{command.PumpSet},
		},
		// Declare every key you read: the host then refuses a typo in the operator's
		// config at start, fills in defaults, and lists connect inputs to apps.
		Settings: []sdk.Option{
			{Key: SettingBaseURL, Type: sdk.OptionURL, Required: true, Help: "The provider's API root."},
			{Key: SettingClientID, Required: true, Help: "The OAuth client id the provider issued."},
			{Key: SettingScope, Help: "OAuth scopes to request, space-separated."},
			{Key: SecretClientSecret, Secret: true, Required: true, Help: "The OAuth client secret."},
			{Key: SecretWebhookSecret, Secret: true, Help: "The secret the provider signs webhooks with."},
		},
	}, nil
}

// Configure validates and installs the provider-level configuration. Validate
// everything here: an error now is reported to the operator at start, which beats a
// confusing failure on the first user's connect.
func (a *Adapter) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	base, err := url.Parse(req.Settings[SettingBaseURL])
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return sdk.InvalidInput("setting %s must be an absolute http(s) URL", SettingBaseURL)
	}
	cfg := &config{
		baseURL:      base,
		clientID:     req.Settings[SettingClientID],
		clientSecret: req.Secrets[SecretClientSecret],
		scope:        req.Settings[SettingScope],
	}
	if cfg.clientID == "" {
		return sdk.InvalidInput("setting %s is required", SettingClientID)
	}
	if cfg.clientSecret == "" {
		return sdk.InvalidInput("secret %s is required", SecretClientSecret)
	}
	if ws := req.Secrets[SecretWebhookSecret]; ws != "" {
		if cfg.webhook, err = signature.NewStandardWebhooks(ws); err != nil {
			return sdk.InvalidInput("secret %s: %v", SecretWebhookSecret, err)
		}
	}
	if cfg.scope == "" {
		cfg.scope = DefaultScope
	}
	a.mu.Lock()
	a.cfg = cfg
	a.mu.Unlock()
	return nil
}

// config returns the current configuration, or a temporary error before Configure: the
// host configures right after start, so a call that races it is worth retrying.
func (a *Adapter) config() (*config, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.cfg == nil {
		return nil, sdk.Temporary("provider %s is not configured yet", ID)
	}
	return a.cfg, nil
}

// Health answers the host's liveness probe. It deliberately does not call Acme: an
// upstream outage must not make the host restart a perfectly healthy plugin (upstream
// failures surface as temporary errors on the calls themselves).
func (a *Adapter) Health(context.Context) error {
	if _, err := a.config(); err != nil {
		return fmt.Errorf("health: %w", err)
	}
	return nil
}
