package grpcplugin_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
	pb "github.com/poolhost/poolhost/sdk/internal/adapterv1"
)

// echoAdapter answers each delivery by its Webhook-Id: with that id and one reading (a
// raw payload of N bytes for "raw-N"), or, for the ids it knows, by failing the way they
// say, or holding the delivery until the test lets it go.
type echoAdapter struct {
	sdk.UnsupportedAdapter
	mu      sync.Mutex
	seen    []string                 // ids that reached Webhook or VerifyWebhook's refusal, in order
	holds   map[string]chan struct{} // id → closed when the delivery may be answered
	deaf    map[string]bool          // held ids that ignore their deadline: a plugin stuck for good
	started chan string              // a held delivery reached the adapter
}

func newEchoAdapter(held ...string) *echoAdapter {
	a := &echoAdapter{holds: map[string]chan struct{}{}, started: make(chan string, 16)}
	for _, id := range held {
		a.holds[id] = make(chan struct{})
	}
	return a
}

func (a *echoAdapter) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{ID: "echo", Version: "test", ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{Connect: sdk.ConnectNone, Webhook: true}}, nil
}

func (a *echoAdapter) Configure(context.Context, sdk.ConfigureRequest) error { return nil }

func (a *echoAdapter) note(id string) {
	a.mu.Lock()
	a.seen = append(a.seen, id)
	a.mu.Unlock()
}

func (a *echoAdapter) VerifyWebhook(_ context.Context, req sdk.WebhookRequest) error {
	if id := req.Headers.Get("Webhook-Id"); id == "forged" {
		a.note(id)
		return sdk.RejectedBecause("bad_signature", "signature does not match")
	}
	return nil
}

func (a *echoAdapter) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	id := req.Headers.Get("Webhook-Id")
	a.note(id)
	if hold, ok := a.holds[id]; ok {
		a.started <- id
		done := ctx.Done()
		if a.deaf[id] {
			done = nil
		}
		select {
		case <-hold:
		case <-done:
			return sdk.WebhookResult{}, ctx.Err()
		}
	}
	switch id {
	case "garbled":
		return sdk.WebhookResult{}, sdk.Permanent("payload is not JSON")
	case "explodes":
		panic("parse")
	}
	var raw []byte
	if n, err := strconv.Atoi(strings.TrimPrefix(id, "raw-")); err == nil {
		raw = make([]byte, n)
	}
	return sdk.WebhookResult{DeliveryID: id, Readings: []sdk.Reading{{ProviderDeviceID: "d-" + id, Metric: "ph", Value: 7.2, RawPayload: raw}}}, nil
}

func (a *echoAdapter) release(id string) { close(a.holds[id]) }

func delivery(id string) sdk.WebhookRequest {
	return sdk.WebhookRequest{Headers: http.Header{"Webhook-Id": {id}}, Body: []byte(`{"id":"` + id + `"}`), ReceivedAt: time.Now()}
}

// outcome is one delivery's answer.
type outcome struct {
	id  string
	res sdk.WebhookResult
	err error
}

// lineUp sends a delivery the plugin holds (alone in its batch), then ids, and waits
// until all of ids wait for the next batch.
func lineUp(t *testing.T, c *grpcplugin.Client, a *echoAdapter, first string, ids ...string) <-chan outcome {
	t.Helper()
	out := make(chan outcome, len(ids)+1)
	send := func(id string) {
		res, err := c.IngestWebhook(t.Context(), delivery(id))
		out <- outcome{id, res, err}
	}
	go send(first)
	if got := <-a.started; got != first {
		t.Fatalf("%s reached the adapter first, want %s", got, first)
	}
	for _, id := range ids {
		go send(id)
	}
	waitFor(t, "the deliveries to wait for a batch", func() bool { return grpcplugin.Queued(c) == len(ids) })
	return out
}

