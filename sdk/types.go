package sdk

import (
	"net/http"
	"time"
)

// ProtocolVersion is the wire protocol version this SDK speaks. The host negotiates it
// in the go-plugin handshake and checks it again in Describe.
const ProtocolVersion = 1

// ConnectKind says how a user links a provider account.
type ConnectKind string

const (
	ConnectOAuth2        ConnectKind = "oauth2"         // redirect + Callback with a code
	ConnectAPIKey        ConnectKind = "api_key"        // the user pastes a key; Connect links at once
	ConnectWebhookSecret ConnectKind = "webhook_secret" // the account is a webhook endpoint with its own secret
	ConnectNone          ConnectKind = "none"           // no per-user linkage (provider-level webhooks only)
)

// Capabilities is what a plugin offers. The host checks it against the provider's config.
type Capabilities struct {
	Connect ConnectKind
	// Webhook: the plugin implements VerifyWebhook and Webhook.
	Webhook bool
	// Poll: the plugin implements [Poller].
	Poll bool
	// MinPollInterval is the shortest interval the provider's quota tolerates.
	MinPollInterval time.Duration
	// Write: the plugin can send write/control commands. Such calls are only made when
	// the operator sets access = "read-write".
	Write bool
	// Commands lists the sdk/command names the plugin can send (with Write set and the
	// adapter implementing [Commander]).
	Commands []string
	// SignatureHeaders names the request headers the plugin's webhook signature (and its
	// timestamp or id) travels in, e.g. "X-Acme-Signature". The conformance kit sends
	// garbage in them and expects a rejection, so a plugin that only checks a header is
	// present is caught; signature.StandardWebhooksHeaders are Standard Webhooks'.
	SignatureHeaders []string
}

// Description is a plugin's answer to Describe.
type Description struct {
	ID              string // provider id, e.g. "ondilo"; must match the config block
	Version         string // the plugin's own version, shown to operators
	ProtocolVersion int    // set to [ProtocolVersion]
	Capabilities    Capabilities
	// RequiredSettings and RequiredSecrets name the keys Configure must carry; the host
	// refuses to run the plugin when its config lacks one.
	RequiredSettings []string
	RequiredSecrets  []string
	// Settings declares every provider-level key the plugin reads: settings, and secrets
	// (Secret set). Once a plugin declares any, the host refuses a config block naming a
	// key it does not declare, or a value that does not parse as its Type, and fills in
	// the Default of an absent setting before Configure. Declaring none keeps the old
	// behaviour: nothing is checked.
	Settings []Option
	// ConnectInputs declares what a user gives at connect (api_key and webhook_secret
	// providers; oauth2 ones usually need none). GET /v1/providers lists them so apps
	// can draw the form; once any is declared, the host answers 400 to a connect that
	// lacks a required input, names an undeclared one or gives one that does not parse,
	// without calling Connect.
	ConnectInputs []Option
}

// OptionType is how an [Option]'s value is read. The host checks the value parses.
type OptionType string

const (
	OptionString   OptionType = "string"   // anything; also what an empty Type means
	OptionInt      OptionType = "int"      // a base-10 integer
	OptionBool     OptionType = "bool"     // true or false, as strconv.ParseBool reads it
	OptionDuration OptionType = "duration" // Go syntax, e.g. "15m" or "1h30m"
	OptionURL      OptionType = "url"      // an absolute http or https URL
)

// Option declares one key a plugin reads: a provider setting or secret, or a connect
// input. It is Mattermost's settings_schema, kept to what the host checks.
type Option struct {
	// Key is the setting, secret or input name. A key ending in ".*" declares every key
	// with that prefix, for families such as per-application maps ("field_map.*").
	Key  string
	Type OptionType
	// Default is used when the key is absent. Settings only, never secrets.
	Default string
	// Help is one sentence for the operator (settings) or the user (connect inputs).
	Help string
	// Secret: for settings, the key belongs in the config's secrets {} block; for inputs,
	// apps should mask it. Either way the host never echoes its value.
	Secret   bool
	Required bool
}

// ConfigureRequest carries provider-level configuration.
type ConfigureRequest struct {
	Settings map[string]string
	Secrets  map[string]string
}

// Credentials are a provider account's secrets (tokens, API keys). Their keys are the
// plugin's own business; the host stores the map encrypted and hands it back on every
// call for that account. A nil map in a result means "unchanged".
type Credentials map[string]string

// Account identifies a linked provider account in calls made on its behalf.
type Account struct {
	ID                string // the host's account id, opaque to the plugin
	ExternalAccountID string // the provider's own id for the account
	Credentials       Credentials
}

