package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
)

// Replays. A signed delivery can be sent again as it is — by the provider retrying, or
// by anyone who captured it — and its signature stays valid for the scheme's window
// (five minutes for Standard Webhooks). Readings dedupe on their unique key, but each
// copy used to add a webhook.received audit row, or, for a payload that fails to parse,
// a dead-letter row of up to the body limit. The replay cache answers a copy of a
// delivery handled in the last replayTTL with the first one's outcome, adding no rows.
//
// A delivery is the same when the plugin names the same delivery id (webhook-id). A
// payload that failed to parse has no id the host can learn, so there the key is the
// request itself: the body and every header but the transport's (a replay is a byte for
// byte copy). Never the body alone: two deliveries may carry the same body — an untimed
// reading sent twice, with different delivery ids in their headers — and merging them
// would lose the second. The cache is per process: with several replicas a replay
// costs at most one row per replica, not one per copy.

// replayTTL covers the signature window of the schemes in use, twice over.
const replayTTL = 10 * time.Minute

// replayMaxEntries bounds the cache's memory (~200 bytes an entry). Past it, expired
// entries are dropped first, then the oldest.
const replayMaxEntries = 100_000

type replayEntry struct {
	done    chan struct{} // closed once out is set (or the first attempt gave up)
	out     Outcome
	ok      bool // out is a handled outcome to repeat
	expires time.Time
}

type replayCache struct {
	mu      sync.Mutex
	entries map[string]*replayEntry
	order   []string // keys in insertion order, for eviction
}

func newReplayCache() *replayCache {
	return &replayCache{entries: map[string]*replayEntry{}}
}

// deliveryKey is the key of a delivery the plugin named.
func deliveryKey(provider string, account int64, deliveryID string) string {
	return "id|" + provider + "|" + strconv.FormatInt(account, 10) + "|" + deliveryID
}

// requestKey is the key of a verified payload that could not be parsed: its body and
// headers, less those a proxy or client library sets per request.
func requestKey(provider string, account int64, h http.Header, body []byte) string {
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
	return "req|" + provider + "|" + strconv.FormatInt(account, 10) + "|" + hex.EncodeToString(d.Sum(nil))
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

// claim returns the outcome to repeat when key was handled within the TTL (waiting for
// a copy still in flight), or, when it was not, a function to record this delivery's
// outcome: finish(out, true) once handled, finish(_, false) when nothing was stored and
// the sender must try again.
func (c *replayCache) claim(key string, now time.Time) (Outcome, bool, func(Outcome, bool)) {
	for {
		c.mu.Lock()
		e, found := c.entries[key]
		if found && now.After(e.expires) {
			delete(c.entries, key)
			found = false
		}
		if !found {
			e = &replayEntry{done: make(chan struct{}), expires: now.Add(replayTTL)}
			c.add(key, e, now)
			c.mu.Unlock()
			return Outcome{}, false, func(out Outcome, ok bool) {
				c.mu.Lock()
				e.out, e.ok = out, ok
				if !ok && c.entries[key] == e {
					delete(c.entries, key)
				}
				c.mu.Unlock()
				close(e.done)
			}
		}
		c.mu.Unlock()
		<-e.done
		c.mu.Lock()
		out, ok := e.out, e.ok
		c.mu.Unlock()
		if ok {
			return out, true, nil
		}
		// The copy in flight stored nothing: this one gets its own attempt.
	}
}

// add stores e under key; c.mu is held. Entries expire in insertion order (one TTL), so
// the oldest are at the front of c.order: eviction pops from there, O(1) a key.
func (c *replayCache) add(key string, e *replayEntry, now time.Time) {
	for len(c.order) > 0 {
		k := c.order[0]
		x, live := c.entries[k]
		full := len(c.entries) >= replayMaxEntries || len(c.order) >= 2*replayMaxEntries
		if live && !now.After(x.expires) && !full {
			break
		}
		if live && (now.After(x.expires) || full) {
			delete(c.entries, k)
		}
		c.order = c.order[1:]
	}
	c.entries[key] = e
	c.order = append(c.order, key)
}
