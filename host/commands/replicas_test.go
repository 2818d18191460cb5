package commands_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/commands"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/internal/pgtest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// orderedSender records, per device, the order commands reached it, and fails the test
// if two sends to one device overlap.
type orderedSender struct {
	t        *testing.T
	mu       sync.Mutex
	sends    map[string]int
	order    map[string][]string
	inFlight map[string]bool
}

func (s *orderedSender) SendCommand(_ context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	s.mu.Lock()
	if s.inFlight[req.ProviderDeviceID] {
		s.t.Errorf("two sends in flight to %s", req.ProviderDeviceID)
	}
	s.inFlight[req.ProviderDeviceID] = true
	s.sends[req.CommandID]++
	s.order[req.ProviderDeviceID] = append(s.order[req.ProviderDeviceID], req.CommandID)
	s.mu.Unlock()
	// Give a second send to the same device the chance to overlap, were it possible.
	time.Sleep(time.Millisecond)
	s.mu.Lock()
	s.inFlight[req.ProviderDeviceID] = false
	s.mu.Unlock()
	return sdk.CommandResult{Status: sdk.CommandSent}, nil
}

type oneSender struct{ s commands.Sender }

func (o oneSender) Sender(string) (commands.Sender, error) { return o.s, nil }

// TestTwoReplicasSendEachCommandOnce runs two dispatchers, each with its own connection
// pool, on one PostgreSQL: 200 commands over 20 devices are each pushed exactly once, one
// at a time per device, in the order they were queued.
func TestTwoReplicasSendEachCommandOnce(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	e := newEnv(t, dbURL)
	e.bind()
	ctx := context.Background()
	a, err := e.st.GetAccount(ctx, e.device.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	var devices []store.UpsertedDevice
	for i := range 20 {
		ds, err := e.st.UpsertDevices(ctx, a.ID, []store.NewDevice{{ProviderDeviceID: fmt.Sprintf("relay-%02d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		// Linked to the pool, as a device must be for the pool's commands to reach it.
		if _, err := e.st.LinkDevice(ctx, ds[0].ID, e.pool, e.owner.id); err != nil {
			t.Fatal(err)
		}
		devices = append(devices, ds[0])
	}
	queued := map[string][]string{} // device -> command ids in queue order
	for i := range 200 {
		d := devices[i%20]
		c, _, err := e.st.CreateCommand(ctx, store.NewCommand{PoolID: e.pool, DeviceID: d.ID, AccountID: a.ID, Provider: "relay",
			ProviderDeviceID: d.ProviderDeviceID, Command: "pump.set", Params: store.Details{"on": i%2 == 0},
			ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		queued[d.ProviderDeviceID] = append(queued[d.ProviderDeviceID], c.PublicID)
	}
	snd := &orderedSender{t: t, sends: map[string]int{}, order: map[string][]string{}, inFlight: map[string]bool{}}
	var wg sync.WaitGroup
	for r := range 2 {
		st, err := store.Open(ctx, dbURL, store.WithCipher(e.kr))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		d := commands.NewDispatcher(st, oneSender{snd}, e.rec, nil, nil, commands.DispatcherConfig{
			CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 7}, Owner: fmt.Sprintf("replica-%d", r)})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				snd.mu.Lock()
				n := len(snd.sends)
				snd.mu.Unlock()
				if n == 200 {
					return
				}
				if _, err := d.Tick(ctx); err != nil {
					t.Errorf("replica %d: %v", r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for id, n := range snd.sends {
		if n != 1 {
			t.Errorf("command %s pushed %d times", id, n)
		}
	}
	for dev, want := range queued {
		got := snd.order[dev]
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("device %s got %v, want queue order %v", dev, got, want)
		}
	}
	sent, _ := e.st.ListCommands(ctx, store.CommandFilter{PoolID: e.pool, Statuses: []store.CommandStatus{store.CommandSent}, Limit: 1000})
	if len(sent) != 200 {
		t.Errorf("%d commands sent, want 200", len(sent))
	}
}

// slowSender's first send does not answer until its context ends (a provider that never
// answers); it records every command it is called with.
type slowSender struct {
	mu    sync.Mutex
	calls []string
}

func (s *slowSender) SendCommand(ctx context.Context, req sdk.CommandRequest) (sdk.CommandResult, error) {
	s.mu.Lock()
	s.calls = append(s.calls, req.CommandID)
	first := len(s.calls) == 1
	s.mu.Unlock()
	if !first {
		return sdk.CommandResult{Status: sdk.CommandSent}, nil
	}
	select {
	case <-ctx.Done():
		return sdk.CommandResult{}, fmt.Errorf("%w: %v", sdk.ErrOutcomeUnknown, ctx.Err())
	case <-time.After(10 * time.Second): // a hang guard only: the send had no deadline
		return sdk.CommandResult{Status: sdk.CommandSent}, nil
	}
}

// TestSendsStayWithinTheirLease: a batch is claimed at once and sent Concurrency at a
// time, so a command's turn can come after its lease has run out, when another replica
// may already have rescued it (unknown) and sent the device's next command. Each send
// now ends within its lease: the slow one is cut there (unknown), and the one whose
// turn came after it is queued again, unsent. Both were sent, the second after its
// lease had run out.
func TestSendsStayWithinTheirLease(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		ctx := context.Background()
		a, err := e.st.GetAccount(ctx, e.device.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range 2 {
			ds, err := e.st.UpsertDevices(ctx, a.ID, []store.NewDevice{{ProviderDeviceID: fmt.Sprintf("slow-%d", i)}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.st.LinkDevice(ctx, ds[0].ID, e.pool, e.owner.id); err != nil {
				t.Fatal(err)
			}
			c, _, err := e.st.CreateCommand(ctx, store.NewCommand{PoolID: e.pool, DeviceID: ds[0].ID, AccountID: a.ID, Provider: "relay",
				ProviderDeviceID: ds[0].ProviderDeviceID, Command: "pump.set", Params: store.Details{"on": true},
				ExpiresAt: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.PublicID)
		}
		snd := &slowSender{}
		d := commands.NewDispatcher(e.st, oneSender{snd}, e.rec, nil, nil, commands.DispatcherConfig{
			CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 2, Lease: 2 * time.Second},
			Owner:         "d1", Concurrency: 1})
		st, err := d.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(snd.calls) != 1 || snd.calls[0] != ids[0] {
			t.Errorf("sends %v, want only the first (%s): the second's turn came after its lease", snd.calls, ids[0])
		}
		if c := e.command(ids[0]); c.Status != store.CommandUnknown {
			t.Errorf("the send cut at its lease: %s (%q), want unknown", c.Status, c.Reason)
		}
		if c := e.command(ids[1]); c.Status != store.CommandQueued {
			t.Errorf("the command whose turn came after its lease: %s (%q), want queued again", c.Status, c.Reason)
		}
		if st.Unknown != 1 || st.Requeued != 1 {
			t.Errorf("tick %+v, want 1 unknown and 1 requeued", st)
		}
	})
}

// restartingSender is a sender whose call waits, as a send waits for a plugin a reload
// is restarting, until hold has passed, then asks the approval (as *pluginmgr.Plugin
// does once it has the new process) and sends.
type restartingSender struct {
	*sender
	cfg  config.Provider
	hold time.Time
}

func (s restartingSender) Config() config.Provider { return s.cfg }

func (s restartingSender) SendCommandIf(ctx context.Context, req sdk.CommandRequest, approve func(config.Provider) error) (sdk.CommandResult, error) {
	time.Sleep(time.Until(s.hold))
	if err := approve(s.cfg); err != nil {
		return sdk.CommandResult{}, fmt.Errorf("not called: %w", err)
	}
	return s.SendCommand(ctx, req)
}

// TestCommandNotSentPastItsExpiry: a command's expiry bounds when it may go out, not
// only when it may be claimed. One claimed before its expiry whose call comes after it
// (its send waited for a restarting plugin; or its turn came late in a slow batch) is
// expired, not sent. It was sent.
func TestCommandNotSentPastItsExpiry(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL)
		e.bind()
		ctx := context.Background()
		code, queued := e.post(e.owner.token, map[string]any{"command": "pump.set", "params": map[string]any{"on": true}, "expiresInSeconds": 3}, nil, "")
		if code != 202 {
			t.Fatalf("command = %d %v", code, queued)
		}
		c := e.command(queued["id"].(string))
		snd := restartingSender{sender: e.send, cfg: e.prov["relay"].cfg, hold: c.ExpiresAt.Add(100 * time.Millisecond)}
		d := commands.NewDispatcher(e.st, oneSender{snd}, e.rec, nil, nil, commands.DispatcherConfig{
			CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 50}, Owner: "d1"})
		st, err := d.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Claimed != 1 {
			t.Fatalf("tick %+v, want the command claimed before its expiry", st)
		}
		if n := e.send.total(); n != 0 {
			t.Errorf("%d sends of a command whose call came after its expiry, want none", n)
		}
		if got := e.command(c.PublicID); got.Status != store.CommandExpired || got.Reason != "not sent before its expiry" {
			t.Errorf("command whose call came after its expiry: %s (%q), want expired", got.Status, got.Reason)
		}
	})
}
