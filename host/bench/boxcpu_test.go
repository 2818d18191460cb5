package bench_test

import (
	"math"
	"testing"
)

// TestBoxUtilFromProcStat: box-util is the busy share of every core's ticks between two
// readings of /proc/stat, idle and iowait being the idle ones and guest time (already in
// user) not counted twice.
func TestBoxUtilFromProcStat(t *testing.T) {
	//                 user nice system idle iowait irq softirq steal guest guest_nice
	a := parseBoxCPU("cpu  1000 0 500 2000 100 0 50 10 300 0\ncpu0 500 0 250 1000 50 0 25 5 150 0\n")
	b := parseBoxCPU("cpu  1150 0 560 2070 110 0 55 15 400 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n")
	if !a.ok || !b.ok {
		t.Fatalf("parse: %+v %+v", a, b)
	}
	// 300 ticks passed, 80 of them idle or iowait.
	if got, want := b.utilSince(a), 1-80.0/300; math.Abs(got-want) > 1e-9 {
		t.Errorf("util %v, want %v", got, want)
	}
	if got := a.utilSince(b); got != -1 {
		t.Errorf("util backwards %v, want -1 (unknown)", got)
	}
	if s := parseBoxCPU("intr 1 2 3\n"); s.ok {
		t.Errorf("parsed a line that is not cpu: %+v", s)
	}
	if s := readBoxCPU(); s.ok && s.total <= 0 {
		t.Errorf("this machine's /proc/stat: %+v", s)
	}
}
