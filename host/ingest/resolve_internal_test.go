package ingest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// TestResolveAllocs pins what resolving host/bench's delivery costs: one device id, one
// verified device linked to a pool, at the provider-level URL: 5 allocations and 1.2 KB
// while its accumulators were a map of their own and the devices were copied twice, 3
// since (2026-12-06), 1 since the targets are a list in the pending's buffer while few
// (2026-12-07).
func TestResolveAllocs(t *testing.T) {
	devices := []store.Device{{ID: 7, AccountID: 3, Provider: "acme", ProviderDeviceID: "d1", PoolID: 9,
		Verified: true, LinkActive: true, AccountExternalID: "ext", AccountStatus: store.AccountStatus("connected")}}
	var buf [1]idTarget
	got := resolve(devices, 0, "", buf[:0])
	if tg, ok := got.get("d1"); !ok || len(tg.devices) != 1 || tg.devices[0].ID != 7 || tg.reason != "" || len(got.list) != 1 {
		t.Fatalf("resolve: %+v", got)
	}
	n := testing.AllocsPerRun(200, func() { _ = resolve(devices, 0, "", buf[:0]) })
	t.Logf("%.0f allocations", n)
	if n > 1 {
		t.Errorf("resolve: %.0f allocations, want at most 1", n)
	}
}

// TestResolveManyIDs: past the ids searched in order, each id still finds its own
// target, an id without devices none, and an id's devices under several accounts are
// gathered into one target.
func TestResolveManyIDs(t *testing.T) {
	for _, n := range []int{1, scannedTargets, scannedTargets + 1, 3 * scannedTargets} {
		var devices []store.Device
		for i := range n {
			devices = append(devices, store.Device{ID: int64(100 + i), AccountID: 3, ProviderDeviceID: fmt.Sprint("d", i),
				PoolID: 9, Verified: true, LinkActive: true, AccountExternalID: "ext"})
		}
		// d0 under a second account with the same provider account: both receive.
		devices = append(devices, store.Device{ID: 99, AccountID: 4, ProviderDeviceID: "d0", PoolID: 8,
			Verified: true, LinkActive: true, AccountExternalID: "ext"})
		got := resolve(devices, 0, "", nil)
		if len(got.list) != n {
			t.Errorf("%d ids: %d targets", n, len(got.list))
		}
		for i := range n {
			tg, ok := got.get(fmt.Sprint("d", i))
			want := []int64{int64(100 + i)}
			if i == 0 {
				want = append(want, 99)
			}
			var ids []int64
			for _, d := range tg.devices {
				ids = append(ids, d.ID)
			}
			if !ok || tg.reason != "" || !slices.Equal(ids, want) {
				t.Errorf("%d ids: d%d's target %v %q %v, want devices %v", n, i, ok, tg.reason, ids, want)
			}
		}
		if tg, ok := got.get("nope"); ok {
			t.Errorf("%d ids: an id without devices has a target: %+v", n, tg)
		}
	}
}

// TestPrepareAllocs pins prepare's allocations for host/bench's 10-reading delivery of
// one device: 4 while every delivery had a map of its device ids and one of its drops
// (empty), 3 since (2026-12-06; the drops' map is made by build, which needs it), 2
// since its one device id is kept in the pending (2026-12-07).
func TestPrepareAllocs(t *testing.T) {
	s := New(nil, Config{MaxFutureSkew: time.Hour, MaxPastAge: 24 * time.Hour}, nil, nil)
	at := time.Now().Add(-time.Minute)
	req := Request{Provider: "acme", DeliveryID: "msg_1", Once: true, ReceivedAt: at.Add(time.Minute)}
	for _, m := range []string{"ph", "orp", "temperature", "free_chlorine", "total_chlorine",
		"combined_chlorine", "cyanuric_acid", "total_alkalinity", "calcium_hardness", "salt"} {
		req.Readings = append(req.Readings, sdk.Reading{ProviderDeviceID: "d1", Metric: m, Value: 7.25, RecordedAt: at})
	}
	n := testing.AllocsPerRun(200, func() { _ = s.prepare(req) })
	t.Logf("%.0f allocations", n)
	if n > 2 {
		t.Errorf("prepare: %.0f allocations for 10 readings of one device, want at most 2", n)
	}
}

// TestPrepareDeviceIDs: each device id once, in order of first appearance, however many
// (past the few compared one by one).
func TestPrepareDeviceIDs(t *testing.T) {
	s := New(nil, Config{MaxFutureSkew: time.Hour, MaxPastAge: 24 * time.Hour}, nil, nil)
	at := time.Now().Add(-time.Minute)
	req := Request{Provider: "acme", ReceivedAt: at.Add(time.Minute)}
	var want []string
	for i := range 40 {
		id := string(rune('a' + i%20))
		if i < 20 {
			want = append(want, id)
		}
		req.Readings = append(req.Readings, sdk.Reading{ProviderDeviceID: id, Metric: "ph", Value: 7.25, RecordedAt: at},
			sdk.Reading{ProviderDeviceID: "", Metric: "ph", Value: 7.25, RecordedAt: at})
	}
	p := s.prepare(req)
	if len(p.ids) != len(want) {
		t.Fatalf("ids %q, want %q", p.ids, want)
	}
	for i := range want {
		if p.ids[i] != want[i] {
			t.Fatalf("ids %q, want %q", p.ids, want)
		}
	}
}
