package ttn

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"net/http"
	"strings"
	"sync"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/declared"
	"github.com/poolhost/poolhost/sdk/signature"
)

// ID is the provider id.
const ID = "ttn"

// Version is the plugin version.
const Version = "0.1.0"

// Settings, secret and Connect input keys. The declared devices are kept under the same
// key in the credentials.
const (
	SettingAuthHeader    = "auth_header"
	SettingAuthScheme    = "auth_scheme"
	SettingFieldMap      = "field_map"
	SettingDeviceIDField = "device_id_field"
	SettingSimulated     = "simulated"
	SettingRSSI          = "rssi"

	SecretWebhookSecret = "webhook_secret"

	InputDevices = declared.Key
	InputName    = "name"
)

var (
	_ sdk.Adapter       = (*Adapter)(nil)
	_ sdk.HealthChecker = (*Adapter)(nil)
)

// Adapter is The Things Stack provider. It is webhook only.
type Adapter struct {
	sdk.UnsupportedAdapter // Callback: no redirect flow

	mu  sync.RWMutex
	cfg *config
	// http sends downlinks; nil is defaultClient (tests may set one).
	http *http.Client
}

// config is the validated form of ConfigureRequest.
type config struct {
	header, scheme string
	provider       *signature.SharedSecret // nil without a provider-level secret
	fields         fieldMap                // defaults merged with field_map
	appFields      map[string]fieldMap     // fields merged with field_map.<app>
	useDevEUI      bool
	keepSimulated  bool
	rssi           bool
	fleet          declared.Fleet // the operator's own devices
	serverURL      string         // downlinks; "" when commands are not configured
	ports          map[string]int // command → FPort
}

// New returns the adapter, usable with defaults until Configure says otherwise.
func New() *Adapter {
	cfg, _ := parseConfig(sdk.ConfigureRequest{}) // the defaults always parse
	return &Adapter{cfg: cfg}
}

// Describe reports a webhook-only provider whose accounts are webhook endpoints.
func (a *Adapter) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{
		ID:              ID,
		Version:         Version,
		ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{Connect: sdk.ConnectWebhookSecret, Webhook: true, Write: true,
			Commands: supportedCommands},
		Settings: append([]sdk.Option{
			{Key: SettingAuthHeader, Default: "Authorization", Help: "The header TTN's webhook sends the secret in."},
			{Key: SettingAuthScheme, Help: `The scheme before the secret; "Bearer" when the header is Authorization, none otherwise.`},
			{Key: SettingFieldMap, Help: "Decoded-payload field to metric mappings, e.g. \"ph=ph,temp=water_temperature\"."},
			{Key: SettingFieldMap + ".*", Help: "The field map of one TTN application, merged over field_map."},
			{Key: SettingDeviceIDField, Default: "device_id", Help: "Which TTN id names a device: device_id or dev_eui."},
			{Key: SettingSimulated, Default: "skip", Help: "Simulated uplinks: skip, or keep them marked suspect."},
			{Key: SettingRSSI, Type: sdk.OptionBool, Default: "false", Help: "Also store the gateway RSSI as a reading."},
			{Key: SecretWebhookSecret, Secret: true, Help: "The provider-level secret; without it only account URLs work."},
		}, append(declared.FleetSettings(), commandSettings()...)...),
		ConnectInputs: append(append([]sdk.Option{
			{Key: InputName, Help: "A name for this endpoint."},
		}, declared.Inputs()...), commandInputs()...),
	}, nil
}

// Configure validates the settings; a bad field map is reported at start, not as
// readings silently missing later.
func (a *Adapter) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	cfg, err := parseConfig(req)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.cfg = cfg
	a.mu.Unlock()
	return nil
}

func (a *Adapter) config() *config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg
}