// TestIngestWebhookBatchesShareAMessage: deliveries that arrive while a batch is with the
// plugin go together in the next, in one message on the same stream, and each gets its
// own answer: all in one message from the plugin, or one message each from a plugin of
// an SDK from before IngestWebhookBatchAnswers.
func TestIngestWebhookBatchesShareAMessage(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		age                     sdkAge
		streams, answerMessages int64
	}{
		{"current", current, 1, 2},
		{"plugin without batch answers", batches, 2, 6}, // the refused answers stream, then one
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newEchoAdapter("first")
			c, cc := dial(t, a, tc.age)
			ids := []string{"a", "b", "c", "d", "e"}
			out := lineUp(t, c, a, "first", ids...)
			a.release("first")
			for range len(ids) + 1 {
				o := <-out
				if o.err != nil || o.res.DeliveryID != o.id || len(o.res.Readings) != 1 || o.res.Readings[0].ProviderDeviceID != "d-"+o.id {
					t.Fatalf("%s: answer %+v, %v", o.id, o.res, o.err)
				}
			}
			if s, r, w := cc.streams.Load(), cc.received.Load(), cc.sent.Load(); s != tc.streams || r != 2 || w != tc.answerMessages {
				t.Fatalf("6 deliveries: %d streams, %d messages to the plugin, %d from it; want %d, 2 (one alone, five together), %d",
					s, r, w, tc.streams, tc.answerMessages)
			}
		})
	}
}

// TestIngestWebhookBatchFailuresStayTheirs: in one batch, a forged signature, a payload
// that cannot be parsed and one whose parsing panics each fail as their own call would
// have (rejected with its reason; a ParseError, permanent or temporary), the deliveries
// beside them are answered, and the stream goes on.
func TestIngestWebhookBatchFailuresStayTheirs(t *testing.T) {
	a := newEchoAdapter("first")
	c, cc := dial(t, a, current)
	out := lineUp(t, c, a, "first", "ok-1", "forged", "garbled", "explodes", "ok-2")
	a.release("first")
	for range 6 {
		o := <-out
		var pe *grpcplugin.ParseError
		switch o.id {
		case "forged":
			if !sdk.IsKind(o.err, sdk.KindRejected) || errors.As(o.err, &pe) || sdk.RejectReason(o.err) != "bad_signature" {
				t.Errorf("forged: %v (reason %q), want rejected for bad_signature", o.err, sdk.RejectReason(o.err))
			}
		case "garbled":
			if !errors.As(o.err, &pe) || !sdk.IsKind(o.err, sdk.KindPermanent) {
				t.Errorf("garbled: %v, want a permanent ParseError", o.err)
			}
		case "explodes":
			if !errors.As(o.err, &pe) || !sdk.IsKind(o.err, sdk.KindTemporary) {
				t.Errorf("explodes: %v, want a temporary ParseError", o.err)
			}
		default:
			if o.err != nil || o.res.DeliveryID != o.id {
				t.Errorf("%s: %+v, %v", o.id, o.res, o.err)
			}
		}
	}
	if _, err := c.IngestWebhook(t.Context(), delivery("after")); err != nil {
		t.Fatal(err)
	}
	if s := cc.streams.Load(); s != 1 {
		t.Fatalf("%d streams, want 1: a delivery's failure does not end its batch's stream", s)
	}
}

