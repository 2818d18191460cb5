package webhook

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/outage"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	"github.com/poolhost/poolhost/sdk/tracing"
)

// Audit actions written by the pipeline.
const (
	ActionReceived       = "webhook.received"
	ActionRejected       = "webhook.rejected"
	ActionQueuedForRetry = "webhook.queued_for_retry"
	// ActionDead is shared with the retry worker: one action lists every dead letter.
	ActionDead = "ingestion.dead"
)

// Outcome statuses, also the "outcome" label of the deliveries metric.
const (
	OutcomeAccepted    = "accepted"    // 200: readings committed
	OutcomeQueued      = "queued"      // 202: verified payload kept for the retry worker
	OutcomeDead        = "dead"        // 202: verified payload that can never be parsed
	OutcomeRejected    = "rejected"    // 401
	OutcomeUnavailable = "unavailable" // 503: nothing stored, the provider redelivers
	OutcomeNotFound    = "not_found"   // 404
	OutcomeTooLarge    = "too_large"   // 413
	// OutcomeDiscarded: 202, a dead letter past its account's cap (DeadLetterCap): the
	// payload is not kept. A 2xx is what providers take as final; any other answer has
	// them redeliver the same unparseable payload until their retry budget runs out,
	// and a 4xx would tell a signer nothing a 202 does not (the body says "discarded").
	OutcomeDiscarded = "discarded"
	// OutcomeRateLimited: 429 with Retry-After, an account over its delivery rate.
	OutcomeRateLimited = "rate_limited"
)

// ActionDeadLetterDiscarded audits dead letters not kept, at most once per account and
// interval; suppressed_since_last counts the ones in between.
const ActionDeadLetterDiscarded = "webhook.dead_letter_discarded"

// ActionDeadLetterDiscardedSummary counts the discards an interval left out of the
// audit trail beyond its per-provider budget.
const ActionDeadLetterDiscardedSummary = "webhook.dead_letter_discarded_summary"

// DeadLetterCap bounds the dead letters kept for one account-scoped URL, whose secret's
// holder can sign anything: a user could otherwise fill the disk with megabyte
// payloads no plugin will ever parse. Provider-level deliveries are not capped: their
// secret is the provider's.
type DeadLetterCap struct {
	Count int
	Bytes int64
}

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

// ActionRejectedSummary counts the rejections an interval left out of the audit trail.
const ActionRejectedSummary = "webhook.rejected_summary"

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

// SetDeadLetterCap changes the dead-letter cap per account (on reload). Zero fields
// take the defaults.
func (s *Service) SetDeadLetterCap(c DeadLetterCap) {
	if c.Count <= 0 {
		c.Count = config.DefaultIngest.MaxDeadLettersPerAccount
	}
	if c.Bytes <= 0 {
		c.Bytes = config.DefaultIngest.MaxDeadLetterBytesPerAccount
	}
	s.deadCap.Store(&c)
}

// SetMaxAttempts changes the attempt budget given to failures queued from now on
// (retry_worker.max_attempts, on reload).
func (s *Service) SetMaxAttempts(n int) {
	if n <= 0 {
		n = config.DefaultRetryWorker.MaxAttempts
	}
	s.maxAttempts.Store(int64(n))
}

// Delivery is one webhook request as received.
type Delivery struct {
	Provider string
	// AccountID is set for /v1/webhooks/{provider}/accounts/{accountId}.
	AccountID int64
	Headers   http.Header
	Body      []byte
	// Client identifies the sender for rate-limiting rejection audits (its address).
	Client    string
	RequestID string
	// Admit, when set, is asked once the delivery's signature has checked, before
	// anything is stored: 0 lets it through, a wait refuses it (429, Retry-After). The
	// HTTP layer spends the account's bucket (http.rate_limit.per_webhook_account) here,
	// after verification, so that nobody without the secret can use it up.
	Admit func() time.Duration
}