// ConnectRequest starts a linkage.
type ConnectRequest struct {
	// RedirectURI and State are set by the host for redirect flows; the authorize URL
	// must carry both unchanged.
	RedirectURI string
	State       string
	// Input is what the user supplied, e.g. {"api_key": "..."} for API-key providers.
	Input map[string]string
	// CodeChallenge and CodeChallengeMethod ("S256") are PKCE (RFC 7636), set by the
	// host for redirect flows. If the provider supports PKCE, put both on the authorize
	// URL as code_challenge and code_challenge_method; otherwise ignore them.
	CodeChallenge       string
	CodeChallengeMethod string
}

// ConnectResult is either a redirect or an immediate linkage, never both.
type ConnectResult struct {
	AuthorizeURL string
	Linkage      *Linkage
}

// CallbackRequest completes a redirect flow.
type CallbackRequest struct {
	Code        string
	State       string
	RedirectURI string
	// Query holds every callback query parameter, for providers that send more.
	Query map[string]string
	// CodeVerifier is the PKCE verifier of the connect's CodeChallenge: send it as
	// code_verifier in the token exchange if the provider supports PKCE.
	CodeVerifier string
}

// Linkage is a normalized, newly linked provider account.
type Linkage struct {
	ExternalAccountID string
	DisplayName       string
	Credentials       Credentials
	// AlternateAccountIDs are other ids the same provider account may already be linked
	// under, for a provider whose id for an account depends on what the account held when
	// it was linked (Ondilo's: its oldest pool, or its user when it had no pool). When the
	// user has no account linked under ExternalAccountID, the host renews the first one
	// linked under one of these, in order, which stays linked under that alternate (later
	// calls' Account.ExternalAccountID is the alternate, not ExternalAccountID): a
	// reconnect finds the account it renews instead of linking a second one. At most
	// MaxAlternateAccountIDs; each follows ExternalAccountID's rules.
	AlternateAccountIDs []string
}

// MaxAlternateAccountIDs bounds Linkage.AlternateAccountIDs.
const MaxAlternateAccountIDs = 8

// Device is a normalized provider device.
type Device struct {
	ProviderDeviceID string
	Name             string
	Model            string
	Metadata         map[string]string
	// Verified says the provider vouched that the account owns the device: its API
	// listed the device for the account's credentials (an OAuth account's devices, the
	// probes an API key can see). Only verified devices receive deliveries on the
	// provider-level webhook URL, whose secret proves the provider, not the user. A
	// device the user merely typed in (sdk/declared) is not verified, and receives
	// only on its account's own URL.
	Verified bool
	// Suggested is configuration the provider holds about the pool the device measures
	// (Ondilo's /pools volume and type), nil when it has none. The host shows it with
	// the device and applies it to the pool only when a user accepts it: it is never a
	// reading, and never overwrites what a user set on its own.
	Suggested *PoolSuggestion
}

// PoolSuggestion is a provider's idea of a pool's configuration. Leave a field zero when
// the provider does not say; the others use the host's pool vocabulary.
type PoolSuggestion struct {
	VolumeLiters float64 // > 0
	Kind         string  // "pool" or "spa"
	Location     string  // "outdoor" or "indoor"
	// Sanitizer is "chlorine", "salt", "bromine", "biguanide", "mineral" or "other".
	Sanitizer string
}

// DiscoverRequest asks for an account's devices.
type DiscoverRequest struct {
	Account Account
}

// DiscoverResult lists devices and, when tokens were refreshed, the new credentials.
type DiscoverResult struct {
	Devices              []Device
	RefreshedCredentials Credentials
}

// Quality qualifies a reading. The host may downgrade it (e.g. out of healthy range).
type Quality string

const (
	QualityUnknown    Quality = ""
	QualityGood       Quality = "good"
	QualitySuspect    Quality = "suspect" // the provider flagged it, or out of healthy range
	QualityOutOfRange Quality = "out_of_range"
)

// Reading is one normalized measurement.
type Reading struct {
	ProviderDeviceID string
	Metric           string // a name from sdk/metric
	Value            float64
	Unit             string // empty means the metric's canonical unit
	// RecordedAt is when the value was measured. The zero Time means "no time: when
	// the host received it" — unless Timed is set.
	RecordedAt time.Time
	// Timed says RecordedAt came from the provider even when it is the zero Time
	// (0001-01-01T00:00:00Z), so the host judges it as a time — and drops it as
	// too_far_past — instead of stamping the reading at receipt. A plugin that parses a
	// time from a payload sets it whenever the payload had one. A non-zero RecordedAt
	// is a time whatever Timed says, so plugins written before it behave as before.
	Timed      bool
	Quality    Quality
	RawPayload []byte // optional provider fragment kept for audit
	// Qualifier says Value is a bound, not a measurement: a photometer's "FC > 10" is
	// Value 10 with QualifierAbove. Empty means the value is exact.
	Qualifier Qualifier
}

