package bench_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/poolhost/poolhost/host/internal/loadtest"
)

// blast is the benchmark's load generator, built the way wrk is so that its own CPU
// stays small beside the host's (the 2-core box's per-delivery CPU counts it): every
// delivery's HTTP/1.1 request — JSON body, Standard Webhooks signature, headers — is
// built and signed before the clock starts, and then each sender writes its requests'
// bytes on one kept-alive TCP connection and reads the answers with a small parser.
// Each delivery is still its own (webhook-id msg_drill_<seq>, readings at Base + seq
// ms), so the host verifies, stores and deduplicates every one as a real one.
//
// What it buys, host/bench postgres/c64/plugin: the load generator's CPU per delivery
// from 82-93 µs (net/http client, JSON encoding and HMAC per request) to about 15 µs.
func blast(job loadgenJob, p *loadtest.Payloads) (loadgenReport, error) {
	u, err := url.Parse(job.URL)
	if err != nil {
		return loadgenReport{}, err
	}
	setup0 := cpuTime()
	reqs := make([][]byte, job.N)
	// Signed now: the host accepts a webhook-timestamp within minutes of its clock,
	// far more than a run takes.
	now := time.Now()
	for i := range reqs {
		reqs[i] = request(p, u, job.FirstSeq+int64(i), now)
	}
	setup := cpuTime() - setup0

	type result struct {
		latency  time.Duration
		status   int
		accepted int
		err      error
	}
	results := make([]result, job.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	box0 := readBoxCPU()
	start := time.Now()
	for range job.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *conn
			defer func() {
				if c != nil {
					c.nc.Close()
				}
			}()
			for {
				i := next.Add(1) - 1
				if i >= job.N {
					return
				}
				r := &results[i]
				if c == nil {
					if c, r.err = dial(u.Host); r.err != nil {
						continue
					}
				}
				t := time.Now()
				r.status, r.accepted, r.err = c.post(reqs[i])
				r.latency = time.Since(t)
				if r.err != nil {
					c.nc.Close()
					c = nil
				}
			}
		}()
	}
	wg.Wait()
	rep := loadgenReport{Elapsed: time.Since(start), N: int(job.N), CPU: cpuTime() - cpu0, Setup: setup, Procs: runtime.GOMAXPROCS(0)}
	rep.BoxUtil = readBoxCPU().utilSince(box0)
	lat := make([]time.Duration, len(results))
	for i, r := range results {
		lat[i] = r.latency
		if rep.Failure == "" && (r.status != 200 || r.accepted != readingsPerDelivery) {
			rep.Failure = fmt.Sprintf("delivery %d: status %d accepted %d (%v)", job.FirstSeq+int64(i), r.status, r.accepted, r.err)
		}
	}
	rep.P50 = loadtest.Percentile(lat, 0.50)
	rep.P99 = loadtest.Percentile(lat, 0.99)
	return rep, nil
}

// request is delivery seq as the bytes of an HTTP/1.1 request, signed at now.
func request(p *loadtest.Payloads, u *url.URL, seq int64, now time.Time) []byte {
	body := p.Body(seq)
	h := p.Signer.Headers(loadtest.DeliveryID(seq), now, body)
	var b bytes.Buffer
	b.Grow(len(body) + 512)
	// A User-Agent as senders have one (net/http's client sent its own).
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: poolhost-bench\r\nContent-Type: application/json\r\nContent-Length: %d\r\n",
		u.RequestURI(), u.Host, len(body))
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// conn is one sender's kept-alive connection.
type conn struct {
	nc   net.Conn
	r    *bufio.Reader
	body []byte
	// renew is when post next moves the connection's deadline (see post).
	renew time.Time
}

// A sender gives up on a host that neither reads its request nor answers it for
// deadline. post moves the connection's deadline once per renewal rather than per
// request: SetDeadline arms both of the connection's runtime timers each time (5% of
// the load generator's CPU in perf, about 0.8 µs a delivery), and a stuck host still
// fails the run within deadline.
const (
	deadline = time.Minute
	renewal  = deadline / 2
)

func dial(addr string) (*conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, 4096)}, nil
}

// post writes one request and reads its answer: the status, and "accepted" from a 200's
// JSON body. The host answers with a Content-Length (a small body, written at once);
// anything else is an error, as is an answer that closes the connection.
func (c *conn) post(req []byte) (status, accepted int, err error) {
	if now := time.Now(); now.After(c.renew) {
		if err := c.nc.SetDeadline(now.Add(deadline)); err != nil {
			return 0, 0, err
		}
		c.renew = now.Add(renewal)
	}
	if _, err := c.nc.Write(req); err != nil {
		return 0, 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, 0, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, 0, fmt.Errorf("status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, 0, fmt.Errorf("status line %q", line)
	}
	length, closing := -1, false
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return status, 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return status, 0, fmt.Errorf("header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return status, 0, fmt.Errorf("Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			closing = true
		}
	}
	if length < 0 {
		return status, 0, errors.New("answer without a Content-Length")
	}
	c.body = append(c.body[:0], make([]byte, length)...)
	if _, err := io.ReadFull(c.r, c.body); err != nil {
		return status, 0, err
	}
	if closing {
		err = errors.New("the host closed the connection")
	}
	if status == 200 {
		accepted = jsonInt(c.body, `"accepted":`)
	}
	return status, accepted, err
}

// jsonInt reads the integer after key in a flat JSON object (-1: not there).
func jsonInt(b []byte, key string) int {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return -1
	}
	rest := bytes.TrimLeft(b[i+len(key):], " ")
	n := 0
	for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
		n = n*10 + int(rest[0]-'0')
		rest = rest[1:]
	}
	return n
}

// cpuTime is this process's CPU time so far (user + system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