// Outcome is a handled delivery that the provider must not redeliver.
type Outcome struct {
	Status string // OutcomeAccepted, OutcomeQueued or OutcomeDead
	// Result is set when Status is OutcomeAccepted.
	Result ingest.Result
	// FailureID is the integration_ingestion_failures row when queued or dead.
	FailureID int64
	// RetryAfter is the wait of a delivery refused by Delivery.Admit (ErrTooMany).
	RetryAfter time.Duration
	// replay: a copy of a delivery handled before, answered without writing.
	replay bool
}

// HTTPStatus is the answer for the outcome: 200 when stored, 202 when kept.
func (o Outcome) HTTPStatus() int {
	if o.Status == OutcomeAccepted {
		return http.StatusOK
	}
	return http.StatusAccepted
}

// Errors the pipeline answers with. Each is a *host.Error; nothing about the cause
// reaches the sender.
var (
	ErrProviderNotFound = &host.Error{Code: host.ENOTFOUND, Type: "provider-not-found", Message: "provider not found"}
	ErrAccountNotFound  = &host.Error{Code: host.ENOTFOUND, Type: "account-not-found", Message: "account not found"}
	ErrRejected         = &host.Error{Code: host.EUNAUTHORIZED, Type: "webhook-rejected", Message: "webhook authentication (signature or shared secret) missing or invalid; the host's log gives the reason under this request_id"}
	ErrUnavailable      = &host.Error{Code: host.EUNAVAILABLE, Type: "webhook-unavailable", Message: "the delivery could not be accepted now; retry later"}
	ErrTooMany          = &host.Error{Code: host.ETOOMANY, Type: "webhook-rate-limited", Message: "too many deliveries for this account; retry after the Retry-After seconds"}
)

// Rejection is the error of a rejected delivery. The sender hears ErrRejected, which it
// unwraps to; Reason (a bounded code such as bad_signature) is for the request's own log
// line, so every rejection's log says why, however many the audit rate-limits away.
type Rejection struct{ Reason string }

func (r *Rejection) Error() string { return ErrRejected.Error() }
func (r *Rejection) Unwrap() error { return ErrRejected }

