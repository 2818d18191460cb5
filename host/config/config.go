package config

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/poolhost/poolhost/sdk/judge"
)

// Config is a loaded and validated configuration. Every field holds its final value:
// defaults are applied and paths are absolute.
type Config struct {
	// Path is the file the configuration was loaded from.
	Path string

	Listen      string // host:port for the HTTP server; default "127.0.0.1:8080"
	DatabaseURL string // "sqlite:path" or "postgres://..."; required
	// DatabaseReadURL, when set, is a streaming standby of DatabaseURL (PostgreSQL only):
	// reads that tolerate a few seconds of lag go there while its lag stays within
	// DatabaseReadMaxLag (default 10s), and to the primary otherwise.
	DatabaseReadURL    string
	DatabaseReadMaxLag time.Duration
	PluginDir          string // absolute; default "bin/plugins" relative to the working directory
	PublicURL          string // base URL users and providers reach the host at; default "http://"+Listen
	LogLevel           string // trace, debug, info, warn, error; default "info"
	LogFormat          string // "text" or "json"; default "text"
	AutoMigrate        bool   // apply pending migrations at start; default true
	// MetricsListen, when set, is a separate host:port serving /metrics, which the API
	// port then no longer serves (scrapers stay on a private network).
	MetricsListen string

	// CredentialsKey encrypts stored provider credentials. CredentialsOldKeys still
	// decrypt, for rotation: new writes always use CredentialsKey.
	CredentialsKey     Key
	CredentialsOldKeys []Key

	HTTP        HTTP
	RetryWorker RetryWorker
	PollWorker  PollWorker
	// CommandWorker is the command dispatcher (write/control commands).
	CommandWorker CommandWorker
	Ingest        Ingest
	Plugins       Plugins
	// Retention bounds how long the time series are kept (zero: forever, the default).
	Retention Retention

	// Providers in file order, enabled or not.
	Providers []Provider

	// Warnings are problems that do not stop the host, each with its file position.
	Warnings []string

	// PublicURLFromListen says public_url is not in the file: PublicURL is
	// DefaultPublicURL(Listen), and follows the listen address in force.
	PublicURLFromListen bool
}

// Provider returns the provider block with the given id.
func (c *Config) Provider(id string) (Provider, bool) {
	for _, p := range c.Providers {
		if p.ID == id {
			return p, true
		}
	}
	return Provider{}, false
}

// EnabledProviders returns the enabled provider blocks in file order.
func (c *Config) EnabledProviders() []Provider {
	var out []Provider
	for _, p := range c.Providers {
		if p.Enabled {
			out = append(out, p)
		}
	}
	return out
}

// WebhookProviders returns, in file order, the enabled provider blocks that take
// webhooks: the providers whose accounts' webhook registrations the host keeps up.
func (c *Config) WebhookProviders() []Provider {
	var out []Provider
	for _, p := range c.Providers {
		if p.Enabled && p.Webhooks {
			out = append(out, p)
		}
	}
	return out
}

// Key is a 32-byte AES-256 key with a short id stored beside each ciphertext, so the
// right key is found after a rotation.
type Key struct {
	ID    string
	Bytes []byte
}

// String never shows the key material.
func (k Key) String() string { return "key:" + k.ID }

// GoString keeps %#v from printing the key material either.
func (k Key) GoString() string { return "config.Key{ID:" + k.ID + "}" }

// KeyID derives a key's id: the first 8 hex characters of its SHA-256. It identifies the
// key without revealing it.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:])[:8]
}

