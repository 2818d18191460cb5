package ingest

import (
	"runtime"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
)

// TestPrepareBytes pins the garbage prepare makes for a 10-reading delivery, the shape
// of host/bench's: 2,880 bytes while each checked value held a copy of its reading,
// 1,344 since it points at it (measured 2026-12-06).
func TestPrepareBytes(t *testing.T) {
	s := New(nil, Config{MaxFutureSkew: time.Hour, MaxPastAge: 24 * time.Hour}, nil, nil)
	at := time.Now().Add(-time.Minute)
	req := Request{Provider: "acme", DeliveryID: "msg_1", Once: true, ReceivedAt: at.Add(time.Minute)}
	for _, m := range []string{"ph", "orp", "temperature", "free_chlorine", "total_chlorine",
		"combined_chlorine", "cyanuric_acid", "total_alkalinity", "calcium_hardness", "salt"} {
		req.Readings = append(req.Readings, sdk.Reading{ProviderDeviceID: "d1", Metric: m, Value: 7.25, RecordedAt: at})
	}
	if p := s.prepare(req); len(p.values) != len(req.Readings) || len(p.checked.Dropped) != 0 {
		t.Fatalf("prepare kept %d of %d readings, dropped %v", len(p.values), len(req.Readings), p.checked.Dropped)
	}
	const runs = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		_ = s.prepare(req)
	}
	runtime.ReadMemStats(&after)
	n := (after.TotalAlloc - before.TotalAlloc) / runs
	t.Logf("%d bytes", n)
	if n > 1600 {
		t.Errorf("prepare allocated %d bytes for 10 readings, want at most 1600", n)
	}
}
