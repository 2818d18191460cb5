package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
)

// rateLimits are the API's token buckets (http.rate_limit), one set per key kind.
type rateLimits struct {
	cfg    config.RateLimit
	token  *buckets // nil: off
	client *buckets
	// account: verified deliveries per account-scoped webhook URL (per_webhook_account).
	account *buckets
	now     func() time.Time
}

func newRateLimits(c config.RateLimit) *rateLimits {
	return &rateLimits{cfg: c, token: newBuckets(c.PerToken, c.Burst), client: newBuckets(c.PerClient, c.Burst),
		account: newBuckets(c.PerWebhookAccount, c.WebhookAccountBurst), now: time.Now}
}

// SpendWebhookAccount spends one token of an account-scoped webhook URL's bucket
// (per_webhook_account). The webhook pipeline calls it once a delivery's signature has
// checked, so only the secret's holder spends from it. It returns 0 when the delivery
// may go ahead, else how long until it may be retried.
func (h *Handler) SpendWebhookAccount(provider string, accountID int64) time.Duration {
	l := h.limits.Load()
	if l.account == nil {
		return 0
	}
	return l.account.take(provider+"/"+strconv.FormatInt(accountID, 10), l.now())
}

// retryAfter is a wait as a Retry-After value: whole seconds, at least 1.
func retryAfter(wait time.Duration) string {
	return strconv.FormatInt(max(int64(math.Ceil(wait.Seconds())), 1), 10)
}

// maxBuckets bounds each set's memory (about 200 bytes a bucket). Idle buckets are
// swept first; only a flood of distinct keys beyond it loses state.
const maxBuckets = 100_000

// buckets is a set of token buckets by key, forgetting the idle ones: a bucket left
// alone for burst/rate seconds is full again, the same as a new one, so dropping it
// changes nothing.
type buckets struct {
	limit rate.Limit
	burst int
	idle  time.Duration

	mu        sync.Mutex
	m         map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newBuckets(perSecond float64, burst int) *buckets {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	idle := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &buckets{limit: rate.Limit(perSecond), burst: burst, idle: max(idle, time.Second), m: map[string]*bucket{}}
}

// take spends one token of key's bucket at now. It returns 0 when the request may
// go ahead, else how long until a token is there.
func (b *buckets) take(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.lastSweep) > b.idle || len(b.m) >= maxBuckets {
		b.sweep(now)
	}
	bk := b.m[key]
	if bk == nil {
		bk = &bucket{lim: rate.NewLimiter(b.limit, b.burst)}
		b.m[key] = bk
	}
	bk.seen = now
	r := bk.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request spends nothing
		return d
	}
	return 0
}

func (b *buckets) sweep(now time.Time) {
	b.lastSweep = now
	for k, bk := range b.m {
		if now.Sub(bk.seen) >= b.idle {
			delete(b.m, k)
		}
	}
	// Still full: many keys at once (a scan over many addresses). Forget arbitrary
	// ones, which only gives them a fresh bucket, rather than grow without bound.
	for k := range b.m {
		if len(b.m) < maxBuckets*9/10 {
			break
		}
		delete(b.m, k)
	}
}

// size is the number of buckets held (tests).
func (b *buckets) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// rateLimit applies http.rate_limit: an authenticated request spends from its token's
// bucket (per_token), keyed by a hash so no token stays in memory beyond its request;
// any other from its client address's bucket (per_client). So a load balancer's shared
// address, or an office behind one NAT, never throttles signed-in users.
func (h *Handler) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, authed := auth.ActorFrom(r.Context()); !authed {
			if !h.clientLimited(w, r) {
				next.ServeHTTP(w, r)
			}
			return
		}
		l := h.limits.Load()
		if l.token != nil {
			sum := sha256.Sum256([]byte(bearerToken(r)))
			if d := l.token.take(hex.EncodeToString(sum[:16]), l.now()); d > 0 {
				h.tooMany(w, r, d, "too many requests with this token")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// clientLimited spends one token of the client address's bucket; when it is empty it
// answers 429 and reports true.
func (h *Handler) clientLimited(w http.ResponseWriter, r *http.Request) bool {
	d := h.SpendClient(clientFrom(r))
	if d > 0 {
		h.tooMany(w, r, d, "too many requests without a valid token from this address")
	}
	return d > 0
}

// tooMany answers 429 with the whole seconds until a token is back (RFC 9110 10.2.3).
func (h *Handler) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration, msg string) {
	secs := int64(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	h.WriteError(w, r, host.Errorf(host.ETOOMANY, "%s; retry in %ds", msg, max(secs, 1)))
}

// ClientOf is the client address of a request served beside the API rather than
// through it (the operators' console), decided as for the API's own requests: the
// trusted_proxies in force, ClientIP.
func (h *Handler) ClientOf(r *http.Request) string {
	return ClientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), h.httpConfig().TrustedProxies)
}

// SpendClient spends one token of client's per_client bucket, the one an anonymous or
// wrong-token API request spends from, so a token guesser gains nothing by moving
// between the API and the console's sign-in. It returns 0 when the request may go
// ahead, else how long until it may be retried.
func (h *Handler) SpendClient(client string) time.Duration {
	l := h.limits.Load()
	if l.client == nil {
		return 0
	}
	return l.client.take(clientKey(client), l.now())
}