// HTTP configures the HTTP server.
type HTTP struct {
	MaxBodyBytes      int64         // default 1 MiB
	ReadHeaderTimeout time.Duration // default 5s
	ReadTimeout       time.Duration // default 30s
	WriteTimeout      time.Duration // default 30s
	IdleTimeout       time.Duration // default 2m
	ShutdownTimeout   time.Duration // graceful shutdown budget; default 15s
	// DrainGrace is how long the host keeps serving after SIGTERM with /readyz answering
	// 503, so the load balancer stops sending before the listener closes. Default 5s.
	DrainGrace time.Duration
	// HeartbeatInterval is how often serve records its /readyz status in the database
	// (table replicas, host/replicas) for every replica's console to show. Default 10s.
	HeartbeatInterval time.Duration
	// HeartbeatGoneAfter is how long a replica may stay silent before the console shows
	// it gone (crashed, frozen or cut off from the database): at least two beats, so one
	// late beat never does. Default 30s (three missed beats).
	HeartbeatGoneAfter time.Duration
	// ReturnURL, when set, is where the OAuth callback redirects the browser with the
	// outcome instead of answering JSON.
	ReturnURL string
	// TrustedProxies are the load balancers whose X-Forwarded-For is believed. Empty:
	// the client is always the TCP peer.
	TrustedProxies []netip.Prefix
	RateLimit      RateLimit
}

// RateLimit bounds API requests with token buckets (requests per second, refilled
// continuously, up to Burst at once). 0 switches a limit off. Health, readiness and
// metrics routes are never limited; webhook routes only per account (PerWebhookAccount).
type RateLimit struct {
	PerToken float64 // requests with a valid bearer token, per token; default 20
	// PerClient limits requests without a valid token (anonymous routes, OAuth
	// callbacks, wrong tokens) per client address (an IPv6 /64). Default 5.
	PerClient float64
	Burst     int // bucket size of both; default 50
	// PerWebhookAccount limits the verified deliveries to one account-scoped webhook URL
	// (a user holds its secret and can sign anything), with its own bucket of
	// WebhookAccountBurst: generous, as providers send bursts after an outage. Only a
	// delivery whose signature checked spends from it, so nobody without the secret can
	// use up an account's bucket. Defaults 20 and 600.
	PerWebhookAccount   float64
	WebhookAccountBurst int
}

// RetryWorker configures the ingestion-failure retry worker.
type RetryWorker struct {
	Enabled     bool          // default true
	Interval    time.Duration // default 5s
	BatchSize   int           // default 50
	Lease       time.Duration // default 1m
	MaxAttempts int           // default 8
	BackoffBase time.Duration // default 10s
	BackoffCap  time.Duration // default 1h
}

// CommandWorker configures the command dispatcher.
type CommandWorker struct {
	Enabled   bool          // default true
	Interval  time.Duration // default 1s
	BatchSize int           // default 50
	// DeviceInterval is the per-device rate limit: at most one send per device per
	// interval. Default 1s.
	DeviceInterval time.Duration
	// DefaultExpiry is how long a command waits to be sent when its request does not
	// say; default 10m, and no request may ask for more than MaxExpiry (24h).
	DefaultExpiry time.Duration
	// Lease bounds a send from claim to finish. A lease that runs out (the replica died
	// mid-send) makes the command unknown when another replica's dispatcher finds it,
	// and its device waits until then; so it must outlast every read-write provider's
	// send_command timeout (LeaseCallFactor times). Default 2m.
	Lease time.Duration
}

// MaxCommandExpiry bounds a command's expiry.
const MaxCommandExpiry = 24 * time.Hour

// PollWorker configures the poll worker.
type PollWorker struct {
	Enabled   bool          // default true
	Interval  time.Duration // default 15s
	BatchSize int           // default 20
	Lease     time.Duration // default 2m
}

// Retention is the retention block: how long each kind of history is kept before the
// elected replica expires it (host/retention), zero or absent keeping it forever. On
// PostgreSQL readings and audit events go a whole month at a time, once the month has
// passed the period; on SQLite row by row in batches.
type Retention struct {
	Readings    time.Duration // sensor readings and test sessions
	Audit       time.Duration // audit events
	DeadLetters time.Duration // dead letters settled (dead or resolved), by their last change
}

// MinRetention is the shortest retention period accepted: anything shorter would expire
// what providers are still redelivering.
const MinRetention = 24 * time.Hour

