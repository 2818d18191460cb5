package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/store"
)

// Replays. A signed delivery can be sent again as it is — by the provider retrying, or
// by anyone who captured it — and its signature stays valid for the scheme's window
// (five minutes for Standard Webhooks). Readings dedupe on their unique key, but each
// copy used to add a webhook.received audit row, or, for a payload that fails to parse,
// a dead-letter row of up to the body limit.
//
// The decision is the database's, so it holds across replicas: a delivery is recorded
// in webhook_deliveries in the transaction that stores it (ingest.Request.Once, the
// group commit included) or keeps it (keep), and a copy whose key is already recorded
// writes nothing and is answered as a replay. Two copies in flight on two replicas
// serialize on the key's unique index: the second waits for the first's commit, then
// writes nothing — or everything, if the first rolled back. Records live as long as
// ingest.delivery_id_retention (host/retention prunes them).
//
// A delivery is the same when the plugin names the same delivery id (webhook-id). A
// payload that failed to parse has no id the host can learn, so there the key is the
// request itself: the body and every header but the transport's (a replay is a byte for
// byte copy). Never the body alone: two deliveries may carry the same body — an untimed
// reading sent twice, with different delivery ids in their headers — and merging them
// would lose the second.
//
// In process, copies of one delivery in flight at once wait for the first and take its
// answer (inFlight): a group commit must never hold two copies of a delivery. An entry
// lives only while its delivery is in flight, so memory is bounded by the deliveries in
// flight, not by a window of recent ones.

// deliveryKey is the key of a delivery the plugin named.
func deliveryKey(provider string, account int64, deliveryID string) string {
	return "id|" + provider + "|" + strconv.FormatInt(account, 10) + "|" + deliveryID
}

// requestKey is the key of a verified payload that could not be parsed: its body and
// headers, less those a proxy or client library sets per request.
func requestKey(provider string, account int64, h http.Header, body []byte) string {
	return "req|" + provider + "|" + strconv.FormatInt(account, 10) + "|" + requestHash(h, body)
}

// requestHash is a request's identity as a replay key: recorded as the delivery id
// "req:<hash>" of a kept payload whose plugin named none.
func requestHash(h http.Header, body []byte) string {
	d := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(h)) {
		if transportHeader[http.CanonicalHeaderKey(name)] {
			continue
		}
		for _, v := range h[name] {
			fmt.Fprintf(d, "%s:%q\n", strings.ToLower(name), v)
		}
	}
	d.Write([]byte{0})
	d.Write(body)
	return hex.EncodeToString(d.Sum(nil))
}

// transportHeader names the headers that differ between copies of one request on the
// way in, not between deliveries.
var transportHeader = map[string]bool{
	"Accept": true, "Accept-Encoding": true, "Connection": true, "Content-Length": true,
	"Forwarded": true, "Traceparent": true, "Tracestate": true, "User-Agent": true,
	"Via": true, "X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true,
	"X-Real-Ip": true, "X-Request-Id": true,
}

// asReplay is the answer to a copy of a delivery whose first copy was handled as out:
// what storing it again would have answered. Its readings are all there already, so a
// first copy's accepted readings are the copy's duplicates.
func asReplay(out Outcome) Outcome {
	if out.Status != OutcomeAccepted {
		return out
	}
	r := out.Result
	out.Result = ingest.Result{Duplicates: r.Accepted + r.Duplicates, Dropped: r.Dropped}
	if ts := r.TestSessions; ts != nil {
		// The same holds for its test sessions; the dropped counts are shared read-only.
		out.Result.TestSessions = &ingest.SessionsResult{Duplicates: ts.Accepted + ts.Duplicates,
			Dropped: ts.Dropped, ResultsDropped: ts.ResultsDropped}
	}
	return out
}

// once handles a verified delivery under key, unless a copy of it is in flight in this
// process: that copy's outcome is then the answer, and nothing is written. handle itself
// asks the database whether a copy was handled before (replayed, below).
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

// inFlight holds the deliveries being handled in this process, by key.
type inFlight struct {
	mu      sync.Mutex
	entries map[string]*flight
}

type flight struct {
	done sync.WaitGroup // done once out is set (or the attempt gave up)
	out  Outcome
	ok   bool // out is a handled outcome to repeat
}

func newInFlight() *inFlight { return &inFlight{entries: map[string]*flight{}} }

// claim returns the outcome to repeat when a copy of key is in flight here (waiting for
// it), or, when none is, the claim to record this delivery's outcome with:
// finish(out, true) once handled, finish(_, false) when nothing was stored and the
// sender must try again. Either way the entry goes as the first copy finishes: later
// copies are the database's to judge.
func (c *inFlight) claim(key string) (Outcome, bool, claimed) {
	for {
		c.mu.Lock()
		f, found := c.entries[key]
		if !found {
			f = new(flight)
			f.done.Add(1)
			c.entries[key] = f
			c.mu.Unlock()
			return Outcome{}, false, claimed{c: c, key: key, f: f}
		}
		c.mu.Unlock()
		f.done.Wait()
		if f.ok {
			return f.out, true, claimed{}
		}
		// The copy in flight stored nothing: this one gets its own attempt.
	}
}

// claimed is a delivery this process handles first. A struct and a WaitGroup rather than
// a closure and a channel: 2 of the host's allocations fewer per delivery (host/bench).
type claimed struct {
	c   *inFlight
	key string
	f   *flight
}

// finish records the outcome, for the copies waiting and (ok) to repeat to them.
func (cl claimed) finish(out Outcome, ok bool) {
	cl.c.mu.Lock()
	cl.f.out, cl.f.ok = out, ok
	delete(cl.c.entries, cl.key)
	cl.c.mu.Unlock()
	cl.f.done.Done()
}

// len is the number of deliveries in flight (tests).
func (c *inFlight) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