// TestIngestWebhookBatchCancelWhileWaiting: a delivery whose caller gives up before its
// batch goes is taken out: the call returns at once, and the plugin never sees it.
func TestIngestWebhookBatchCancelWhileWaiting(t *testing.T) {
	a := newEchoAdapter("first")
	c, _ := dial(t, a, current)
	out := lineUp(t, c, a, "first", "stays")
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.IngestWebhook(ctx, delivery("gives-up"))
		errc <- err
	}()
	waitFor(t, "two deliveries to wait for a batch", func() bool { return grpcplugin.Queued(c) == 2 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || !sdk.IsKind(err, sdk.KindTemporary) {
		t.Fatalf("cancelled while waiting: %v, want a temporary context.Canceled", err)
	}
	a.release("first")
	for range 2 {
		if o := <-out; o.err != nil {
			t.Fatalf("%s: %v", o.id, o.err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if fmt.Sprint(a.seen) != "[first stays]" {
		t.Fatalf("the plugin saw %v, want [first stays]", a.seen)
	}
}

// TestIngestWebhookBatchAbandoned: a caller that gives up while its delivery is with the
// plugin in a larger batch returns at once; the others of the batch still get their
// answers, and the stream carries the next batch. (Run with -race: the batch's sender
// still writes the abandoned delivery's answer.)
func TestIngestWebhookBatchAbandoned(t *testing.T) {
	a := newEchoAdapter("first", "slow")
	c, cc := dial(t, a, current)
	out := lineUp(t, c, a, "first", "sender")
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := c.IngestWebhook(ctx, delivery("slow"))
		errc <- err
	}()
	waitFor(t, "two deliveries to wait for a batch", func() bool { return grpcplugin.Queued(c) == 2 })
	a.release("first")
	if got := <-a.started; got != "slow" {
		t.Fatalf("%s reached the adapter, want slow", got)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned: %v, want context.Canceled", err)
	}
	if o := <-out; o.id != "first" || o.err != nil {
		t.Fatalf("%s: %v", o.id, o.err)
	}
	select {
	case o := <-out:
		t.Fatalf("%s answered while its batch's slow delivery was with the plugin", o.id)
	case <-time.After(20 * time.Millisecond):
	}
	a.release("slow")
	if o := <-out; o.id != "sender" || o.err != nil || o.res.DeliveryID != "sender" {
		t.Fatalf("%s: %+v, %v", o.id, o.res, o.err)
	}
	if _, err := c.IngestWebhook(t.Context(), delivery("after")); err != nil {
		t.Fatal(err)
	}
	if s, r := cc.streams.Load(), cc.received.Load(); s != 1 || r != 3 {
		t.Fatalf("%d streams, %d messages; want 1 and 3", s, r)
	}
}

// TestIngestWebhookBatchesOneLaneForAFastPlugin: while a batch is with a plugin not
// known to be slow, the deliveries that arrive wait for the next batch, many more than a
// slow plugin's lane takes, and go together in one message.
func TestIngestWebhookBatchesOneLaneForAFastPlugin(t *testing.T) {
	a := newEchoAdapter("first")
	c, cc := dial(t, a, current)
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = fmt.Sprint("d", i)
	}
	out := make(chan outcome, len(ids)+1)
	send := func(id string) {
		res, err := c.IngestWebhook(t.Context(), delivery(id))
		out <- outcome{id, res, err}
	}
	go send("first")
	if got := <-a.started; got != "first" {
		t.Fatalf("%s reached the adapter first, want first", got)
	}
	for _, id := range ids {
		go send(id)
	}
	seen := func() int {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.seen)
	}
	waitFor(t, "the deliveries to wait or reach the plugin", func() bool { return grpcplugin.Queued(c)+seen()-1 == len(ids) })
	if q := grpcplugin.Queued(c); q != len(ids) {
		t.Fatalf("%d of %d deliveries wait for the next batch; the others went beside the one out", q, len(ids))
	}
	a.release("first")
	for range len(ids) + 1 {
		if o := <-out; o.err != nil || o.res.DeliveryID != o.id {
			t.Fatalf("%s: %+v, %v", o.id, o.res, o.err)
		}
	}
	if s, r := cc.streams.Load(), cc.received.Load(); s != 1 || r != 2 {
		t.Fatalf("%d deliveries: %d streams, %d messages; want 1 stream, 2 messages", len(ids)+1, s, r)
	}
}

// TestIngestWebhookBatchesLoneLeaderLetsTheRunnableJoin: deliveries that are ready to
// run together when no batch is out (senders answered at once by a group commit post
// again at once) go in one message, not the first alone and the others in a second
// behind it. On one P the callers run one after another, so without the yield the
// first sends before the others have queued: every round takes two messages. With it,
// 10-12 messages for the ten rounds (-race's shuffled scheduling, and the runtime's look
// at its global queue, where the yielding caller waits, every 61st scheduling, can let
// the leader go before all seven joined).
func TestIngestWebhookBatchesLoneLeaderLetsTheRunnableJoin(t *testing.T) {
	a := newEchoAdapter()
	c, cc := dial(t, a, current)
	if _, err := c.IngestWebhook(t.Context(), delivery("opens-the-stream")); err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const rounds, perRound = 10, 8
	before := cc.received.Load()
	for round := range rounds {
		out := make(chan outcome, perRound)
		for i := range perRound {
			id := fmt.Sprint("r", round, "d", i)
			go func() {
				res, err := c.IngestWebhook(t.Context(), delivery(id))
				out <- outcome{id, res, err}
			}()
		}
		for range perRound {
			if o := <-out; o.err != nil || o.res.DeliveryID != o.id {
				t.Fatalf("%s: %+v, %v", o.id, o.res, o.err)
			}
		}
	}
	if m := cc.received.Load() - before; m > rounds*8/5 {
		t.Fatalf("%d rounds of %d deliveries ready together took %d messages; want about one a round, not two", rounds, perRound, m)
	}
}

// TestIngestWebhookBatchesLanesForASlowPlugin: once the plugin took 10 ms for a
// delivery, a second batch goes beside the one out as soon as 8 deliveries wait, and
// is answered while the first is still with the plugin.
func TestIngestWebhookBatchesLanesForASlowPlugin(t *testing.T) {
	a := newEchoAdapter("slow", "held")
	c, cc := dial(t, a, current)
	go func() {
		<-a.started
		time.Sleep(10 * time.Millisecond)
		a.release("slow")
	}()
	if _, err := c.IngestWebhook(t.Context(), delivery("slow")); err != nil {
		t.Fatal(err)
	}
	ids := []string{"a", "b", "c", "d", "e", "f", "g"}
	out := lineUp(t, c, a, "held", ids...)
	eighth := make(chan outcome, 1)
	go func() {
		res, err := c.IngestWebhook(t.Context(), delivery("h"))
		eighth <- outcome{"h", res, err}
	}()
	for _, ch := range []<-chan outcome{eighth, out, out, out, out, out, out, out} {
		if o := <-ch; o.err != nil || o.res.DeliveryID != o.id || o.id == "held" {
			t.Fatalf("%s: %+v, %v", o.id, o.res, o.err)
		}
	}
	a.release("held")
	if o := <-out; o.id != "held" || o.err != nil {
		t.Fatalf("%s: %+v, %v", o.id, o.res, o.err)
	}
	if s, r := cc.streams.Load(), cc.received.Load(); s != 2 || r != 3 {
		t.Fatalf("%d streams, %d messages; want 2 streams (a lane beside the held delivery's), 3 messages", s, r)
	}
}

func TestLaneAtFor(t *testing.T) {
	for _, tc := range []struct {
		perDelivery time.Duration
		want        int
	}{
		{0, 64}, // no batch back yet
		{50 * time.Microsecond, 64},
		{125 * time.Microsecond, 64},
		{250 * time.Microsecond, 32},
		{500 * time.Microsecond, 16},
		{time.Millisecond, 8},
		{10 * time.Millisecond, 8},
	} {
		if got := grpcplugin.LaneAtFor(tc.perDelivery); got != tc.want {
			t.Errorf("LaneAtFor(%v) = %d, want %d", tc.perDelivery, got, tc.want)
		}
	}
}

// miscounting is a plugin serving only IngestWebhookBatchAnswers that answers every batch
// with extra more answers than it had requests (fewer, when negative), each naming the
// request of its place, and holds the batch whose first delivery is "first" until
// released.
type miscounting struct {
	extra   int
	started chan struct{}
	release chan struct{}
}

func (m *miscounting) serve(_ any, ss grpc.ServerStream) error {
	for {
		var batch pb.IngestWebhookBatch
		if err := ss.RecvMsg(&batch); err != nil {
			return nil
		}
		ids := []string{}
		for _, r := range batch.GetRequests() {
			for _, h := range r.GetWebhook().GetHeaders() {
				if h.GetName() == "Webhook-Id" {
					ids = append(ids, h.GetValues()[0])
				}
			}
		}
		if len(ids) > 0 && ids[0] == "first" {
			m.started <- struct{}{}
			<-m.release
		}
		res := &pb.IngestWebhookBatchResponse{}
		for i := range len(ids) + m.extra {
			id := "extra"
			if i < len(ids) {
				id = ids[i]
			}
			res.Answers = append(res.Answers, &pb.IngestWebhookResponse{Result: &pb.WebhookResult{DeliveryId: id}})
		}
		if err := ss.SendMsg(res); err != nil {
			return err
		}
	}
}

func dialMiscounting(t *testing.T, m *miscounting) *grpcplugin.Client {
	t.Helper()
	srv := grpc.NewServer()
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "poolhost.adapter.v1.Adapter",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{StreamName: "IngestWebhookBatchAnswers", Handler: m.serve,
			ServerStreams: true, ClientStreams: true}},
	}, struct{}{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return grpcplugin.NewClient(conn)
}