// Ingest bounds reading timestamps.
type Ingest struct {
	MaxFutureSkew time.Duration // default 5m
	MaxPastAge    time.Duration // default 30d
	// DeliveryIDRetention is how long a webhook delivery id is remembered for replay
	// detection. It must outlast every provider's redelivery window. Default 30d.
	DeliveryIDRetention time.Duration
	// MaxDeadLettersPerAccount and MaxDeadLetterBytesPerAccount cap the dead letters
	// (verified deliveries that can never be parsed) kept for one account-scoped URL:
	// its holder can sign anything. Past either, a dead letter's payload is not kept:
	// the delivery is counted and audited (webhook.dead_letter_discarded) and answered
	// 202 "discarded", which providers take as final. Defaults 100 and 10 MiB.
	MaxDeadLettersPerAccount     int
	MaxDeadLetterBytesPerAccount int64
	// MaxAccountsPerUser caps the provider accounts one user may connect, disconnected
	// ones included (a reconnect of one is not a new one): the dead-letter caps above,
	// each account's poll and its subscription with the provider are per account, so
	// this is what bounds them per user. Default 100. Read at each connect.
	MaxAccountsPerUser int
	// MaxPoolsPerUser caps the pools one user creates: another is refused (a pool holds
	// its own readings, test sessions and equipment, and is never deleted, so this bounds
	// them per user). Pools the user was made an owner of do not count, and handing a
	// pool to another owner frees no place. Default 100. Read at each create.
	MaxPoolsPerUser int
	// MaxTestSessionsPerPool caps the test sessions members enter on one pool (those
	// retention has not expired): another is refused. Sessions providers submit come
	// with their devices' readings and are not counted. Default 10000 (a test a day for
	// over 27 years). Read at each create.
	MaxTestSessionsPerPool int
	// WebhookSecretOverlap is how long an account's webhook secret is still accepted
	// after its owner rotated it, for whoever signs its webhooks to switch (or to sign
	// with both meanwhile). Read at each rotation, so a reload applies to the next one.
	// Default 24h, at most MaxWebhookSecretOverlap.
	WebhookSecretOverlap time.Duration
}

// MaxWebhookSecretOverlap bounds ingest { webhook_secret_overlap }: a leaked secret that
// was rotated away must stop working within days, not live on for months.
const MaxWebhookSecretOverlap = 30 * 24 * time.Hour

// Plugins configures supervision of the plugin processes.
type Plugins struct {
	StartTimeout time.Duration // handshake budget; default 10s
	// HealthInterval: a plugin that stops answering is noticed within HealthInterval +
	// HealthTimeout (it is then "unresponsive" and restarted after
	// pluginmgr.UnresponsiveGrace), so both are short. Default 2s.
	HealthInterval time.Duration
	HealthTimeout  time.Duration // default 2s
	// HealthFailures consecutive health checks answered with an error restart the
	// plugin. Default 3. (A check that gets no answer at all needs only one.)
	HealthFailures int
	// MaxRestarts restarts within RestartWindow mark the provider failed. Default 5 in 5m.
	MaxRestarts   int
	RestartWindow time.Duration
	BackoffBase   time.Duration // default 500ms
	BackoffCap    time.Duration // default 30s
	// PassEnv names host environment variables passed to plugins on top of
	// pluginmgr.EnvAllowList, e.g. HTTPS_PROXY. Whatever is named here reaches every
	// plugin, so it must not name a secret.
	PassEnv []string
	// RequirePin refuses every enabled provider without a sha256 pin, at config load
	// and again at launch. Default false; production sets it.
	RequirePin bool
	// TrustedKeys are the ed25519 public keys whose release signatures this host accepts
	// (see pluginmgr/bundle): `plugins install` refuses a plugin not signed by one, and
	// so does every launch when RequireSignature is set.
	TrustedKeys []ed25519.PublicKey
	// RequireSignature refuses to launch a plugin that has no signature by a trusted key
	// over its pin (binary sha256 or bundle manifest sha256), checked at every launch
	// and reload. Default false; production sets it with TrustedKeys.
	RequireSignature bool
	// AllowGroupWritable accepts plugin binaries, bundle manifests and directories that
	// their group may write (a deploy group that installs plugins). Default false: like
	// a world-writable one, a group-writable binary can be replaced by anyone in the
	// group, and the host runs it with its own rights.
	AllowGroupWritable bool
	// Caps on what a plugin returns, so a faulty or hostile plugin cannot make the host
	// allocate or store without bound. A gRPC message over MaxMessageBytes, or an answer
	// over any other cap, is refused as a permanent failure of that call: nothing of it
	// is stored. Defaults: 16 MiB, 10,000 readings per call, 256-byte device and
	// delivery ids, 64-byte metrics, 32-byte units, 64 KiB raw payloads; discovery:
	// 10,000 devices per call, 1 KiB names (and models), 64 KiB of metadata a device.
	MaxMessageBytes    int64
	MaxReadingsPerCall int
	MaxDeviceIDBytes   int // also bounds the provider account id a payload names
	MaxDeliveryIDBytes int
	MaxMetricBytes     int
	MaxUnitBytes       int
	MaxRawPayloadBytes int // also bounds a discovered device's metadata, keys and values
	MaxDevicesPerCall  int
	MaxDeviceNameBytes int // a discovered device's name, and its model
}

