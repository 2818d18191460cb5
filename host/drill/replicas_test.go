package drill_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/internal/loadtest"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/store"
)

// replicaSetup is a PostgreSQL primary with a streaming standby, seeded (an owner, a
// pool, the generic account and its linked devices), with the owner's API token.
type replicaSetup struct {
	primary, standby *pgtest.Cluster
	url, readURL     string
	store            *store.Store // on the primary alone
	world            ingesttest.World
	token            string
	payloads         *loadtest.Payloads
}

func newReplicaSetup(t *testing.T) *replicaSetup {
	t.Helper()
	r := &replicaSetup{primary: pgtest.NewCluster(t)}
	r.url = r.primary.NewDatabase(t)
	r.standby = r.primary.NewStandby(t)
	r.readURL = r.standby.StandbyURL(t, r.url)
	r.store = openStore(t, r.url)
	r.world = ingesttest.Seed(t, r.store, provider, "drill@example.com", nil, devices, nil)
	var err error
	if r.token, _, err = r.store.CreateAPIToken(context.Background(), r.world.User.ID, "drill"); err != nil {
		t.Fatal(err)
	}
	if r.payloads, err = loadtest.NewPayloads(ingesttest.GenericSecret, devices, readingsPerDelivery); err != nil {
		t.Fatal(err)
	}
	return r
}

// serve starts a `poolhost serve` replica reading from the standby.
func (r *replicaSetup) serve(t *testing.T, name string, extra ...string) *serveProc {
	t.Helper()
	extra = append([]string{fmt.Sprintf("database_read_url = %q\ndatabase_read_max_lag = \"10s\"", r.readURL)}, extra...)
	p := startServe(t, r.url, name, extra...)
	p.waitReady(t)
	return p
}

// signed is one delivery, signed once: every copy sent is the same bytes.
type signed struct {
	body   []byte
	header http.Header
}

func (r *replicaSetup) signed(t *testing.T, seq int64) signed {
	t.Helper()
	req, err := r.payloads.Request(context.Background(), "http://x/", seq)
	if err != nil {
		t.Fatal(err)
	}
	return signed{body: r.payloads.Body(seq), header: req.Header}
}

// post sends d to host p's provider-level webhook URL.
func (p *serveProc) post(t *testing.T, d signed) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+p.addr+"/v1/webhooks/"+provider, bytes.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = d.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post to %s: %v", p.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// get sends an authenticated GET to host p.
func (p *serveProc) get(t *testing.T, token, path string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+p.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("get %s from %s: %v", path, p.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestReplicaReadsWhilePrimaryStopped: a `poolhost serve` with database_read_url at a
// real streaming standby keeps answering GET /v1/pools/{id}/readings with 200 while the
// primary is stopped, its token checked on the standby; webhooks, which must write,
// answer 503 with Retry-After; /readyz reports both databases.
func TestReplicaReadsWhilePrimaryStopped(t *testing.T) {
	r := newReplicaSetup(t)
	h := r.serve(t, "a")
	const deliveries = 5
	for seq := int64(0); seq < deliveries; seq++ {
		if code, _, body := h.post(t, r.signed(t, seq)); code != http.StatusOK {
			t.Fatalf("delivery %d: %d %s", seq, code, body)
		}
	}
	pgtest.WaitReplayed(t, r.primary, r.standby)
	readings := fmt.Sprintf("/v1/pools/%d/readings?limit=100", r.world.Pool.ID)
	want := deliveries * readingsPerDelivery

	if err := r.primary.Stop(); err != nil {
		t.Fatal(err)
	}
	code, _, body := h.get(t, r.token, readings)
	if code != http.StatusOK {
		t.Fatalf("readings with the primary stopped: %d %s, want 200", code, body)
	}
	var page struct {
		Readings []json.RawMessage `json:"readings"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("readings answer: %v: %s", err, body)
	}
	if len(page.Readings) != want {
		t.Errorf("readings with the primary stopped: %d, want %d", len(page.Readings), want)
	}
	for _, path := range []string{
		fmt.Sprintf("/v1/pools/%d/status", r.world.Pool.ID),
		fmt.Sprintf("/v1/pools/%d/readings/summary?metric=ph&bucket=1h", r.world.Pool.ID),
		"/v1/pools",
	} {
		if code, _, body := h.get(t, r.token, path); code != http.StatusOK {
			t.Errorf("%s with the primary stopped: %d %s, want 200", path, code, body)
		}
	}
	if code, _, body := h.get(t, "", readings); code != http.StatusUnauthorized {
		t.Errorf("readings without a token, primary stopped: %d %s, want 401", code, body)
	}

	code, hdr, body := h.post(t, r.signed(t, deliveries))
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("webhook with the primary stopped: %d (Retry-After %q) %s, want 503 with Retry-After", code, hdr.Get("Retry-After"), body)
	}

	code, _, body = h.get(t, "", "/readyz")
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatalf("readyz: %v: %s", err, body)
	}
	if code != http.StatusOK || ready.Checks["database"] != "degraded" || ready.Checks["database_read"] != "ok" {
		t.Errorf("readyz with the primary stopped: %d %s, want 200 with database degraded and database_read ok", code, body)
	}
	t.Logf("primary stopped: readings %d (200), webhook %d, readyz %s", len(page.Readings), http.StatusServiceUnavailable, body)
}

// TestReplayAcrossServeReplicas: a delivery sent once to each of two `poolhost serve`
// replicas, then again to each at the same time, is stored once: one webhook.received
// row, its readings once, every answer a 200 whose accepted and duplicates together
// count the readings, and exactly one answer saying they were accepted.
func TestReplayAcrossServeReplicas(t *testing.T) {
	r := newReplicaSetup(t)
	hosts := []*serveProc{r.serve(t, "a"), r.serve(t, "b")}
	d := r.signed(t, 1)
	accepted := 0
	check := func(i int, code int, body []byte) {
		var v struct{ Accepted, Duplicates int }
		if code != http.StatusOK || json.Unmarshal(body, &v) != nil || v.Accepted+v.Duplicates != readingsPerDelivery {
			t.Errorf("copy %d: %d %s", i, code, body)
		}
		accepted += v.Accepted
	}
	for i, h := range hosts {
		code, _, body := h.post(t, d)
		check(i, code, body)
	}
	d2 := r.signed(t, 2)
	type answer struct {
		code int
		body []byte
	}
	answers := make(chan answer, 2*len(hosts))
	for range 2 {
		for _, h := range hosts {
			go func() {
				code, _, body := h.post(t, d2)
				answers <- answer{code, body}
			}()
		}
	}
	for i := range 2 * len(hosts) {
		a := <-answers
		check(len(hosts)+i, a.code, a.body)
	}
	if accepted != 2*readingsPerDelivery {
		t.Errorf("answers accepted %d readings in all, want %d (each delivery's once)", accepted, 2*readingsPerDelivery)
	}
	st := readStored(t, r.store, r.payloads)
	for _, seq := range []int64{1, 2} {
		if n := len(st.commits[seq]); n != 1 || st.rows[seq] != readingsPerDelivery {
			t.Errorf("delivery %d: %d webhook.received rows and %d readings, want 1 and %d", seq, n, st.rows[seq], readingsPerDelivery)
		}
	}
	t.Logf("two replicas, %d copies of 2 deliveries: webhook.received rows %d and %d, readings %d and %d",
		2+2*len(hosts), len(st.commits[1]), len(st.commits[2]), st.rows[1], st.rows[2])
}