func parseConfig(req sdk.ConfigureRequest) (*config, error) {
	s := req.Settings
	cfg := &config{header: "Authorization", scheme: "Bearer"}
	if h := strings.TrimSpace(s[SettingAuthHeader]); h != "" {
		cfg.header = h
		if !strings.EqualFold(h, "Authorization") {
			cfg.scheme = ""
		}
	}
	if sc, ok := s[SettingAuthScheme]; ok {
		cfg.scheme = strings.TrimSpace(sc)
	}
	if secret := req.Secrets[SecretWebhookSecret]; secret != "" {
		v, err := signature.NewSharedSecret(secret, cfg.header, cfg.scheme)
		if err != nil {
			return nil, sdk.InvalidInput("secret %s: %v", SecretWebhookSecret, err)
		}
		cfg.provider = v
	}

	fields, err := defaultFields.merge(s[SettingFieldMap])
	if err != nil {
		return nil, sdk.InvalidInput("setting %s: %v", SettingFieldMap, err)
	}
	cfg.fields = fields
	cfg.appFields = map[string]fieldMap{}
	for k, v := range s {
		app, ok := strings.CutPrefix(k, SettingFieldMap+".")
		if !ok {
			continue
		}
		if cfg.appFields[app], err = fields.merge(v); err != nil {
			return nil, sdk.InvalidInput("setting %s: %v", k, err)
		}
	}

	switch s[SettingDeviceIDField] {
	case "", "device_id":
	case "dev_eui":
		cfg.useDevEUI = true
	default:
		return nil, sdk.InvalidInput("setting %s must be device_id or dev_eui", SettingDeviceIDField)
	}
	switch s[SettingSimulated] {
	case "", "skip":
	case "suspect":
		cfg.keepSimulated = true
	default:
		return nil, sdk.InvalidInput("setting %s must be skip or suspect", SettingSimulated)
	}
	switch s[SettingRSSI] {
	case "", "false":
	case "true":
		cfg.rssi = true
	default:
		return nil, sdk.InvalidInput("setting %s must be true or false", SettingRSSI)
	}
	if cfg.fleet, err = declared.NewFleet(req); err != nil {
		return nil, err
	}
	cfg.serverURL = strings.TrimRight(strings.TrimSpace(s[SettingServerURL]), "/")
	if cfg.ports, err = parsePorts(s[SettingCommandPorts]); err != nil {
		return nil, sdk.InvalidInput("setting %s: %v", SettingCommandPorts, err)
	}
	return cfg, nil
}

// Health has nothing to probe: the plugin is healthy while it answers.
func (a *Adapter) Health(context.Context) error { return nil }

// Connect links an account at once with a freshly generated secret for the header.
func (a *Adapter) Connect(_ context.Context, req sdk.ConnectRequest) (sdk.ConnectResult, error) {
	devices, err := declared.Parse(req.Input[InputDevices])
	if err != nil {
		return sdk.ConnectResult{}, err
	}
	secret, err := randomBytes(32)
	if err != nil {
		return sdk.ConnectResult{}, err
	}
	id, err := randomBytes(12)
	if err != nil {
		return sdk.ConnectResult{}, err
	}
	name := strings.TrimSpace(req.Input[InputName])
	if name == "" {
		name = "The Things Stack webhook"
	}
	creds := sdk.Credentials{
		// URL-safe base64 without padding: pasted into the stack's header field as is.
		SecretWebhookSecret: base64.RawURLEncoding.EncodeToString(secret),
		declared.Key:        declared.Join(devices),
	}
	if err := linkInputs(req.Input, creds); err != nil {
		return sdk.ConnectResult{}, err
	}
	if mark, ok := a.fleetOf().Admit(req.Input); ok {
		maps.Copy(creds, mark)
	} else if req.Input[declared.FleetKeyInput] != "" {
		return sdk.ConnectResult{}, sdk.InvalidInput("wrong %s", declared.FleetKeyInput)
	}
	return sdk.ConnectResult{Linkage: &sdk.Linkage{
		ExternalAccountID: "ttn_" + hex.EncodeToString(id),
		DisplayName:       name,
		Credentials:       creds,
	}}, nil
}

// DiscoverDevices returns the devices declared at Connect — not verified: they receive
// deliveries only on the account's own URL — and, for the account the operator's fleet
// key made, the fleet's devices, verified (see declared.Fleet).
func (a *Adapter) DiscoverDevices(_ context.Context, req sdk.DiscoverRequest) (sdk.DiscoverResult, error) {
	ds, err := declared.Devices(req.Account.Credentials[declared.Key], "LoRaWAN end device")
	if err != nil {
		return sdk.DiscoverResult{}, err
	}
	return sdk.DiscoverResult{Devices: declared.Merge(ds, a.fleetOf().Devices(req.Account, "LoRaWAN end device"))}, nil
}

func (a *Adapter) fleetOf() declared.Fleet { return a.config().fleet }

// VerifyWebhook checks the shared-secret header with the secret that applies: the
// account's own on an account-scoped URL, the provider-level one otherwise, never one
// in place of the other.
func (a *Adapter) VerifyWebhook(_ context.Context, req sdk.WebhookRequest) error {
	cfg := a.config()
	v := cfg.provider
	if req.Account != nil {
		secret, err := signature.AccountSecret(req, SecretWebhookSecret)
		if err != nil {
			return err
		}
		if v, err = signature.NewSharedSecret(secret, cfg.header, cfg.scheme); err != nil {
			return sdk.Rejected("account webhook secret is unusable")
		}
	}
	if v == nil {
		return sdk.Rejected("no provider webhook secret is configured")
	}
	return signature.VerifyRequest(v, req)
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, sdk.Temporary("generate random bytes: %v", err)
	}
	return b, nil
}