// Stage values.
const (
	StagePilot = "pilot"
	StageGA    = "ga"
)

// Access values.
const (
	AccessReadOnly  = "read-only"
	AccessReadWrite = "read-write"
)

// Provider is one provider "<id>" block.
type Provider struct {
	ID         string
	Enabled    bool     // default true
	Stage      string   // StagePilot or StageGA; default StageGA
	PilotUsers []string // emails or user ids allowed to connect during the pilot
	Access     string   // AccessReadOnly (default) or AccessReadWrite
	// Commands are the sdk/command names the operator approved for this provider; only
	// these, and only with Access = AccessReadWrite, can be sent.
	Commands []string
	// Binary is the absolute path of the plugin executable, or of a plugin bundle (a
	// directory with a poolhost-plugin.json manifest, see pluginmgr/bundle); default
	// <plugin_dir>/poolhost-provider-<id>.
	Binary string
	// SHA256 pins the binary, or the bundle's manifest (lowercase hex, as `poolhost
	// plugins pin` prints it); empty means unpinned.
	SHA256       string
	Webhooks     bool
	Poll         bool
	PollInterval time.Duration // default 5m
	Timeouts     Timeouts
	Settings     map[string]string
	// Secrets come only from env() or file(). Never log them.
	Secrets map[string]string
}

// InPilot reports whether connecting is limited to PilotUsers.
func (p Provider) InPilot() bool { return p.Stage == StagePilot }

// PilotAllows reports whether a user, named by email or id, may connect during a pilot.
// Outside a pilot everyone may.
func (p Provider) PilotAllows(emailOrID ...string) bool {
	if !p.InPilot() {
		return true
	}
	for _, u := range p.PilotUsers {
		for _, c := range emailOrID {
			if c != "" && u == c {
				return true
			}
		}
	}
	return false
}

// Timeouts are per-method call deadlines.
type Timeouts struct {
	Describe      time.Duration // default 5s
	Configure     time.Duration // default 5s
	Connect       time.Duration // default 10s
	Callback      time.Duration // default 15s
	Discover      time.Duration // default 30s
	VerifyWebhook time.Duration // default 2s
	Webhook       time.Duration // default 5s
	Poll          time.Duration // default 30s
	Health        time.Duration // default plugins.health_timeout
	// SendCommand bounds one send; past it the command's outcome is unknown and it is
	// never resent. Default 15s.
	SendCommand time.Duration
}