// RejectReason returns the reason code of a rejected delivery's error, or "".
func RejectReason(err error) string {
	var r *Rejection
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

// errNoSuchAccount is the audited reason of a delivery to an account-scoped URL whose
// account does not exist (for this provider); the sender hears ErrRejected.
var errNoSuchAccount = errors.New("no live account of this provider has this id")

// Handle runs one delivery through the pipeline. A nil error means the delivery is safe
// (stored or queued) and the provider must not redeliver it; an error is a *host.Error
// (404, 401 or 503) and nothing was stored.
func (s *Service) Handle(ctx context.Context, dl Delivery) (Outcome, error) {
	// Get fails only for unknown and disabled providers; a provider whose plugin is
	// down is found, and its calls fail with pluginmgr.ErrUnavailable. Only a found
	// provider's id becomes a metric label (see providerLabel).
	var out Outcome
	label := "unknown"
	plugin, err := s.d.Handles(dl.Provider)
	if err != nil {
		err = ErrProviderNotFound
	} else {
		label = dl.Provider
		out, err = s.handle(ctx, dl, plugin)
	}
	outcome := out.Status
	if err != nil {
		switch host.ErrorCode(err) {
		case host.ENOTFOUND:
			outcome = OutcomeNotFound
		case host.EUNAUTHORIZED:
			outcome = OutcomeRejected
		case host.ETOOMANY:
			outcome = OutcomeRateLimited
		default:
			outcome = OutcomeUnavailable
		}
	}
	s.metrics.deliveries.WithLabelValues(label, outcome).Inc()
	return out, err
}

// CountTooLarge records a delivery refused for its size before it reached Handle.
func (s *Service) CountTooLarge(provider string) {
	s.metrics.deliveries.WithLabelValues(s.providerLabel(provider), OutcomeTooLarge).Inc()
}

// providerLabel keeps unknown provider ids (anyone can post to any URL) out of metric
// labels, so a scanner cannot grow the series without bound.
func (s *Service) providerLabel(id string) string {
	if _, err := s.d.Handles(id); err == nil {
		return id
	}
	return "unknown"
}

func (s *Service) handle(ctx context.Context, dl Delivery, plugin Handle) (Outcome, error) {
	receivedAt := s.now().UTC()
	if !plugin.Config().Webhooks {
		return Outcome{}, ErrProviderNotFound
	}

	req := sdk.WebhookRequest{Headers: dl.Headers, Body: dl.Body, ReceivedAt: receivedAt}
	// noAccount: the account-scoped URL names no live account of this provider. The
	// delivery is verified all the same, against a decoy secret nobody holds, and then
	// rejected whatever the plugin says: a miss costs what a hit costs, so the public URL
	// does not tell by timing which account ids exist (the store decrypts a decoy too).
	noAccount := false
	if dl.AccountID != 0 {
		acc, creds, err := s.account(ctx, dl)
		switch {
		case errors.Is(err, errNoSuchAccount):
			noAccount = true
			acc, creds = store.Account{ID: dl.AccountID}, map[string]string{CredentialSecretKey: s.decoySecret}
		case err != nil:
			return Outcome{}, err
		}
		req.Account = &sdk.Account{
			ID:                strconv.FormatInt(acc.ID, 10),
			ExternalAccountID: acc.ExternalAccountID,
			Credentials:       creds,
		}
		req.AccountSecret = creds[CredentialSecretKey]
	}

	res, err := plugin.IngestWebhook(ctx, req)
	// A rotated secret: the one it replaced is still accepted during its overlap
	// (store.RotateWebhookSecret; the store drops it once the overlap is over). A sender
	// signing with both (Standard Webhooks' "v1,new v1,old") passes the first call.
	prevReq, rotated := previousSecret(req)
	if rotated && sdk.IsKind(err, sdk.KindRejected) {
		if res2, err2 := plugin.IngestWebhook(ctx, prevReq); !sdk.IsKind(err2, sdk.KindRejected) {
			req, res, err = prevReq, res2, err2
		}
	}
	parseErr := parseError(err)
	sec := secretSource{plugin: plugin, account: req.Account}
	if noAccount && (err == nil || parseErr != nil || sdk.IsKind(err, sdk.KindRejected)) {
		// Verified against a secret nobody holds cannot happen; if a plugin ignores
		// the secret, the answer is the same rejection anyway.
		return Outcome{}, s.reject(ctx, dl, errNoSuchAccount)
	}
	if err == nil || parseErr != nil {
		if wait := s.admit(dl); wait > 0 {
			return Outcome{RetryAfter: wait}, ErrTooMany
		}
	}
	switch {
	case err == nil && res.DeliveryID == "":
		return s.persist(ctx, dl, receivedAt, res, sec)
	case err == nil:
		return s.once(deliveryKey(dl.Provider, dl.AccountID, res.DeliveryID), dl.Provider, func() (Outcome, error) {
			return s.persist(ctx, dl, receivedAt, res, sec)
		})
	case parseErr != nil:
		// Verified, then the parse failed: the payload is authentic and worth keeping.
		return s.once(requestKey(dl.Provider, dl.AccountID, dl.Headers, dl.Body), dl.Provider, func() (Outcome, error) {
			return s.keep(ctx, dl, receivedAt, "", parseErr.Err, sec)
		})
	case sdk.IsKind(err, sdk.KindRejected):
		return Outcome{}, s.reject(ctx, dl, err)
	case sdk.IsKind(err, sdk.KindUnsupported):
		return Outcome{}, ErrProviderNotFound
	}

	// The call failed without saying whether the payload is authentic (crash, timeout,
	// restart). Ask once more, verification alone: only a confirmed payload is kept.
	verr := plugin.VerifyWebhook(ctx, req)
	if rotated && sdk.IsKind(verr, sdk.KindRejected) {
		verr = plugin.VerifyWebhook(ctx, prevReq)
	}
	switch {
	case noAccount && (verr == nil || sdk.IsKind(verr, sdk.KindRejected)):
		return Outcome{}, s.reject(ctx, dl, errNoSuchAccount)
	case sdk.IsKind(verr, sdk.KindRejected):
		return Outcome{}, s.reject(ctx, dl, verr)
	case verr != nil:
		s.log.Warn("webhook not verified: plugin unavailable", tracing.LogArgs(ctx, []any{"provider", dl.Provider,
			"request_id", dl.RequestID, "error", err, "verify_error", verr})...)
		return Outcome{}, ErrUnavailable
	}
	if wait := s.admit(dl); wait > 0 {
		return Outcome{RetryAfter: wait}, ErrTooMany
	}
	return s.once(requestKey(dl.Provider, dl.AccountID, dl.Headers, dl.Body), dl.Provider, func() (Outcome, error) {
		return s.keep(ctx, dl, receivedAt, "", err, sec)
	})
}

// parseError is err's *grpcplugin.ParseError, or nil. errors.As's target moves to the
// heap where it is declared: declared in handle, that was an allocation for every
// delivery, parsed or not.
func parseError(err error) *grpcplugin.ParseError {
	if err == nil {
		return nil
	}
	var pe *grpcplugin.ParseError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

// admit asks Delivery.Admit whether a verified delivery may go on: 0, or how long the
// sender must wait.
func (s *Service) admit(dl Delivery) time.Duration {
	if dl.Admit == nil {
		return 0
	}
	return dl.Admit()
}

// previousSecret returns req with the account's previous webhook secret, when a
// rotation left one still accepted.
func previousSecret(req sdk.WebhookRequest) (sdk.WebhookRequest, bool) {
	if req.Account == nil {
		return req, false
	}
	prev := req.Account.Credentials[store.PreviousWebhookSecretKey]
	if prev == "" {
		return req, false
	}
	creds := make(map[string]string, len(req.Account.Credentials))
	for k, v := range req.Account.Credentials {
		creds[k] = v
	}
	creds[CredentialSecretKey] = prev
	acc := *req.Account
	acc.Credentials = creds
	req.Account, req.AccountSecret = &acc, prev
	return req, true
}

// once handles a verified delivery under key, unless a copy of it is in flight in this
// process: that copy's outcome is then the answer, and nothing is written. handle itself
// asks the database whether a copy was handled before (replay.go).
func (s *Service) once(key, provider string, handle func() (Outcome, error)) (Outcome, error) {
	prev, replay, claim := s.replays.claim(key)
	if replay {
		s.metrics.replays.WithLabelValues(provider).Inc()
		return asReplay(prev), nil
	}
	out, err := handle()
	claim.finish(out, err == nil)
	if err == nil && out.replay {
		s.metrics.replays.WithLabelValues(provider).Inc()
	}
	return out, err
}

// replayed is the answer to a copy of a delivery the database had recorded (by this
// host or another replica) and whose rows went unwritten: stored readings are
// duplicates (res already counts them so); a delivery that was kept instead is
// answered as kept.
func (s *Service) replayed(ctx context.Context, k store.DeliveryKey, res ingest.Result) Outcome {
	out := Outcome{Status: OutcomeAccepted, Result: res, replay: true}
	switch st, err := s.d.Store.KeptDelivery(ctx, k); {
	case err != nil:
		// ErrNotFound: stored directly. Any other error changes nothing stored: the
		// copy is acknowledged as a duplicate either way.
	case st == store.FailureDead:
		out = Outcome{Status: OutcomeDead, replay: true}
	case st != store.FailureResolved:
		out = Outcome{Status: OutcomeQueued, replay: true}
	}
	return out
}

// account loads the account of an account-scoped URL and its decrypted credentials. An
// account of another provider, or a disconnected one, does not exist for the sender
// (errNoSuchAccount); a delivery to it is verified and rejected exactly like a bad
// signature (see handle), so that the URL cannot be used without authentication to
// learn which account ids exist.
func (s *Service) account(ctx context.Context, dl Delivery) (store.Account, map[string]string, error) {
	// One query for both: this runs for every account-scoped delivery.
	acc, creds, err := s.d.Store.AccountWithCredentials(ctx, dl.AccountID, dl.Provider)
	if err != nil {
		if host.ErrorCode(err) == host.ENOTFOUND {
			return store.Account{}, nil, errNoSuchAccount
		}
		s.logStoreError("load webhook account", err, "account", dl.AccountID, "request_id", dl.RequestID)
		return store.Account{}, nil, ErrUnavailable
	}
	if creds == nil {
		s.log.Error("webhook account has no credentials", tracing.LogArgs(ctx, []any{"account", acc.ID, "request_id", dl.RequestID})...)
		return store.Account{}, nil, ErrUnavailable
	}
	return acc, creds, nil
}

// persist validates and stores the readings with the webhook.received audit row in the
// same transaction. If that fails the verified payload is queued instead.
func (s *Service) persist(ctx context.Context, dl Delivery, receivedAt time.Time, wr sdk.WebhookResult, sec secretSource) (Outcome, error) {
	// Before the readings: an update is forward-only and idempotent, so a delivery that
	// is later retried applies nothing twice.
	if s.d.CommandUpdates != nil && len(wr.CommandUpdates) > 0 {
		s.d.CommandUpdates(ctx, dl.Provider, dl.AccountID, wr.CommandUpdates)
	}
	res, err := s.d.Ingest.Ingest(ctx, ingest.Request{
		Provider:          dl.Provider,
		AccountID:         dl.AccountID,
		ProviderAccountID: wr.ProviderAccountID,
		Readings:          wr.Readings,
		TestSessions:      wr.TestSessions,
		ReceivedAt:        receivedAt,
		DeliveryID:        wr.DeliveryID,
		Once:              true,
		// An audit row and nothing else: the delivery may share its transaction with
		// concurrent ones (group commit).
		Audit: func(res ingest.Result) store.AuditEvent {
			return store.AuditEvent{
				At:        receivedAt,
				Action:    ActionReceived,
				Actor:     store.ProviderActor(dl.Provider),
				Provider:  dl.Provider,
				RequestID: dl.RequestID,
				Details:   receivedDetails(dl, wr, res),
			}
		},
	})
	if err != nil {
		return s.keep(ctx, dl, receivedAt, wr.DeliveryID, fmt.Errorf("persist readings: %w", err), sec)
	}
	if res.Replay {
		return s.replayed(ctx, store.DeliveryKey{Provider: dl.Provider, AccountID: dl.AccountID, DeliveryID: wr.DeliveryID}, res), nil
	}
	return Outcome{Status: OutcomeAccepted, Result: res}, nil
}

func receivedDetails(dl Delivery, wr sdk.WebhookResult, res ingest.Result) store.Details {
	d := store.Details{
		"readings":   len(wr.Readings),
		"accepted":   res.Accepted,
		"duplicates": res.Duplicates,
	}
	if len(res.Dropped) > 0 {
		d["dropped"] = res.Dropped
	}
	if res.TestSessions != nil {
		// Kept, replayed and dropped alike: a delivery of sessions that all were
		// duplicates or dropped is recorded as such.
		d["test_sessions"] = len(wr.TestSessions)
		d["test_sessions_result"] = res.TestSessions
	}
	if len(res.Unowned) > 0 {
		// Which devices a provider-level delivery could not prove an owner for: what an
		// operator needs to spot a squatter or a fleet device nobody was given.
		d["unowned_devices"] = res.Unowned
	}
	if wr.ProviderAccountID != "" {
		d["provider_account_id"] = wr.ProviderAccountID
	}
	if wr.DeliveryID != "" {
		d["delivery_id"] = wr.DeliveryID
	}
	if dl.AccountID != 0 {
		d["account_id"] = dl.AccountID
	}
	return d
}

// keep stores a verified payload that could not be ingested now: pending for the retry
// worker, or dead when the plugin says it can never be parsed. Only when even this
// fails does the provider hear 503 and redeliver.
func (s *Service) keep(ctx context.Context, dl Delivery, receivedAt time.Time, deliveryID string, cause error, sec secretSource) (Outcome, error) {
	permanent := sdk.IsKind(cause, sdk.KindPermanent)
	f := store.NewFailure{
		Provider:    dl.Provider,
		AccountID:   dl.AccountID,
		Payload:     dl.Body,
		Headers:     sec.keptHeaders(dl.Headers),
		DeliveryID:  deliveryID,
		ReceivedAt:  receivedAt,
		MaxAttempts: int(s.maxAttempts.Load()),
		Error:       errorText(cause),
		Dead:        permanent,
	}
	action, status := ActionQueuedForRetry, OutcomeQueued
	if permanent {
		action, status = ActionDead, OutcomeDead
	}
	var id int64
	var over *store.DeadLetterUsage // set when the account's dead letters are at their cap
	// The delivery is recorded with the row that keeps it, so a copy on any replica
	// finds it kept (replay.go); a payload whose plugin named no id is recorded under
	// its request's hash.
	once := store.DeliveryKey{Provider: dl.Provider, AccountID: dl.AccountID, DeliveryID: deliveryID}
	if deliveryID == "" {
		once.DeliveryID = "req:" + requestHash(dl.Headers, dl.Body)
	}
	replay := false
	err := s.d.Store.InTx(ctx, func(tx *store.Tx) error {
		replay, over = false, nil
		if permanent && dl.AccountID != 0 {
			// Counted in the transaction that would add one. On PostgreSQL concurrent
			// deliveries of one account may each see room for the last one: the cap can
			// be passed by as many as arrive at once, never without bound.
			u, err := tx.DeadLetterUsage(ctx, dl.Provider, dl.AccountID)
			if err != nil {
				return err
			}
			if c := s.deadCap.Load(); u.Count+1 > c.Count || u.Bytes+int64(len(dl.Body)) > c.Bytes {
				over = &u
				return nil
			}
		}
		first, err := tx.ClaimDelivery(ctx, once, receivedAt)
		if err != nil {
			return err
		}
		if !first {
			replay = true
			return nil
		}
		row, err := tx.EnqueueFailure(ctx, f)
		if err != nil {
			return err
		}
		id = row.ID
		details := store.Details{"error": f.Error, "source": "webhook"}
		if dl.AccountID != 0 {
			details["account_id"] = dl.AccountID
		}
		_, err = tx.AppendAudit(ctx, store.AuditEvent{
			At:         receivedAt,
			Action:     action,
			Actor:      store.ProviderActor(dl.Provider),
			Provider:   dl.Provider,
			TargetType: "ingestion_failure",
			TargetID:   strconv.FormatInt(id, 10),
			RequestID:  dl.RequestID,
			Details:    details,
		})
		return err
	})
	if err != nil {
		s.logStoreError("could not keep verified webhook; provider must redeliver", err, "provider", dl.Provider,
			"request_id", dl.RequestID, "cause", cause)
		return Outcome{}, ErrUnavailable
	}
	if over != nil {
		s.discard(ctx, dl, receivedAt, *over, cause)
		return Outcome{Status: OutcomeDiscarded}, nil
	}
	if replay {
		// A copy was stored or kept before: answered as that copy would be now.
		if deliveryID != "" {
			return s.replayed(ctx, once, ingest.Result{}), nil
		}
		return Outcome{Status: status, replay: true}, nil
	}
	// Say what happened: a dead payload is never retried by itself, and on-call reading
	// "kept for retry" would wait for a retry that never comes.
	if permanent {
		s.log.Warn("webhook payload cannot be parsed; kept as a dead letter for an operator (poolhost failures requeue|discard), never retried automatically",
			tracing.LogArgs(ctx, []any{"provider", dl.Provider, "request_id", dl.RequestID, "failure", id, "status", status, "error", cause})...)
	} else {
		s.log.Warn("webhook kept for retry by the retry worker", tracing.LogArgs(ctx, []any{"provider", dl.Provider, "request_id", dl.RequestID,
			"failure", id, "status", status, "error", cause})...)
	}
	return Outcome{Status: status, FailureID: id}, nil
}

// discard records a dead letter not kept because its account is at its cap: counted in
// the deliveries metric (outcome discarded) every time, audited at most once per account
// and interval with the number left out since, and logged as often as audited.
func (s *Service) discard(ctx context.Context, dl Delivery, receivedAt time.Time, u store.DeadLetterUsage, cause error) {
	c := s.deadCap.Load()
	ok, suppressed, sum := s.discards.Take(dl.Provider, strconv.FormatInt(dl.AccountID, 10), receivedAt)
	if sum != nil {
		s.auditSummary(ctx, dl, ActionDeadLetterDiscardedSummary, "provider", *sum)
	}
	if !ok {
		return
	}
	details := store.Details{
		"account_id":            dl.AccountID,
		"bytes":                 len(dl.Body),
		"error":                 errorText(cause),
		"dead_letters":          u.Count,
		"dead_letter_bytes":     u.Bytes,
		"max_dead_letters":      c.Count,
		"max_dead_letter_bytes": c.Bytes,
	}
	if suppressed > 0 {
		details["suppressed_since_last"] = suppressed
	}
	if _, err := s.d.Store.AppendAudit(ctx, store.AuditEvent{
		At:         receivedAt,
		Action:     ActionDeadLetterDiscarded,
		Actor:      store.ProviderActor(dl.Provider),
		Provider:   dl.Provider,
		TargetType: "account",
		TargetID:   strconv.FormatInt(dl.AccountID, 10),
		RequestID:  dl.RequestID,
		Details:    details,
	}); err != nil {
		s.log.Error("audit discarded dead letter", "provider", dl.Provider, "request_id", dl.RequestID, "error", err)
	}
	s.log.Warn("dead letter not kept: the account is at its cap (ingest.max_dead_letters_per_account, max_dead_letter_bytes_per_account)",
		"provider", dl.Provider, "account", dl.AccountID, "request_id", dl.RequestID, "dead_letters", u.Count,
		"dead_letter_bytes", u.Bytes, "suppressed_since_last", suppressed, "error", cause)
}

// reject audits a rejected delivery, at most once per provider, client (an IPv6 /64)
// and interval, and at most RejectAuditMax times per provider and interval.
func (s *Service) reject(ctx context.Context, dl Delivery, cause error) error {
	now := s.now()
	reason := sdk.RejectReason(cause)
	if errors.Is(cause, errNoSuchAccount) {
		reason = sdk.ReasonUnknownAccount
	}
	s.metrics.rejections.WithLabelValues(dl.Provider, reason).Inc()
	ok, suppressed, sum := s.throttle.Take(dl.Provider, audit.ClientKey(dl.Client), now)
	if sum != nil {
		s.auditSummary(ctx, dl, ActionRejectedSummary, "anonymous", *sum)
	}
	if ok {
		details := store.Details{"client": dl.Client, "reason": errorText(cause), "reason_code": reason}
		if suppressed > 0 {
			details["suppressed_since_last"] = suppressed
		}
		if dl.AccountID != 0 {
			details["account_id"] = dl.AccountID
		}
		_, err := s.d.Store.AppendAudit(ctx, store.AuditEvent{
			At:        now,
			Action:    ActionRejected,
			Actor:     "anonymous",
			Provider:  dl.Provider,
			RequestID: dl.RequestID,
			Details:   details,
		})
		if err != nil {
			s.log.Error("audit rejected webhook", "provider", dl.Provider, "request_id", dl.RequestID, "error", err)
		}
	}
	// The plugin's reason, for whoever debugs a sender (messages never carry secrets: the
	// SDK's contract). At Info only as often as the audit row is written, so a flood of
	// forgeries cannot flood the log; the metric counts every one.
	level := hclog.Debug
	if ok {
		level = hclog.Info
	}
	s.log.Log(level, "webhook rejected", tracing.LogArgs(ctx, []any{"provider", dl.Provider, "reason", reason, "client", dl.Client,
		"request_id", dl.RequestID, "error", errorText(cause)})...)
	return &Rejection{Reason: reason}
}

// auditSummary writes the one row that stands for the rows (rejections, discards) an
// interval left out of the audit trail.
func (s *Service) auditSummary(ctx context.Context, dl Delivery, action, actor string, sum audit.Summary) {
	if actor == "provider" {
		actor = store.ProviderActor(dl.Provider)
	}
	_, err := s.d.Store.AppendAudit(ctx, store.AuditEvent{
		At:        sum.To,
		Action:    action,
		Actor:     actor,
		Provider:  dl.Provider,
		RequestID: dl.RequestID,
		Details: store.Details{
			"suppressed": sum.Suppressed,
			"from":       sum.From.UTC().Format(time.RFC3339),
			"to":         sum.To.UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		s.log.Error("audit summary", "action", action, "provider", dl.Provider, "error", err)
	}
}

// randomBytes reads n bytes from crypto/rand, which never fails on supported platforms
// (and crashes the program when it cannot, since Go 1.24).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// errorText is a cause as operators see it in the failures table, bounded in size.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	return msg
}

// KeptHeaders are the headers stored with a queued payload: what a parser may need
// (content type, delivery ids, timestamps, event types), without credentials. Shared
// secrets travel in headers for some providers (TTN's Authorization, API keys), and a
// queued payload is never re-verified, so nothing that authenticates is kept: such a
// header is kept by name only, its value replaced by failures.Redacted, so an operator
// sees that it came (and the retry worker leaves it out: failures.ForPlugin). A header
// is such a header when its name says so (failures.SensitiveName), when it is one of
// names, or when a value holds one of secrets.
func KeptHeaders(h http.Header, names []string, secrets ...string) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		if failures.SensitiveName(k) || slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, k) }) ||
			slices.ContainsFunc(v, func(v string) bool { return holdsSecret(v, secrets) }) {
			out[k] = []string{failures.Redacted}
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}

