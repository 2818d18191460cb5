package benchscale

import (
	"errors"
	"math"
	"sort"
	"time"
)

// The data's shape. Pools differ in history, not in habits: every device reports each of
// Metrics every Interval up to the same instant (End), so a pool's row count says how
// long it has been reporting and through how many devices.
const (
	DefaultRows  = 10_000_000
	DefaultPools = 10_000
	Interval     = 15 * time.Minute
	// LargeShare of the rows belong to one large pool of LargeDevices devices: at the
	// default size that is about a year of history, enough for 365 daily buckets.
	LargeShare   = 0.06
	LargeDevices = 4
)

// Metric is one metric every device reports, with a typical value and swing.
type Metric struct {
	Name, Unit  string
	Base, Swing float64
}

// Metrics are what each device reports: a typical probe's several metrics.
var Metrics = []Metric{
	{"ph", "pH", 7.4, 0.3},
	{"orp", "mV", 700, 60},
	{"temperature", "C", 27, 3},
	{"free_chlorine", "ppm", 2.5, 1},
}

// PoolPlan is one pool's history.
type PoolPlan struct {
	Index   int // 0 is the large pool
	Devices int
	// Slots is how many readings each device has of each metric, one every Interval, the
	// newest at the plan's End.
	Slots int64
}

// Rows is the pool's readings.
func (p PoolPlan) Rows() int64 { return int64(p.Devices*len(Metrics)) * p.Slots }

// Plan is the whole data set: what the loader writes and the counts it claims.
type Plan struct {
	End   time.Time // the newest readings' time, on an Interval boundary
	Pools []PoolPlan
}

// NewPlan spreads about rows readings over pools pools, the newest at end (truncated to
// Interval): the large pool gets LargeShare, the others 1 to 3 devices and a skewed
// share of the rest (at least one reading per metric each), so the pool of median size
// is a fraction of the mean and a few pools have several times it.
func NewPlan(rows int64, pools int, end time.Time) (Plan, error) {
	if pools < 2 {
		return Plan{}, errors.New("benchscale: at least 2 pools")
	}
	per := int64(LargeDevices * len(Metrics))
	if rows < int64(pools)*3*int64(len(Metrics))+per {
		return Plan{}, errors.New("benchscale: too few rows for that many pools")
	}
	p := Plan{End: end.UTC().Truncate(Interval), Pools: make([]PoolPlan, pools)}
	weights := make([]float64, pools)
	var sum float64
	for i := 1; i < pools; i++ {
		// A low-discrepancy sequence rather than a random one: the same plan every run.
		u := math.Mod(float64(i)*0.6180339887498949, 1)
		weights[i] = 0.25 + 1.5*u*u
		sum += weights[i]
	}
	rest := rows - int64(float64(rows)*LargeShare)
	var used int64
	for i := 1; i < pools; i++ {
		d := 1 + i%3
		slots := int64(float64(rest) * weights[i] / sum / float64(d*len(Metrics)))
		p.Pools[i] = PoolPlan{Index: i, Devices: d, Slots: max(slots, 1)}
		used += p.Pools[i].Rows()
	}
	p.Pools[0] = PoolPlan{Index: 0, Devices: LargeDevices, Slots: max((rows-used)/per, 1)}
	return p, nil
}

// Rows is the readings the plan holds.
func (p Plan) Rows() int64 {
	var n int64
	for _, pp := range p.Pools {
		n += pp.Rows()
	}
	return n
}

// Deliveries is how many deliveries brought them: one per device and Interval.
func (p Plan) Deliveries() int64 {
	var n int64
	for _, pp := range p.Pools {
		n += int64(pp.Devices) * pp.Slots
	}
	return n
}

// Devices counts the plan's devices.
func (p Plan) Devices() int {
	n := 0
	for _, pp := range p.Pools {
		n += pp.Devices
	}
	return n
}

// MaxSlots is the longest history, in Intervals.
func (p Plan) MaxSlots() int64 {
	var m int64
	for _, pp := range p.Pools {
		m = max(m, pp.Slots)
	}
	return m
}

// Start is the oldest reading's time.
func (p Plan) Start() time.Time { return p.At(p.MaxSlots() - 1) }

// At is the time of slot k: k Intervals before End.
func (p Plan) At(k int64) time.Time { return p.End.Add(-time.Duration(k) * Interval) }

// Median is the index of the pool of median size among the pools other than the large
// one.
func (p Plan) Median() int {
	idx := make([]int, 0, len(p.Pools)-1)
	for i := 1; i < len(p.Pools); i++ {
		idx = append(idx, i)
	}
	sort.SliceStable(idx, func(a, b int) bool { return p.Pools[idx[a]].Rows() < p.Pools[idx[b]].Rows() })
	return idx[len(idx)/2]
}
