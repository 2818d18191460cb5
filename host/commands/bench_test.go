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

type countingSender struct {
	mu sync.Mutex
	n  int
}

func (s *countingSender) SendCommand(context.Context, sdk.CommandRequest) (sdk.CommandResult, error) {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return sdk.CommandResult{Status: sdk.CommandSent}, nil
}

// BenchmarkDispatcherPostgres measures the dispatcher's own throughput on durable
// PostgreSQL: 1,000 queued commands over 100 devices sent by two dispatchers (two
// replicas' worth), with a plugin that answers at once, so the figure is the claim,
// audit and finish writes per command. Reports commands/s.
func BenchmarkDispatcherPostgres(b *testing.B) {
	dbURL := pgtest.NewDatabase(b)
	e := newEnv(b, dbURL)
	ctx := context.Background()
	var devices []store.UpsertedDevice
	for i := range 100 {
		ds, err := e.st.UpsertDevices(ctx, e.device.AccountID, []store.NewDevice{{ProviderDeviceID: fmt.Sprintf("bench-%03d", i)}})
		if err != nil {
			b.Fatal(err)
		}
		// The dispatcher sends only to a device that feeds the command's pool.
		if _, err := e.st.LinkDevice(ctx, ds[0].ID, e.pool, e.owner.id); err != nil {
			b.Fatal(err)
		}
		devices = append(devices, ds[0])
	}
	snd := &countingSender{}
	var ds []*commands.Dispatcher
	for r := range 2 {
		st, err := store.Open(ctx, dbURL, store.WithCipher(e.kr))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		ds = append(ds, commands.NewDispatcher(st, oneSender{snd}, e.rec, nil, nil, commands.DispatcherConfig{
			CommandWorker: config.CommandWorker{Enabled: true, BatchSize: 100}, Owner: fmt.Sprintf("bench-%d", r), Concurrency: 16}))
	}
	const perRound = 1000
	var elapsed time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for i := range perRound {
			d := devices[i%len(devices)]
			if _, _, err := e.st.CreateCommand(ctx, store.NewCommand{PoolID: e.pool, DeviceID: d.ID, AccountID: d.AccountID,
				Provider: "relay", ProviderDeviceID: d.ProviderDeviceID, Command: "pump.set", Params: store.Details{"on": true},
				ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
		snd.mu.Lock()
		target := snd.n + perRound
		snd.mu.Unlock()
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					snd.mu.Lock()
					done := snd.n >= target
					snd.mu.Unlock()
					if done {
						return
					}
					if _, err := d.Tick(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(perRound*b.N)/elapsed.Seconds(), "commands/s")
}
