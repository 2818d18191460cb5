package ingest

import (
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// TestResolveAllocs pins what resolving host/bench's delivery costs: one device id, one
// verified device linked to a pool, at the provider-level URL: 5 allocations and 1.2 KB
// while its accumulators were a map of their own and the devices were copied twice, 3
// since (2026-12-06).
func TestResolveAllocs(t *testing.T) {
	devices := []store.Device{{ID: 7, AccountID: 3, Provider: "acme", ProviderDeviceID: "d1", PoolID: 9,
		Verified: true, LinkActive: true, AccountExternalID: "ext", AccountStatus: store.AccountStatus("connected")}}
	got := resolve(devices, 0, "")
	if tg := got["d1"]; len(tg.devices) != 1 || tg.devices[0].ID != 7 || tg.reason != "" || len(got) != 1 {
		t.Fatalf("resolve: %+v", got)
	}
	n := testing.AllocsPerRun(200, func() { _ = resolve(devices, 0, "") })
	t.Logf("%.0f allocations", n)
	if n > 3 {
		t.Errorf("resolve: %.0f allocations, want at most 3", n)
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