// Qualifier marks a value that lies beyond the range of the method that measured it;
// the value is then the bound ("> 10" is 10, above). The host stores it, shows it as
// "above 10 ppm", judges it against targets, and leaves it out of means.
type Qualifier string

const (
	QualifierExact Qualifier = ""      // the value is a measurement
	QualifierAbove Qualifier = "above" // the true value is above Value
	QualifierBelow Qualifier = "below" // the true value is below Value
)

// HasTime reports whether the reading carries its own measurement time.
func (r Reading) HasTime() bool { return r.Timed || !r.RecordedAt.IsZero() }

// WebhookRequest is a raw webhook exactly as received.
type WebhookRequest struct {
	Headers http.Header
	Body    []byte
	// ReceivedAt is the host's clock at receipt; verify timestamps against it.
	ReceivedAt time.Time
	// Account is set for account-scoped webhook URLs; AccountSecret is then the secret
	// that applies instead of the provider-level one.
	Account       *Account
	AccountSecret string
}

// WebhookResult is a parsed webhook.
type WebhookResult struct {
	Readings []Reading
	// DeliveryID is the provider's idempotency key for the delivery, when it has one.
	DeliveryID string
	// ProviderAccountID is the provider-side account the payload names (an owner or
	// application id), when it names one. On the provider-level URL the host then
	// writes only to verified devices of accounts whose ExternalAccountID it is; a
	// device id verified for several accounts is otherwise dropped as ambiguous.
	ProviderAccountID string
	// TestSessions are water tests the payload reports (a photometer cloud's panel of
	// results), stored as test sessions of the device's pool, never as readings.
	TestSessions []TestSession
	// CommandUpdates are the provider's word on commands the host sent (see [Commander]).
	CommandUpdates []CommandUpdate
}

// TestSession is one water test a provider reports: several results taken together on
// one sample, by a photometer, a lab, or a user in the provider's app. The host stores it
// as a test session of the pool its device is linked to, beside the sessions members
// enter, and never in sensor readings. Its results are validated and converted exactly
// as readings are (same metrics, units and drop reasons).
type TestSession struct {
	// ProviderDeviceID is the device (or the provider's tester) that took the test; it
	// routes the session exactly as a reading's does.
	ProviderDeviceID string
	// TakenAt is when the sample was tested. The zero Time means "when the host
	// received it" (a webhook with a DeliveryID: its first receipt). The device and
	// TakenAt identify the session: one redelivered stores nothing new, so give the
	// provider's own time whenever it has one.
	TakenAt time.Time
	// Method is "strips", "drops", "photometer", "lab" or "other"; any other value,
	// "" included, is stored as "other".
	Method string
	// Notes are shown with the session (at most 2000 bytes).
	Notes   string
	Results []TestResult
}

// TestResult is one result of a test session: a metric of sdk/metric, its value, and its
// unit ("" is the metric's canonical unit). One result per metric: a repeated metric is
// dropped.
type TestResult struct {
	Metric string
	Value  float64
	Unit   string
	// Qualifier as in [Reading]: "FC > 10" is Value 10 with QualifierAbove.
	Qualifier Qualifier
}

// PollRequest asks for readings newer than Cursor ("" on the first poll).
type PollRequest struct {
	Account Account
	Cursor  string
}

// PollResult carries the readings, the cursor for the next poll, and refreshed credentials.
type PollResult struct {
	Readings             []Reading
	NextCursor           string
	RefreshedCredentials Credentials
	// NotBefore, when set, is the earliest time the provider can have new readings for
	// the account — say the last measure's time plus the sensor's measuring period. The
	// host then skips the polls that could only find nothing, which matters against a
	// per-user quota. It is a hint: the host polls at the later of NotBefore and the
	// provider's poll interval, and never defers a poll by more than a few hours.
	NotBefore time.Time
	// TestSessions are water tests taken since the cursor (see [TestSession]).
	TestSessions []TestSession
	// CommandUpdates are the provider's word on commands the host sent (see [Commander]).
	CommandUpdates []CommandUpdate
}
