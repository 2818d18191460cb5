package retry_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// downPlugins is the plugin manager while down says so: a provider whose plugin is not
// running (crashed and restarting, or given up on until a reload) answers every call
// with pluginmgr.ErrUnavailable, before the call reaches any plugin (pluginmgr.ErrNotCalled).
type downPlugins struct {
	retry.Plugins
	down  *atomic.Bool
	calls *atomic.Int64 // refused while down
}

func (d downPlugins) Parser(provider string) (retry.Parser, error) {
	p, err := d.Plugins.Parser(provider)
	if err != nil {
		return nil, err
	}
	return downParser{p, d.down, d.calls, provider}, nil
}

type downParser struct {
	retry.Parser
	down     *atomic.Bool
	calls    *atomic.Int64
	provider string
}

func (d downParser) Webhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	if d.down.Load() {
		d.calls.Add(1)
		return sdk.WebhookResult{}, fmt.Errorf("%w: %s is failed (%w)", pluginmgr.ErrUnavailable, d.provider, pluginmgr.ErrNotCalled)
	}
	return d.Parser.Webhook(ctx, req)
}

// TestRetryOutlivesAnHourWithoutItsPlugin: the deliveries a provider's plugin could not
// parse are queued (202: acknowledged), and the plugin stays down for an hour — a crash
// loop the supervisor gave up on until an operator's reload, say. The retry worker, with
// the default settings and ticking every 5 simulated seconds, keeps them until the
// plugin is back and then stores each reading once: they must not go dead because the
// host's own plugin was down, which the deliveries are not at fault for. Nor are they
// tried every few seconds meanwhile: their backoff still grows.
func TestRetryOutlivesAnHourWithoutItsPlugin(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng)
			var down atomic.Bool
			var refused atomic.Int64
			down.Store(true)
			e.plugins = downPlugins{e.plugins, &down, &refused}
			var ids []int64
			for i := range 3 {
				ids = append(ids, e.enqueue(t, 10+i).ID)
			}
			w := e.worker(retry.Config{RetryWorker: config.DefaultRetryWorker, Owner: "worker-a"})
			const step = 15 * time.Second
			for at := time.Duration(0); at < 3*time.Hour; at += step {
				if at == time.Hour {
					down.Store(false)
					// A dozen tries per row in the hour, not one every tick.
					if n := refused.Load(); n > int64(15*len(ids)) {
						t.Errorf("%d calls refused in the hour the plugin was down, for %d rows", n, len(ids))
					}
				}
				st := tick(t, w)
				if st.Dead > 0 {
					f := e.get(t, ids[0])
					t.Fatalf("%v into the outage: %d failures dead (attempts %d, last error %q)", at, st.Dead, f.Attempts, f.LastError)
				}
				e.clk.Add(step)
			}
			for _, id := range ids {
				if f := e.get(t, id); f.Status != store.FailureResolved {
					t.Errorf("failure %d: %s after %d attempts (%q), want resolved", id, f.Status, f.Attempts, f.LastError)
				}
			}
			if n := ingesttest.CountReadings(t, e.s); n != len(ids) {
				t.Errorf("%d readings stored, want %d", n, len(ids))
			}
		})
	}
}
