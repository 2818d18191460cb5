package ondilo_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/plugins/ondilo"
	"github.com/poolhost/poolhost/plugins/ondilo/ondilotest"
	"github.com/poolhost/poolhost/sdk"
)

// simClock is a simulated clock the adapter and the fake share: each API request the
// fake serves moves it on by the adapter's request spacing, as the wall clock would.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *simClock) request() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(ondilo.DefaultRequestSpacing)
	return c.now
}

func (c *simClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// ico is one simulated ICO: its pool, its uuid, and when it measures (every period from
// start+offset).
type ico struct {
	pool   int64
	uuid   string
	offset time.Duration
}

const valueTime = "2006-01-02 15:04:05"

// latest is the ICO's newest measure at t (both from the simulation's start), if it has
// measured yet.
func (c ico) latest(period, t time.Duration) (time.Duration, bool) {
	if t < c.offset {
		return 0, false
	}
	return c.offset + (t-c.offset)/period*period, true
}

func (c ico) measures(start time.Time, period, t time.Duration) []ondilotest.Measure {
	at, ok := c.latest(period, t)
	if !ok {
		return nil
	}
	vt := start.Add(at).Format(valueTime)
	k := float64(at / period)
	return []ondilotest.Measure{
		{DataType: "temperature", Value: ondilotest.Float(20 + k/10), ValueTime: vt, IsValid: true},
		{DataType: "ph", Value: ondilotest.Float(7 + k/100), ValueTime: vt, IsValid: true},
	}
}

// poolOf is the pool id of a /pools/{id}/... request path.
func poolOf(path string) int64 {
	parts := strings.Split(path, "/")
	id, _ := strconv.ParseInt(parts[len(parts)-2], 10, 64)
	return id
}

// TestManyPoolsRotateWithinQuota: an account of 40 pools, more than one poll can read
// within Ondilo's 30 requests an hour (a poll costs /pools and one request per pool,
// two when it looks for the pool's ICO), polled as the host polls — every
// MinPollInterval, or at the poll's NotBefore when later — for three simulated days
// against a fake that refuses what the documented quota refuses. A pool is added
// after 20 hours, another one is gone from /pools for ten hours and then listed again.
//
// No rolling hour may see more than 30 requests (the fake answers 429 beyond, and
// none may be refused); every pool must be read at least every two polls, and within
// the bound the package documentation states for 40 pools; its ICO rechecked at most
// three a poll, yet every day; and each measure of ICOs measuring every three hours
// (slower than 40 pools can be read, so that none is overwritten unread) must be
// returned exactly once, within that bound. Before the rotation the first poll asked
// 1 + 2×40 requests and was refused past the 30th.
func TestManyPoolsRotateWithinQuota(t *testing.T) {
	const (
		pools  = 40
		hours  = 72
		period = 3 * time.Hour
		// bound is the longest a pool may wait between two reads (doc.go: 40 pools are
		// each read at least every ⌈40/23⌉ = 2 polls, an hour apart).
		bound = 2 * time.Hour
		// warmup is the first rotation, which finds every ICO before its measures.
		warmup = 4 * time.Hour
	)
	ctx := context.Background()
	start := time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)
	clk := &simClock{now: start}
	fake := ondilotest.NewServer(t)
	fake.RemovePools()
	var icos []ico
	for i := range pools {
		icos = append(icos, ico{pool: int64(1000 + i), uuid: fmt.Sprintf("ico-%d", i), offset: time.Duration(i) * period / pools})
	}
	add := func(c ico) {
		fake.AddPool(ondilotest.Pool{ID: c.pool, Name: c.uuid}, &ondilotest.Device{UUID: c.uuid}, nil)
	}
	for _, c := range icos {
		add(c)
	}
	// Pool 2000 appears on the second day; pool 1005 is gone from /pools for ten hours.
	added := ico{pool: 2000, uuid: "ico-new", offset: 20*time.Hour + 10*time.Minute}
	const removed = 1005
	removedFrom, removedTo := 30*time.Hour, 40*time.Hour

	fake.Realistic(clk.request)
	access, refresh := fake.IssueTokens()
	creds := sdk.Credentials{"access_token": access, "refresh_token": refresh, "expiry": start.Add(time.Hour).Format(time.RFC3339)}
	ad := ondilo.New(ondilo.WithClock(clk.Now), ondilo.WithRequestSpacing(0))
	if err := ad.Configure(ctx, sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: fake.URL}}); err != nil {
		t.Fatal(err)
	}

	got := map[string]int{}               // uuid|metric|value_time → times returned
	arrived := map[string]time.Duration{} // uuid|value_time → when first returned
	lastRead := map[int64]time.Duration{} // pool → its last /lastmeasures
	readPoll := map[int64]int{}           // pool → the poll that last read it
	lastCheck := map[int64]time.Duration{}
	var maxGap, maxCheckGap, firstCheckGap time.Duration
	maxPolls := 0
	cursor := ""
	polls := 0
	gone := false
	first := map[int64]string{} // pool → its first request
	for clk.Now().Before(start.Add(hours * time.Hour)) {
		at := clk.Now().Sub(start)
		if at >= added.offset && !slices.Contains(icos, added) {
			icos = append(icos, added)
			add(added)
		}
		listed := func(c ico) bool { return c.pool != removed || at < removedFrom || at >= removedTo }
		if at >= removedFrom && at < removedTo && !gone {
			fake.RemovePool(removed)
			gone = true
		} else if at >= removedTo && gone {
			add(icos[removed-1000])
			gone = false
		}
		for _, c := range icos {
			if listed(c) {
				fake.SetMeasures(c.pool, c.measures(start, period, at))
			}
		}

		before := len(fake.Requests())
		res, err := ad.PollReadings(ctx, sdk.PollRequest{Account: sdk.Account{ID: "1", Credentials: creds}, Cursor: cursor})
		if err != nil {
			t.Fatalf("poll %d at %v: %v (%d requests refused over quota)", polls, at, err, fake.Limited())
		}
		polls++
		if res.RefreshedCredentials != nil {
			creds = res.RefreshedCredentials
		}
		cursor = res.NextCursor
		for _, r := range res.Readings {
			got[r.ProviderDeviceID+"|"+r.Metric+"|"+r.RecordedAt.Format(valueTime)]++
			if k := r.ProviderDeviceID + "|" + r.RecordedAt.Format(valueTime); arrived[k] == 0 {
				arrived[k] = at
			}
		}
		rechecks := 0
		for _, p := range fake.Requests()[before:] {
			if strings.HasSuffix(p, "/pools") {
				continue
			}
			id := poolOf(p)
			if _, ok := first[id]; !ok {
				first[id] = p
			}
			switch {
			case strings.HasSuffix(p, "/device"):
				if last, ok := lastCheck[id]; ok {
					rechecks++
					if last >= warmup {
						maxCheckGap = max(maxCheckGap, at-last)
					}
					firstCheckGap = max(firstCheckGap, at-last)
				}
				lastCheck[id] = at
			case strings.HasSuffix(p, "/lastmeasures"):
				if last, ok := lastRead[id]; ok && last >= warmup && !(id == removed && last < removedTo && at >= removedTo) {
					maxGap = max(maxGap, at-last)
					maxPolls = max(maxPolls, polls-readPoll[id])
				}
				lastRead[id], readPoll[id] = at, polls
			}
		}
		if rechecks > 3 {
			t.Errorf("poll %d at %v rechecked %d ICOs, want at most 3", polls, at, rechecks)
		}
		next := clk.Now().Add(ondilo.MinPollInterval)
		if res.NotBefore.After(next) {
			next = res.NotBefore
		}
		clk.Set(next)
	}
	end := clk.Now().Sub(start)

	if n := fake.Limited(); n != 0 {
		t.Errorf("%d requests answered 429 Limit Exceeded", n)
	}
	served := fake.Served()
	most := 0
	for i, from := range served {
		n, _ := slices.BinarySearchFunc(served[i:], from.Add(time.Hour), func(t, target time.Time) int { return t.Compare(target) })
		most = max(most, n)
	}
	if most > ondilotest.QuotaPerHour {
		t.Errorf("%d requests in one rolling hour, quota %d", most, ondilotest.QuotaPerHour)
	}
	if maxGap > bound || maxPolls > 2 {
		t.Errorf("a pool waited %v (%d polls) between two reads, want at most %v and 2 polls", maxGap, maxPolls, bound)
	}
	// doc.go: the first rechecks of 40 pools found in the first hours spread over the
	// following polls, all within 38 hours of the first find, then a day apart.
	if maxCheckGap > 25*time.Hour || firstCheckGap > 38*time.Hour {
		t.Errorf("an ICO waited %v between two rechecks (%v after it was first found), want a day (38 h)", maxCheckGap, firstCheckGap)
	}
	for id, p := range first {
		if !strings.HasSuffix(p, "/device") {
			t.Errorf("pool %d first asked %s, want its ICO found first", id, p)
		}
	}
	if len(first) != len(icos) {
		t.Errorf("%d pools read, want %d", len(first), len(icos))
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("measure %s returned %d times", k, n)
		}
	}
	lost, late := 0, 0
	for _, c := range icos {
		for m := c.offset; m+bound < end; m += period {
			if m < warmup {
				continue
			}
			if c.pool == removed && m+period > removedFrom && m < removedTo {
				continue // overwritten while the pool was not listed: never readable
			}
			k := c.uuid + "|" + start.Add(m).Format(valueTime)
			switch a, ok := arrived[k]; {
			case !ok:
				lost++
				if lost <= 5 {
					t.Errorf("measure %s never returned", k)
				}
			case a-m > bound:
				late++
				if late <= 5 {
					t.Errorf("measure %s returned %v after it was taken, want within %v", k, a-m, bound)
				}
			}
		}
	}
	if lost+late > 0 {
		t.Errorf("%d measures lost, %d late", lost, late)
	}
	t.Logf("%d polls in %d h for %d pools; most requests in a rolling hour %d; longest wait between reads %v (%d polls); between rechecks %v (%v for the first)",
		polls, hours, len(icos), most, maxGap, maxPolls, maxCheckGap, firstCheckGap)
}