// TestIngestWebhookBatchAnswersMiscounted: a plugin that answers a batch with more or
// fewer answers than it had deliveries fails every delivery of that batch, at once and
// as temporary, saying so; none gets another's answer (the answers name their
// deliveries, so one mis-assigned would show).
func TestIngestWebhookBatchAnswersMiscounted(t *testing.T) {
	for _, extra := range []int{-1, 1} {
		t.Run(fmt.Sprint("extra ", extra), func(t *testing.T) {
			m := &miscounting{extra: extra, started: make(chan struct{}, 1), release: make(chan struct{})}
			c := dialMiscounting(t, m)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			out := make(chan outcome, 3)
			send := func(id string) {
				res, err := c.IngestWebhook(ctx, delivery(id))
				out <- outcome{id, res, err}
			}
			go send("first")
			<-m.started
			go send("a")
			go send("b")
			waitFor(t, "two deliveries to wait for a batch", func() bool { return grpcplugin.Queued(c) == 2 })
			close(m.release)
			for range 3 {
				o := <-out
				if o.err == nil || o.res.DeliveryID != "" || !sdk.IsKind(o.err, sdk.KindTemporary) || !strings.Contains(o.err.Error(), "answered a batch of") || errors.Is(o.err, context.DeadlineExceeded) {
					t.Errorf("%s: %+v, %v; want a temporary error saying the batch's answers were miscounted", o.id, o.res, o.err)
				}
			}
		})
	}
}

