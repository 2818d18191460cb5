// Package loadtest drives signed generic-provider webhook deliveries at a host over real
// HTTP, for the fault drills (host/drill) and the end-to-end benchmark (host/bench).
//
// Every delivery has a sequence number, and its readings carry recorded_at = Base + seq
// milliseconds. That makes a delivery's rows findable after the fact (Seq), so a drill
// can check, delivery by delivery, that what the host acknowledged is stored exactly
// once and that nothing it refused is stored half.
package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolhost/poolhost/sdk/signature"
)

// metrics are the readings a delivery carries, in order: ten distinct metrics with
// canonical units and values inside the hard ranges.
var metrics = []struct {
	name  string
	value float64
	unit  string
}{
	{"ph", 7.4, "pH"},
	{"orp", 700, "mV"},
	{"temperature", 27.5, "C"},
	{"free_chlorine", 2.5, "ppm"},
	{"total_chlorine", 2.8, "ppm"},
	{"combined_chlorine", 0.3, "ppm"},
	{"cyanuric_acid", 40, "ppm"},
	{"total_alkalinity", 100, "ppm"},
	{"calcium_hardness", 250, "ppm"},
	{"salt", 3200, "ppm"},
}

// MaxReadings is the most readings one delivery can carry (distinct metrics).
const MaxReadings = 10

// Payloads builds and signs deliveries.
type Payloads struct {
	// Base is the recorded_at of sequence 0. Keep it inside the host's timestamp window
	// for every sequence the run may reach (1,000 deliveries = 1 s).
	Base time.Time
	// Devices are the provider device ids deliveries name, round robin.
	Devices []string
	// Readings per delivery, 1..MaxReadings.
	Readings int
	// Signer signs with the provider-level secret.
	Signer *signature.StandardWebhooks
}

// NewPayloads returns Payloads for secret, based an hour ago (a window of an hour of
// milliseconds: 3.6 million deliveries).
func NewPayloads(secret string, devices []string, readings int) (*Payloads, error) {
	if readings < 1 || readings > MaxReadings {
		return nil, fmt.Errorf("readings per delivery must be 1..%d", MaxReadings)
	}
	if len(devices) == 0 {
		return nil, fmt.Errorf("no devices")
	}
	s, err := signature.NewStandardWebhooks(secret)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	return &Payloads{
		Base:     time.Now().Add(-time.Hour).UTC().Truncate(time.Second),
		Devices:  devices,
		Readings: readings,
		Signer:   s,
	}, nil
}

// RecordedAt is the timestamp of delivery seq's readings.
func (p *Payloads) RecordedAt(seq int64) time.Time {
	return p.Base.Add(time.Duration(seq) * time.Millisecond)
}

// Seq is the delivery whose readings carry recordedAt (the inverse of RecordedAt).
func (p *Payloads) Seq(recordedAt time.Time) int64 {
	return int64(recordedAt.Sub(p.Base).Round(time.Millisecond) / time.Millisecond)
}

// DeliveryID is the webhook-id header of delivery seq.
func DeliveryID(seq int64) string { return "msg_drill_" + strconv.FormatInt(seq, 10) }

// SeqOfDeliveryID parses DeliveryID; ok is false for other ids.
func SeqOfDeliveryID(id string) (int64, bool) {
	const prefix = "msg_drill_"
	if len(id) <= len(prefix) || id[:len(prefix)] != prefix {
		return 0, false
	}
	n, err := strconv.ParseInt(id[len(prefix):], 10, 64)
	return n, err == nil
}