// TestCursorBeforeRotation: a cursor an older plugin wrote (version 1, without the
// pools' read_at) keeps working. Its pools come first in pool id order, their cached
// ICOs and seen measures are kept (nothing is returned twice, no ICO is asked for
// within its day), the requests its "calls" say the hour has spent are not spent again,
// and the following polls read the rest of the rotation and then every pool's next
// measure once.
func TestCursorBeforeRotation(t *testing.T) {
	const pools = 30
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := &simClock{now: start}
	fake := ondilotest.NewServer(t)
	fake.RemovePools()
	measured := start.Add(-90 * time.Minute)
	ms := func(at time.Time) []ondilotest.Measure {
		return []ondilotest.Measure{{DataType: "ph", Value: ondilotest.Float(7.1), ValueTime: at.Format(valueTime), IsValid: true}}
	}
	var entries []string
	for i := range pools {
		id := int64(1000 + i)
		fake.AddPool(ondilotest.Pool{ID: id}, &ondilotest.Device{UUID: fmt.Sprint("ico-", i)}, ms(measured))
		entries = append(entries, fmt.Sprintf(`"%d":{"device":"ico-%d","device_checked_at":%q,"seen":{"ph":%q}}`,
			id, i, start.Add(-2*time.Hour).Format(time.RFC3339), measured.Format(time.RFC3339)))
	}
	// Written by the plugin before the rotation: 10 requests spent 40 minutes ago.
	old := fmt.Sprintf(`{"v":1,"pools":{%s},"calls":[{"at":%q,"n":10}]}`,
		strings.Join(entries, ","), start.Add(-40*time.Minute).Format(time.RFC3339))

	fake.Realistic(clk.request)
	access, refresh := fake.IssueTokens()
	creds := sdk.Credentials{"access_token": access, "refresh_token": refresh, "expiry": start.Add(time.Hour).Format(time.RFC3339)}
	ad := ondilo.New(ondilo.WithClock(clk.Now), ondilo.WithRequestSpacing(0))
	if err := ad.Configure(ctx, sdk.ConfigureRequest{Settings: map[string]string{ondilo.SettingBaseURL: fake.URL}}); err != nil {
		t.Fatal(err)
	}
	poll := func(cursor string) (sdk.PollResult, []string) {
		t.Helper()
		before := len(fake.Requests())
		res, err := ad.PollReadings(ctx, sdk.PollRequest{Account: sdk.Account{ID: "1", Credentials: creds}, Cursor: cursor})
		if err != nil {
			t.Fatalf("poll at %v: %v", clk.Now().Sub(start), err)
		}
		if res.RefreshedCredentials != nil {
			creds = res.RefreshedCredentials
		}
		return res, fake.Requests()[before:]
	}

	polledAt := clk.Now()
	res, reqs := poll(old)
	// 27 an hour, 10 of them spent: /pools and 16 pools, the lowest ids.
	var read []int64
	for _, p := range reqs[1:] {
		if !strings.HasSuffix(p, "/lastmeasures") {
			t.Fatalf("first poll asked %s: the old cursor's ICOs were checked two hours ago", p)
		}
		read = append(read, poolOf(p))
	}
	if want := []int64{1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015}; !slices.Equal(read, want) {
		t.Fatalf("first poll read pools %v, want %v", read, want)
	}
	if len(res.Readings) != 0 {
		t.Fatalf("first poll returned %d readings the old cursor had seen", len(res.Readings))
	}
	// The next poll, of 14 pools and the 16 read again, needs more than the hour's
	// budget: it comes when the whole budget is free, this poll's 17 requests out of
	// the hour too.
	if want := polledAt.Add(time.Hour); !res.NotBefore.Equal(want) {
		t.Errorf("NotBefore %v, want %v", res.NotBefore.Sub(start), want.Sub(start))
	}

	// Every ICO measures again; the polls that follow read the rest of the rotation
	// first, then the pools already read, each new measure once.
	fresh := start.Add(10 * time.Minute)
	for i := range pools {
		fake.SetMeasures(int64(1000+i), ms(fresh))
	}
	cursor := res.NextCursor
	got := map[string]int{}
	var order []int64
	for range 4 {
		next := clk.Now().Add(ondilo.MinPollInterval)
		if res.NotBefore.After(next) {
			next = res.NotBefore
		}
		clk.Set(next)
		res, reqs = poll(cursor)
		cursor = res.NextCursor
		for _, r := range res.Readings {
			got[r.ProviderDeviceID]++
		}
		for _, p := range reqs {
			if strings.HasSuffix(p, "/lastmeasures") {
				order = append(order, poolOf(p))
			}
		}
	}
	if n := fake.Limited(); n != 0 {
		t.Errorf("%d requests answered 429 Limit Exceeded", n)
	}
	if len(order) < pools || order[0] != 1016 || order[pools-16-1] != 1029 || order[pools-16] != 1000 {
		t.Errorf("pools read in the order %v, want 1016-1029 (never read yet) then 1000 onwards", order)
	}
	for i := range pools {
		if n := got[fmt.Sprint("ico-", i)]; n != 1 {
			t.Errorf("ico-%d: its new measure returned %d times, want once", i, n)
		}
	}
}