// TestIngestWebhookBatchDeadline: a batch whose plugin outlives the soonest deadline of
// its deliveries fails them all by then, temporary (each by its own deadline, or as the
// batch's), its stream closed, whether its answers would have come in one message or
// one each; the next delivery gets a new stream.
func TestIngestWebhookBatchDeadline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		age     sdkAge
		streams int64
	}{
		{"current", current, 2},
		{"plugin without batch answers", batches, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newEchoAdapter("first", "stuck")
			// Stuck for good: an adapter that gave up at its own deadline would answer
			// the batch, sometimes before the host's timer ended the stream (on a loaded
			// machine: 1 in 40 runs under -race), and a stream that was answered is
			// rightly kept.
			a.deaf = map[string]bool{"stuck": true}
			c, cc := dial(t, a, tc.age)
			first := make(chan error, 1)
			go func() {
				_, err := c.IngestWebhook(t.Context(), delivery("first"))
				first <- err
			}()
			if got := <-a.started; got != "first" {
				t.Fatalf("%s reached the adapter first, want first", got)
			}
			out := make(chan outcome, 2)
			for _, id := range []string{"quick", "stuck"} {
				go func() {
					// Long enough for the batch to be sent before it runs out, however
					// loaded the machine: one that ran out while still queued (a CI run
					// beside other tests, at 300 ms) fails unsent, and leaves the stream
					// unended, which is right but not what this test is about.
					res, err := c.IngestWebhookWithin(t.Context(), delivery(id), grpcplugin.Bounds{Timeout: 3 * time.Second})
					out <- outcome{id, res, err}
				}()
			}
			waitFor(t, "two deliveries to wait for a batch", func() bool { return grpcplugin.Queued(c) == 2 })
			a.release("first")
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for range 2 {
				select {
				case o := <-out:
					if o.err == nil && o.id == "stuck" || o.err != nil && !sdk.IsKind(o.err, sdk.KindTemporary) {
						t.Errorf("%s: %+v, %v; want a temporary error", o.id, o.res, o.err)
					}
				case <-time.After(time.Minute):
					t.Fatal("a batch with the plugin past its deliveries' deadlines was not ended")
				}
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("the batch ended %v after its deadlines", took)
			}
			a.release("stuck")
			if _, err := c.IngestWebhook(t.Context(), delivery("after")); err != nil {
				t.Fatal(err)
			}
			if s := cc.streams.Load(); s != tc.streams {
				t.Fatalf("%d streams, want %d (the ended one is not reused)", s, tc.streams)
			}
		})
	}
}

// TestIngestWebhookBatchAnswersTooLarge: a batch whose answers together are over the
// host's MaxMessage, each alone within it, is sent again one delivery a batch: those
// within it are answered, and only the one over it is refused, as permanent, as alone.
func TestIngestWebhookBatchAnswersTooLarge(t *testing.T) {
	a := newEchoAdapter("first")
	c, cc := dial(t, a, current, grpcplugin.MaxMessage(8<<10, nil)...)
	out := lineUp(t, c, a, "first", "raw-5000", "raw-5001", "raw-9000", "small")
	a.release("first")
	for range 5 {
		o := <-out
		if o.id == "raw-9000" {
			if !sdk.IsKind(o.err, sdk.KindPermanent) || !strings.Contains(o.err.Error(), "larger than plugins.max_message_bytes") {
				t.Errorf("%s: %v, want refused as permanent", o.id, o.err)
			}
			continue
		}
		if o.err != nil || o.res.DeliveryID != o.id {
			t.Errorf("%s: %+v, %v", o.id, o.res, o.err)
		}
	}
	// The held delivery's batch, the batch of four, and each of the four alone.
	if r := cc.received.Load(); r != 6 {
		t.Errorf("%d messages to the plugin, want 6", r)
	}
}