func holdsSecret(v string, secrets []string) bool {
	for _, s := range secrets {
		if s != "" && strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// secretSource is what a delivery's kept headers must not hold, looked up only when a
// delivery is kept (not on the path of every delivery): the header names the provider's
// settings name as carrying a secret, its configured secrets, and the account's.
type secretSource struct {
	plugin  Handle
	account *sdk.Account // nil for a provider-level delivery
}

// keptHeaders is KeptHeaders with the delivery's secrets. A setting names a secret
// header when its key ends in "_header" and is a sensitive name itself: TTN's
// auth_header, which an operator may set to a header whose name says nothing
// ("X-Pool-Pass"). Every configured secret and every sensitive account credential
// (the account's webhook secret, the one it replaced during a rotation) is looked for
// in the values, whatever their header's name.
func (s secretSource) keptHeaders(h http.Header) http.Header {
	var names, secrets []string
	if s.plugin != nil {
		cfg := s.plugin.Config()
		for k, v := range cfg.Settings {
			if strings.HasSuffix(k, "_header") && failures.SensitiveName(k) && v != "" {
				names = append(names, v)
			}
		}
		for _, v := range cfg.Secrets {
			secrets = append(secrets, v)
		}
	}
	if s.account != nil {
		for k, v := range s.account.Credentials {
			if failures.SensitiveName(k) {
				secrets = append(secrets, v)
			}
		}
	}
	return KeptHeaders(h, names, secrets...)
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