// Body is delivery seq's JSON body. "seq" is not part of the generic format; the
// provider ignores it, and drills read it back from kept payloads.
func (p *Payloads) Body(seq int64) []byte {
	var b bytes.Buffer
	b.Grow(64 + 96*p.Readings)
	at := p.RecordedAt(seq).Format(time.RFC3339Nano)
	fmt.Fprintf(&b, `{"seq":%d,"device_id":%q,"readings":[`, seq, p.Devices[int(seq)%len(p.Devices)])
	for i := 0; i < p.Readings; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		m := metrics[i]
		fmt.Fprintf(&b, `{"metric":%q,"value":%s,"unit":%q,"recorded_at":%q}`,
			m.name, strconv.FormatFloat(m.value, 'f', -1, 64), m.unit, at)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// SeqOfBody reads "seq" back from a body made by Body.
func SeqOfBody(body []byte) (int64, error) {
	var v struct {
		Seq *int64 `json:"seq"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, err
	}
	if v.Seq == nil {
		return 0, fmt.Errorf("no seq in body")
	}
	return *v.Seq, nil
}

// Request is delivery seq, signed now, posted to url.
func (p *Payloads) Request(ctx context.Context, url string, seq int64) (*http.Request, error) {
	body := p.Body(seq)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = p.Signer.Headers(DeliveryID(seq), time.Now(), body)
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// Result is one delivery's answer.
type Result struct {
	Seq     int64
	Status  int // 0 when the request failed without an answer
	Start   time.Time
	Latency time.Duration
	// Accepted and Duplicates are read from a 200 answer.
	Accepted, Duplicates int
	Err                  error
}

// Acknowledged reports whether the host took responsibility for the delivery.
func (r Result) Acknowledged() bool {
	return r.Status == http.StatusOK || r.Status == http.StatusAccepted
}

// Runner posts deliveries from Concurrency clients.
type Runner struct {
	URL         string
	Payloads    *Payloads
	Concurrency int
	// Client defaults to one with a keep-alive connection per client and a 60 s timeout.
	Client *http.Client
	// FirstSeq is the sequence of the first delivery (runs that share a database need
	// disjoint ranges).
	FirstSeq int64
	// OnResult, when set, sees each result as it arrives (from many goroutines).
	OnResult func(Result)

	next atomic.Int64
}

// NewClient is an HTTP client for n concurrent senders on loopback.
func NewClient(n int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:        n,
		MaxIdleConnsPerHost: n,
		MaxConnsPerHost:     n,
		IdleConnTimeout:     time.Minute,
	}
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// Run posts deliveries until ctx ends or, when max > 0, max deliveries were sent, and
// returns every result in sequence order. ctx bounds the run, not the requests in
// flight: those finish (under the client's timeout) and are reported.
func (r *Runner) Run(ctx context.Context, max int64) []Result {
	client := r.Client
	if client == nil {
		client = NewClient(r.Concurrency)
	}
	r.next.Store(r.FirstSeq)
	var (
		mu  sync.Mutex
		out []Result
		wg  sync.WaitGroup
	)
	for i := 0; i < r.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []Result
			for ctx.Err() == nil {
				seq := r.next.Add(1) - 1
				if max > 0 && seq-r.FirstSeq >= max {
					break
				}
				res := r.Post(context.WithoutCancel(ctx), client, seq)
				if r.OnResult != nil {
					r.OnResult(res)
				}
				mine = append(mine, res)
			}
			mu.Lock()
			out = append(out, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// Post sends delivery seq once.
func (r *Runner) Post(ctx context.Context, client *http.Client, seq int64) Result {
	res := Result{Seq: seq}
	req, err := r.Payloads.Request(ctx, r.URL, seq)
	if err != nil {
		res.Err = err
		return res
	}
	start := time.Now()
	res.Start = start
	resp, err := client.Do(req)
	if err != nil {
		res.Latency = time.Since(start)
		res.Err = err
		return res
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	res.Latency = time.Since(start)
	res.Status = resp.StatusCode
	if err != nil {
		res.Err = err
		return res
	}
	if resp.StatusCode == http.StatusOK {
		var v struct {
			Accepted   int `json:"accepted"`
			Duplicates int `json:"duplicates"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			res.Err = fmt.Errorf("200 answer is not JSON: %w", err)
			return res
		}
		res.Accepted, res.Duplicates = v.Accepted, v.Duplicates
	}
	return res
}

// Summary counts a run's answers.
type Summary struct {
	Total    int
	ByStatus map[int]int // 0 = no answer
	P50, P99 time.Duration
}

// Summarize counts results by status and takes latency percentiles over all of them.
func Summarize(rs []Result) Summary {
	s := Summary{Total: len(rs), ByStatus: map[int]int{}}
	lat := make([]time.Duration, 0, len(rs))
	for _, r := range rs {
		s.ByStatus[r.Status]++
		lat = append(lat, r.Latency)
	}
	s.P50, s.P99 = Percentile(lat, 0.50), Percentile(lat, 0.99)
	return s
}

// Percentile returns the q-quantile (0..1) of ds by nearest rank; ds is sorted in place.
func Percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(q*float64(len(ds))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(ds) {
		i = len(ds) - 1
	}
	return ds[i]
}

func (s Summary) String() string {
	codes := make([]int, 0, len(s.ByStatus))
	for c := range s.ByStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d deliveries:", s.Total)
	for _, c := range codes {
		fmt.Fprintf(&b, " %d×%d", s.ByStatus[c], c)
	}
	fmt.Fprintf(&b, "; p50 %v p99 %v", s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond))
	return b.String()
}
