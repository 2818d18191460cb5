package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/outage"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// Audit actions written by the pipeline.
const (
	ActionReceived       = "webhook.received"
	ActionRejected       = "webhook.rejected"
	ActionQueuedForRetry = "webhook.queued_for_retry"
	// ActionDead is shared with the retry worker: one action lists every dead letter.
	ActionDead = "ingestion.dead"
)

// CredentialSecretKey is the key, in an account's stored credentials, of the secret that
// authenticates its account-scoped webhook URL. The whole credential map also travels in
// WebhookRequest.Account for plugins that name it differently.
const CredentialSecretKey = "webhook_secret"

// Plugins finds a provider's plugin: *pluginmgr.Manager. The handle applies the
// provider's per-method deadlines and knows the provider's current config block.
type Plugins interface {
	Get(id string) (*pluginmgr.Plugin, error)
}

// Handle is what the pipeline calls on a provider's plugin: *pluginmgr.Plugin, or an
// adapter linked into the process (the benchmark's baseline). IngestWebhook reports a
// verified payload that failed to parse as a *grpcplugin.ParseError.
type Handle interface {
	Config() config.Provider
	IngestWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error)
	VerifyWebhook(ctx context.Context, req sdk.WebhookRequest) error
}

// Store is what the pipeline needs from storage: *store.Store.
type Store interface {
	AccountWithCredentials(ctx context.Context, id int64, provider string) (store.Account, map[string]string, error)
	InTx(ctx context.Context, fn func(tx *store.Tx) error) error
	AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error)
	KeptDelivery(ctx context.Context, k store.DeliveryKey) (store.FailureStatus, error)
}

// Deps are the pipeline's collaborators.
type Deps struct {
	Store   Store
	Ingest  *ingest.Service
	Plugins Plugins
	// Handles, when set, finds handles instead of Plugins (adapters linked in process).
	Handles func(id string) (Handle, error)
	Logger  hclog.Logger
	// Registerer receives the pipeline's metrics; nil exports none.
	Registerer prometheus.Registerer
	// CommandUpdates, when set, applies the command updates a verified delivery carries,
	// to commands of the delivery's account only (commands.Service.ApplyUpdates; a
	// provider-level delivery, AccountID 0, applies none).
	CommandUpdates func(ctx context.Context, provider string, accountID int64, us []sdk.CommandUpdate) int
}

// Config tunes the pipeline.
type Config struct {
	// MaxAttempts is the attempt budget of a queued failure (retry_worker.max_attempts).
	MaxAttempts int
	// RejectAuditInterval lets one webhook.rejected row per provider and client through
	// per interval. Default 1m.
	RejectAuditInterval time.Duration
	// RejectAuditMax caps the webhook.rejected rows of one provider per interval, over
	// all clients; the rest are summed into one summary row. Default 20. The same
	// interval and budget apply to webhook.dead_letter_discarded rows.
	RejectAuditMax int
	// DeadLetters is the cap per account (ingest.max_dead_letters_per_account and
	// max_dead_letter_bytes_per_account); zero fields take config.DefaultIngest's.
	DeadLetters DeadLetterCap
}

// Service runs the pipeline.
type Service struct {
	d   Deps
	cfg Config
	// maxAttempts is cfg.MaxAttempts, which SetMaxAttempts changes on reload.
	maxAttempts atomic.Int64
	log         hclog.Logger
	throttle    *audit.Throttle // webhook.rejected rows
	discards    *audit.Throttle // webhook.dead_letter_discarded rows
	deadCap     atomic.Pointer[DeadLetterCap]
	replays     *inFlight
	metrics     *metrics
	now         func() time.Time
	// decoySecret verifies deliveries to account ids that do not exist: random, made
	// at start, never stored or shown, so nothing can be signed with it.
	decoySecret string
	// dbDown folds the per-delivery lines of a database outage (see host/outage).
	dbDown *outage.Log
	// pluginDown folds, per provider, the lines of deliveries answered 503 because its
	// plugin could not verify them (restarting, hung, crashed): one plugin restart
	// under load wrote a WARN per delivery, hundreds a second.
	pluginDownMu sync.Mutex
	pluginDown   map[string]*outage.Log
}

// pluginUnavailable is provider's outage log for deliveries its plugin could not verify.
// Providers here are configured ones (a plugin answered the call), so the map is bounded.
func (s *Service) pluginUnavailable(provider string) *outage.Log {
	s.pluginDownMu.Lock()
	defer s.pluginDownMu.Unlock()
	l, ok := s.pluginDown[provider]
	if !ok {
		if s.pluginDown == nil {
			s.pluginDown = map[string]*outage.Log{}
		}
		l = outage.New(s.log, "webhook deliveries answered 503, provider "+provider+"'s plugin unavailable to verify them")
		s.pluginDown[provider] = l
	}
	return l
}

// New returns a Service.
func New(d Deps, cfg Config) *Service {
	if d.Logger == nil {
		d.Logger = hclog.NewNullLogger()
	}
	if d.Handles == nil {
		plugins := d.Plugins
		d.Handles = func(id string) (Handle, error) {
			p, err := plugins.Get(id)
			if err != nil {
				return nil, err // not a typed nil in the interface
			}
			return p, nil
		}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = config.DefaultRetryWorker.MaxAttempts
	}
	if cfg.RejectAuditInterval <= 0 {
		cfg.RejectAuditInterval = time.Minute
	}
	if cfg.RejectAuditMax <= 0 {
		cfg.RejectAuditMax = 20
	}
	s := &Service{
		d:        d,
		cfg:      cfg,
		log:      d.Logger.Named("webhook"),
		throttle: audit.NewThrottle(cfg.RejectAuditInterval, cfg.RejectAuditMax),
		replays:  newInFlight(),
		metrics:  newMetrics(d.Registerer),
		now:      time.Now,
		// Shaped like the secrets webhook_secret providers hand out (Standard
		// Webhooks' whsec_ form), so a plugin parses it like a real one.
		decoySecret: "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(32)),
	}
	s.dbDown = outage.New(s.log, "database unreachable for webhook deliveries")
	s.discards = audit.NewThrottle(cfg.RejectAuditInterval, cfg.RejectAuditMax)
	s.SetMaxAttempts(cfg.MaxAttempts)
	s.SetDeadLetterCap(cfg.DeadLetters)
	return s
}

// SetMaxAttempts changes the attempt budget given to failures queued from now on
// (retry_worker.max_attempts, on reload).
func (s *Service) SetMaxAttempts(n int) {
	if n <= 0 {
		n = config.DefaultRetryWorker.MaxAttempts
	}
	s.maxAttempts.Store(int64(n))
}

// randomBytes reads n bytes from crypto/rand, which never fails on supported platforms
// (and crashes the program when it cannot, since Go 1.24).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// logStoreError logs a failed database call of a delivery: one line per delivery for
// an error of its own, outage lines (start, a count per interval, end) while the
// database is unreachable, when every delivery fails the same way.
func (s *Service) logStoreError(msg string, err error, kv ...any) {
	if errors.Is(store.Unavailable(err), store.ErrUnavailable) {
		s.dbDown.Fail(err, append([]any{"first", msg}, kv...)...)
		return
	}
	s.log.Error(msg, append(kv, "error", err)...)
}