// TestPollWithoutBudgetAsksNothing: polled while the hour's polls have spent all but
// one request of the budget (a host that ignored NotBefore), a poll asks Ondilo
// nothing — no list it could not follow with a pool — keeps the cursor, and says when
// the list and a pool fit again.
func TestPollWithoutBudgetAsksNothing(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport) {
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		c, srv := start(t, tr, ondilo.WithClock(func() time.Time { return now }))
		acct := account(srv, now.Add(time.Hour))
		acct.Credentials["expiry"] = ""
		cur := fmt.Sprintf(`{"v":1,"pools":{"234":{"device":%q,"device_checked_at":%q}},"calls":[{"at":%q,"n":20},{"at":%q,"n":6}]}`,
			ondilotest.SampleDeviceUUID, now.Add(-time.Hour/2).Format(time.RFC3339),
			now.Add(-50*time.Minute).Format(time.RFC3339), now.Add(-10*time.Minute).Format(time.RFC3339))
		res, err := c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: cur})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Requests()); n != 0 || len(res.Readings) != 0 {
			t.Fatalf("%d requests, %d readings; want none", n, len(res.Readings))
		}
		if want := now.Add(10 * time.Minute); !res.NotBefore.Equal(want) {
			t.Errorf("NotBefore %v from now, want %v: when the 20 requests leave the hour", res.NotBefore.Sub(now), want.Sub(now))
		}
		// The next poll, at NotBefore, reads the pool.
		now = res.NotBefore
		res, err = c.PollReadings(ctx(t), sdk.PollRequest{Account: acct, Cursor: res.NextCursor})
		if err != nil || len(res.Readings) != 6 {
			t.Fatalf("at NotBefore: %d readings (%v), want the sample's 6", len(res.Readings), err)
		}
	})
}
