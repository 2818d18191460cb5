package generic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"strings"
	"sync"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/declared"
	"github.com/poolhost/poolhost/sdk/signature"
)

// ID is the provider id.
const ID = "generic"

// Version is the plugin version.
const Version = "0.1.0"

// SecretWebhookSecret names the optional provider-level secret (Configure) and the
// account's own secret in the linkage credentials.
const SecretWebhookSecret = "webhook_secret"

// Connect input keys. The declared devices are kept under the same key in the
// credentials.
const (
	InputDevices = declared.Key
	InputName    = "name"
)

var (
	_ sdk.Adapter       = (*Adapter)(nil)
	_ sdk.HealthChecker = (*Adapter)(nil)
)

// Adapter is the generic signed-webhook provider. It has no upstream and polls nothing.
type Adapter struct {
	sdk.UnsupportedAdapter // Callback: there is no redirect flow

	// mu guards webhook: Configure runs again on reload while deliveries are verified.
	mu      sync.RWMutex
	webhook *signature.StandardWebhooks // provider-level verifier; nil when unset
	fleet   declared.Fleet              // the operator's own devices

	// accounts are the verifiers of account-scoped URLs' secrets, by secret: building one
	// (decoding the secret, a new HMAC) for every delivery was about 25 µs of the plugin's
	// CPU. Keyed by the secret itself, so a rotated secret gets a verifier of its own and
	// the old one is never used for it; at most maxAccountVerifiers, then dropped whole.
	accountsMu sync.Mutex
	accounts   map[string]*signature.StandardWebhooks
}

// maxAccountVerifiers bounds the verifiers kept for account-scoped secrets (a few KB
// each with their pooled HMAC states).
const maxAccountVerifiers = 1024

// accountVerifier returns the verifier of an account-scoped secret, built once.
func (a *Adapter) accountVerifier(secret string) (*signature.StandardWebhooks, error) {
	a.accountsMu.Lock()
	defer a.accountsMu.Unlock()
	if v, ok := a.accounts[secret]; ok {
		return v, nil
	}
	v, err := signature.NewStandardWebhooks(secret)
	if err != nil {
		return nil, err
	}
	if a.accounts == nil || len(a.accounts) >= maxAccountVerifiers {
		a.accounts = map[string]*signature.StandardWebhooks{}
	}
	a.accounts[secret] = v
	return v, nil
}

// New returns the adapter.
func New() *Adapter { return &Adapter{} }

// Describe reports a webhook-only provider whose accounts are webhook endpoints.
func (a *Adapter) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{
		ID:              ID,
		Version:         Version,
		ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{
			Connect: sdk.ConnectWebhookSecret,
			Webhook: true,
		},
		Settings: append([]sdk.Option{
			{Key: SecretWebhookSecret, Secret: true, Help: "Standard Webhooks secret (whsec_…) of the provider-level URL; without it only account URLs work."},
		}, declared.FleetSettings()...),
		ConnectInputs: append([]sdk.Option{
			{Key: InputName, Help: "A name for this endpoint."},
		}, declared.Inputs()...),
	}, nil
}

// Configure installs the optional provider-level secret. Without it the provider-level
// webhook URL rejects everything and only account-scoped URLs work.
func (a *Adapter) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var v *signature.StandardWebhooks
	if secret := req.Secrets[SecretWebhookSecret]; secret != "" {
		var err error
		// A typo in the operator's secret file shows here, at start, rather than as
		// every delivery rejected.
		if v, err = signature.NewStandardWebhooks(secret); err != nil {
			return sdk.InvalidInput("secret %s: %v", SecretWebhookSecret, err)
		}
	}
	fleet, err := declared.NewFleet(req)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.webhook, a.fleet = v, fleet
	a.mu.Unlock()
	return nil
}

// Health has nothing to probe: the plugin is healthy while it answers.
func (a *Adapter) Health(context.Context) error { return nil }

// Connect links an account at once with a freshly generated secret.
func (a *Adapter) Connect(_ context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
	devices, err := declared.Parse(req.Input[InputDevices])
	if err != nil {
		return sdk.ConnectResult{}, err
	}
	secret, err := signature.GenerateSecret()
	if err != nil {
		return sdk.ConnectResult{}, sdk.Temporary("generate webhook secret: %v", err)
	}
	// The external id only has to be unique and stable for this linkage; there is no
	// provider account behind it.
	id, err := randomHex(12)
	if err != nil {
		return sdk.ConnectResult{}, err
	}
	name := strings.TrimSpace(req.Input[InputName])
	if name == "" {
		name = "Generic webhook"
	}
	creds := sdk.Credentials{
		SecretWebhookSecret: secret,
		declared.Key:        declared.Join(devices),
	}
	if mark, ok := a.fleetOf().Admit(req.Input); ok {
		maps.Copy(creds, mark)
	} else if req.Input[declared.FleetKeyInput] != "" {
		return sdk.ConnectResult{}, sdk.InvalidInput("wrong %s", declared.FleetKeyInput)
	}
	return sdk.ConnectResult{Linkage: &sdk.Linkage{
		ExternalAccountID: "gen_" + id,
		DisplayName:       name,
		Credentials:       creds,
	}}, nil
}

// DiscoverDevices returns the devices declared at Connect — not verified: they receive
// deliveries only on the account's own URL — and, for the account the operator's fleet
// key made, the fleet's devices, verified (see declared.Fleet).
func (a *Adapter) DiscoverDevices(_ context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	ds, err := declared.Devices(req.Account.Credentials[declared.Key], "generic webhook device")
	if err != nil {
		return sdk.DiscoverResult{}, err
	}
	return sdk.DiscoverResult{Devices: declared.Merge(ds, a.fleetOf().Devices(req.Account, "generic webhook device"))}, nil
}

func (a *Adapter) fleetOf() declared.Fleet {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.fleet
}

// VerifyWebhook checks the Standard Webhooks signature with the secret that applies: the
// account's own on an account-scoped URL, the provider-level one otherwise. It never
// falls back from one to the other.
func (a *Adapter) VerifyWebhook(_ context.Context, req sdk.WebhookRequest) error {
	var v *signature.StandardWebhooks
	if req.Account != nil {
		secret, err := signature.AccountSecret(req, SecretWebhookSecret)
		if err != nil {
			return err
		}
		if v, err = a.accountVerifier(secret); err != nil {
			return sdk.Rejected("account webhook secret is unusable")
		}
	} else {
		a.mu.RLock()
		v = a.webhook
		a.mu.RUnlock()
		if v == nil {
			return sdk.Rejected("no provider webhook secret is configured")
		}
	}
	// Checked against the host's receive time (req.ReceivedAt), ±5 minutes.
	return signature.VerifyRequest(v, req)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", sdk.Temporary("generate id: %v", err)
	}
	return hex.EncodeToString(b), nil
}
