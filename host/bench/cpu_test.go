package bench_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The machine the benchmark runs on is often shared (CI runs other packages' tests at
// the same time), so wall-clock throughput alone misleads. CPU time spent per delivery
// — by this process (host and load generator), the plugin process and the PostgreSQL
// server — is a figure contention barely moves, and 2 cores divided by it is the
// throughput the whole box could sustain.

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every Linux port.
const clockTick = 100

// cpuSample is CPU time used so far by the parts of a benchmark run.
type cpuSample struct {
	self, plugin, db time.Duration
	ok               bool // /proc was readable
}

// sampleCPU reads this process's CPU time, the plugin's (pid 0: none) and that of every
// child of the PostgreSQL postmaster (0: none, e.g. SQLite).
func sampleCPU(pluginPID, postmaster int) cpuSample {
	var s cpuSample
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return s
	}
	s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	s.ok = true
	if pluginPID != 0 {
		if t, _, ok := procCPU(pluginPID); ok {
			s.plugin = t
		} else {
			s.ok = false
		}
	}
	if postmaster != 0 {
		t, ok := childrenCPU(postmaster)
		s.db = t
		s.ok = s.ok && ok
	}
	return s
}

// procCPU reads utime+stime and the parent pid of pid from /proc/<pid>/stat.
func procCPU(pid int) (cpu time.Duration, ppid int, ok bool) {
	cpu, _, ppid, ok = procTimes(pid)
	return cpu, ppid, ok
}

// procTimes reads pid's own CPU time (utime+stime), that of its children it has reaped
// (cutime+cstime) and its parent pid from /proc/<pid>/stat.
func procTimes(pid int) (own, reaped time.Duration, ppid int, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, 0, false
	}
	// The command name is in parentheses and may contain spaces: fields start after ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17.
	if len(f) < 15 {
		return 0, 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	var t [4]int64
	for k := range t {
		v, err := strconv.ParseInt(f[11+k], 10, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		t[k] = v
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / clockTick }
	return tick(t[0] + t[1]), tick(t[2] + t[3]), ppid, true
}

// childrenCPU sums the CPU time of parent, of its live children (a postmaster's
// backends and background processes) and of the children it has reaped. Without the
// reaped ones, a process that exited between two samples (an autovacuum worker, a
// closed connection's backend) took its whole CPU time out of the difference.
func childrenCPU(parent int) (time.Duration, bool) {
	own, reaped, _, ok := procTimes(parent)
	if !ok {
		return 0, false
	}
	total := own + reaped
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if t, ppid, ok := procCPU(pid); ok && ppid == parent {
			total += t
		}
	}
	return total, true
}

// boxCPU is the whole machine's CPU time so far, every process's, from the first line of
// /proc/stat: clock ticks summed over the cores, all of them (total) and idle (idle and
// iowait; steal, the time the hypervisor gave other guests, counts as busy: the core was
// not free for the run either).
type boxCPU struct {
	idle, total int64
	ok          bool
}

func readBoxCPU() boxCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return boxCPU{}
	}
	return parseBoxCPU(string(b))
}

func parseBoxCPU(stat string) boxCPU {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return boxCPU{}
	}
	var s boxCPU
	// user nice system idle iowait irq softirq steal; guest and guest_nice, after them,
	// are counted in user and nice already.
	for i, v := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return boxCPU{}
		}
		s.total += n
		if i == 3 || i == 4 {
			s.idle += n
		}
	}
	s.ok = true
	return s
}

// utilSince is the share of the box's cores that were busy, whatever process used them,
// between a and s (0 to 1); -1 when unknown.
func (s boxCPU) utilSince(a boxCPU) float64 {
	if !s.ok || !a.ok || s.total <= a.total {
		return -1
	}
	return 1 - float64(s.idle-a.idle)/float64(s.total-a.total)
}

// sum is the CPU time of every part sampled.
func (s cpuSample) sum() time.Duration { return s.self + s.plugin + s.db }
