package benchscale

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/plugins/generic"
	"github.com/poolhost/poolhost/sdk"
)

func zzSchedNS(pid int) int64 {
	bs, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/schedstat")
	if err != nil {
		return 0
	}
	ns, _ := strconv.ParseInt(strings.Fields(string(bs))[0], 10, 64)
	return ns
}

func TestZZPerf(t *testing.T) {
	url := os.Getenv("PROBE_URL")
	if url == "" {
		t.Skip()
	}
	ctx := context.Background()
	n, _ := strconv.Atoi(os.Getenv("PROBE_N"))
	rounds, _ := strconv.Atoi(os.Getenv("PROBE_ROUNDS"))
	type side struct {
		name string
		s    *store.Store
		ing  *ingest.Service
		db   string
		seq  int64
		base time.Time
		cpu  []float64
	}
	mk := func(name, u string) *side {
		s := openStore(t, u)
		var seeded []int
		s.DB().SelectContext(ctx, &seeded, `SELECT 1 FROM users WHERE email = $1`, ingestEmail)
		if len(seeded) == 0 {
			ingesttest.Seed(t, s, generic.ID, ingestEmail, nil, ingestDevices, nil)
		}
		p := &side{name: name, s: s, ing: ingest.New(s, ingest.Config{MaxFutureSkew: time.Hour, MaxPastAge: 48 * time.Hour}, nil, nil)}
		s.DB().GetContext(ctx, &p.db, `SELECT current_database()`)
		var last *time.Time
		s.DB().GetContext(ctx, &last, `SELECT MAX(r.recorded_at) FROM sensor_readings r JOIN integration_devices d ON d.id = r.device_id WHERE d.provider = $1`, generic.ID)
		p.base = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		if last != nil && last.After(p.base) {
			p.base = last.UTC().Truncate(time.Second).Add(time.Second)
		}
		return p
	}
	sides := []*side{mk("empty", siblingDatabase(t, url)), mk("loaded", url)}
	pids := func(p *side) map[int]int64 {
		var ps []int
		p.s.DB().SelectContext(ctx, &ps, `SELECT pid FROM pg_stat_activity WHERE datname = $1`, p.db)
		m := map[int]int64{}
		for _, x := range ps {
			m[x] = zzSchedNS(x)
		}
		return m
	}
	run := func(p *side, count int, perf string) {
		first := p.seq
		p.seq += int64(count)
		before := pids(p)
		var cmd *exec.Cmd
		if perf != "" {
			var ps []string
			for pid := range before {
				ps = append(ps, strconv.Itoa(pid))
			}
			cmd = exec.Command("perf", "record", "-g", "-p", strings.Join(ps, ","), "-o", perf, "--", "sleep", "10")
			cmd.Start()
			time.Sleep(300 * time.Millisecond)
		}
		start := time.Now()
		err := sendAll(ctx, p.ing, generic.ID, 16, first, first+int64(count), func(seq int64) []sdk.Reading {
			at := p.base.Add(time.Duration(seq) * time.Millisecond)
			rs := make([]sdk.Reading, len(ingestMetrics))
			for i, m := range ingestMetrics {
				rs[i] = sdk.Reading{ProviderDeviceID: ingestDevices[int(seq)%len(ingestDevices)], Metric: m, Value: 1, RecordedAt: at}
			}
			return rs
		})
		el := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		after := pids(p)
		var cpu int64
		for pid, ns := range after {
			cpu += ns - before[pid]
		}
		if cmd != nil {
			cmd.Wait()
		}
		us := float64(cpu) / 1e3 / float64(count)
		p.cpu = append(p.cpu, us)
		fmt.Printf("%s: %.0f/s, backend cpu %.1f us/delivery (%d backends)\n", p.name, float64(count)/el.Seconds(), us, len(after))
	}
	for _, p := range sides {
		run(p, 2000, "")
	}
	for r := 0; r < rounds; r++ {
		for _, p := range sides {
			perf := ""
			if r == rounds-1 && os.Getenv("PROBE_PERF") != "" {
				perf = "/work/probe/" + p.name + ".data"
			}
			run(p, n, perf)
		}
	}
	for _, p := range sides {
		fmt.Println(p.name, p.cpu)
		conn, _ := p.s.DB().Conn(ctx)
		rows, err := conn.QueryContext(ctx, `SELECT left(regexp_replace(statement, '\s+', ' ', 'g'), 300), generic_plans, custom_plans FROM pg_prepared_statements`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var st string
			var g, c int64
			rows.Scan(&st, &g, &c)
			fmt.Printf("  %s generic=%d custom=%d: %s\n", p.name, g, c, st)
		}
		rows.Close()
		conn.Close()
	}
}