// Defaults for values the file leaves out.
var (
	DefaultHTTP = HTTP{
		MaxBodyBytes:       1 << 20,
		ReadHeaderTimeout:  5 * time.Second,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        2 * time.Minute,
		ShutdownTimeout:    15 * time.Second,
		DrainGrace:         5 * time.Second,
		HeartbeatInterval:  10 * time.Second,
		HeartbeatGoneAfter: 30 * time.Second,
		RateLimit:          RateLimit{PerToken: 20, PerClient: 5, Burst: 50, PerWebhookAccount: 20, WebhookAccountBurst: 600},
	}
	DefaultRetryWorker = RetryWorker{
		Enabled:     true,
		Interval:    5 * time.Second,
		BatchSize:   50,
		Lease:       time.Minute,
		MaxAttempts: 8,
		BackoffBase: 10 * time.Second,
		BackoffCap:  time.Hour,
	}
	DefaultPollWorker = PollWorker{
		Enabled:   true,
		Interval:  15 * time.Second,
		BatchSize: 20,
		Lease:     2 * time.Minute,
	}
	DefaultIngest = Ingest{
		MaxFutureSkew:        judge.DefaultWindow.MaxFutureSkew,
		MaxPastAge:           judge.DefaultWindow.MaxPastAge,
		DeliveryIDRetention:  30 * 24 * time.Hour,
		WebhookSecretOverlap: 24 * time.Hour,

		MaxDeadLettersPerAccount:     100,
		MaxDeadLetterBytesPerAccount: 10 << 20,
		MaxAccountsPerUser:           100,
		MaxPoolsPerUser:              100,
		MaxTestSessionsPerPool:       10000,
	}
	DefaultPlugins = Plugins{
		StartTimeout:   10 * time.Second,
		HealthInterval: 2 * time.Second,
		HealthTimeout:  2 * time.Second,
		HealthFailures: 3,
		MaxRestarts:    5,
		RestartWindow:  5 * time.Minute,
		BackoffBase:    500 * time.Millisecond,
		BackoffCap:     30 * time.Second,

		// The caps are sdk/judge's, which the conformance kit applies too.
		MaxMessageBytes:    judge.DefaultCaps.MaxMessageBytes,
		MaxReadingsPerCall: judge.DefaultCaps.MaxReadingsPerCall,
		MaxDeviceIDBytes:   judge.DefaultCaps.MaxDeviceIDBytes,
		MaxDeliveryIDBytes: judge.DefaultCaps.MaxDeliveryIDBytes,
		MaxMetricBytes:     judge.DefaultCaps.MaxMetricBytes,
		MaxUnitBytes:       judge.DefaultCaps.MaxUnitBytes,
		MaxRawPayloadBytes: judge.DefaultCaps.MaxRawPayloadBytes,
		MaxDevicesPerCall:  judge.DefaultCaps.MaxDevicesPerCall,
		MaxDeviceNameBytes: judge.DefaultCaps.MaxDeviceNameBytes,
	}
	// The deadlines are sdk/judge's, which the conformance kit gives its calls too.
	DefaultTimeouts = Timeouts{
		Describe:      judge.DefaultDeadlines.Describe,
		Configure:     judge.DefaultDeadlines.Configure,
		Connect:       judge.DefaultDeadlines.Connect,
		Callback:      judge.DefaultDeadlines.Callback,
		Discover:      judge.DefaultDeadlines.Discover,
		VerifyWebhook: judge.DefaultDeadlines.VerifyWebhook,
		Webhook:       judge.DefaultDeadlines.Webhook,
		Poll:          judge.DefaultDeadlines.Poll,
		Health:        2 * time.Second,
		SendCommand:   judge.DefaultDeadlines.SendCommand,
	}
	DefaultCommandWorker = CommandWorker{
		Enabled:        true,
		Interval:       time.Second,
		BatchSize:      50,
		DeviceInterval: time.Second,
		DefaultExpiry:  10 * time.Minute,
		Lease:          2 * time.Minute,
	}
	DefaultPollInterval = 5 * time.Minute
)

const (
	DefaultListen    = "127.0.0.1:8080"
	DefaultPluginDir = "bin/plugins"
	// BinaryPrefix + provider id is a plugin executable's default name.
	BinaryPrefix = "poolhost-provider-"
)

// DefaultDatabaseReadMaxLag is database_read_max_lag's default.
const DefaultDatabaseReadMaxLag = 10 * time.Second

// DefaultPublicURL is public_url when the file leaves it out: the listen address over
// plain HTTP.
func DefaultPublicURL(listen string) string { return "http://" + listen }
