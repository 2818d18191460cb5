package ondilo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/poolhost/poolhost/sdk"
)

// quotaBudget is how many API requests an hour the polls of one account may make: the
// documented 30, less a few for what the user does meanwhile (a discovery, a
// reconnect), which spend the same quota.
const quotaBudget = 30 - 3

// minPollCost is the least a poll worth making costs: /pools and one pool's measures.
const minPollCost = 2

// deviceRechecksPerPoll bounds the daily ICO rechecks one poll makes, so that the
// rechecks of an account's pools, all due about the same hour after its first polls,
// spread over the following polls instead of halving one rotation's reads.
const deviceRechecksPerPoll = 3

// PollReadings implements [sdk.Poller]: the latest measures of as many pools as the
// hour's quota allows, oldest-read first, minus those the cursor says were already
// returned. See the package documentation for the rotation and its guarantee.
func (a *Adapter) PollReadings(ctx context.Context, req sdk.PollRequest) (_ sdk.PollResult, err error) {
	cur := decodeCursor(req.Cursor)
	now := a.now().UTC()
	calls := recentCalls(cur.Calls, now)
	budget := quotaBudget - spent(calls)
	if budget < minPollCost {
		// The host polled before the NotBefore it was given (or the cursor is from
		// before the rotation): not even the list and one pool fit in the hour, so ask
		// nothing rather than be refused.
		cur.Calls = calls
		return sdk.PollResult{NextCursor: cur.encode(), NotBefore: quotaFree(calls, minPollCost)}, nil
	}
	s := a.session(req.Account.Credentials)
	// fail is a failed poll's error: with the tokens it refreshed, and with the requests
	// it spent added to the cursor it was given (nothing else of it: the pools it read
	// return nothing), so that the next poll counts them against the hour.
	fail := func(err error) (sdk.PollResult, error) {
		err = s.fail(err)
		if s.calls > 0 {
			spentCur := cur
			spentCur.Calls = append(slices.Clip(calls), pollCalls{At: now, N: s.calls})
			err = sdk.WithNextCursor(err, spentCur.encode())
		}
		return sdk.PollResult{}, err
	}
	defer func() {
		if r := recover(); r != nil {
			_, err = fail(panicked("poll readings", r))
		}
	}()
	pools, err := s.pools(ctx)
	if err != nil {
		return fail(fmt.Errorf("list pools: %w", err))
	}
	order := rotation(pools, cur, now)
	// A pool this answer does not list keeps its entry, so that an answer listing no
	// pool for a while (an empty array, a 204) does not make the next one return its
	// measures again; so does a listed pool this poll cannot afford.
	next := cursor{V: cursorVersion, Pools: make(map[string]poolCursor, len(cur.Pools)+len(order))}
	maps.Copy(next.Pools, cur.Pools)
	var readings []sdk.Reading
	rechecks := 0
	waiting := false // a pool whose ICO is still to be found, left for a later poll
	for _, p := range order {
		key := poolKey(p.ID)
		pc := next.Pools[key]
		left := budget - s.calls
		find := pc.DeviceCheckedAt.IsZero()
		recheck := !find && rechecks < deviceRechecksPerPoll && left >= 2 &&
			(now.Sub(pc.DeviceCheckedAt) >= deviceRecheck || now.Before(pc.DeviceCheckedAt))
		switch {
		case find && left < 2:
			// Its ICO before its measures, and both do not fit: it stays first in the
			// rotation, and the next poll waits until they do (nextNeed).
			waiting = true
			continue
		case !find && !recheck && pc.Device == "":
			// No ICO on this pool at its last check: nothing to ask before the next.
			continue
		case left < 1:
			continue
		}
		if find || recheck {
			if recheck {
				rechecks++
			}
			d, ok, err := s.device(ctx, p.ID)
			if errors.Is(err, errForbidden) {
				// Out of the user's reach since /pools listed it (see errForbidden): the
				// pool keeps its entry and is asked again at its next turn.
				pc.ReadAt = now
				next.Pools[key] = pc
				continue
			}
			if err != nil {
				return fail(fmt.Errorf("get device of pool %d: %w", p.ID, err))
			}
			if d.UUID != pc.Device {
				// A new ICO starts its own history.
				pc.Seen = nil
			}
			pc.Device = ""
			if ok {
				pc.Device = d.UUID
			}
			pc.DeviceCheckedAt = now
			if pc.Device == "" {
				// No ICO on this pool (yet): remember that until the next recheck.
				pc.ReadAt = now
				next.Pools[key] = pc
				continue
			}
			if budget-s.calls < 1 {
				// A refreshed token's retry spent the measures' request: they come first
				// next poll.
				next.Pools[key] = pc
				continue
			}
		}
		measures, err := s.lastMeasures(ctx, p.ID)
		if err != nil {
			return fail(fmt.Errorf("get last measures of pool %d: %w", p.ID, err))
		}
		var rs []sdk.Reading
		rs, pc.Seen = readingsFrom(pc.Device, measures, pc.Seen)
		readings = append(readings, rs...)
		pc.ReadAt = now
		next.Pools[key] = pc
	}
	next.Calls = append(calls, pollCalls{At: now, N: s.calls})

	// When the listed pools can next have a measure (a pool this answer does not list
	// does not count), or at once when a pool's ICO is still to be found.
	listed := cursor{Pools: make(map[string]poolCursor, len(order))}
	for _, p := range order {
		key := poolKey(p.ID)
		listed.Pools[key] = next.Pools[key]
	}
	var notBefore time.Time
	if !waiting {
		notBefore = nextMeasure(listed, now)
	}
	// And not before the next poll fits in the hour's budget: polls of quiet ICOs come
	// every interval, and an account of many pools reads them over several polls.
	if free := quotaFree(next.Calls, nextNeed(listed, now)); free.After(notBefore) {
		notBefore = free
	}
	return sdk.PollResult{
		Readings:             readings,
		NextCursor:           next.encode(),
		RefreshedCredentials: s.refreshedCredentials(),
		NotBefore:            notBefore,
	}, nil
}

func poolKey(id int64) string { return strconv.FormatInt(id, 10) }

// rotation is the order in which a poll reads the listed pools: the one read longest
// ago first, a pool never read (new, or from a cursor written before the rotation)
// before any, ties by pool id. A read time after now (a clock set back) counts as
// never, so that it cannot hold the pool back. A pool listed twice is read once.
func rotation(pools []pool, c cursor, now time.Time) []pool {
	readAt := func(p pool) time.Time {
		t := c.Pools[poolKey(p.ID)].ReadAt
		if t.After(now) {
			return time.Time{}
		}
		return t
	}
	out := make([]pool, 0, len(pools))
	seen := make(map[int64]bool, len(pools))
	for _, p := range pools {
		if !seen[p.ID] {
			seen[p.ID] = true
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(x, y pool) int {
		if c := readAt(x).Compare(readAt(y)); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	return out
}

// nextNeed is what the next poll, made within the hour, is to be able to spend: /pools,
// each ICO's last measures, each ICO still to be found (two requests), and the daily
// rechecks due by then, at most deviceRechecksPerPoll — or the hour's whole budget,
// when the pools need more. Waiting for that rather than for the first pool alone keeps
// an account of many pools at one poll (one list) an hour, each reading as many pools
// as the budget allows, instead of splitting the hour into small polls that each spend
// a request on the list. It is never less than minPollCost, below which a poll asks
// nothing.
func nextNeed(listed cursor, now time.Time) int {
	by := now.Add(time.Hour)
	n, rechecks := 1, 0
	for _, pc := range listed.Pools {
		switch {
		case pc.DeviceCheckedAt.IsZero():
			n += 2
			continue
		case pc.Device != "":
			n++
		}
		if !by.Before(pc.DeviceCheckedAt.Add(deviceRecheck)) && rechecks < deviceRechecksPerPoll {
			rechecks++
			n++
		}
	}
	return min(max(n, minPollCost), quotaBudget)
}

// nextMeasure is when the earliest of the account's ICOs can next have a new measure
// readable, or zero — poll at the provider's interval — when that moment has already
// passed (a late or missing measure, or a pool the rotation has not reached since) or
// some pool has no measure yet. Polling sooner could only find nothing and spend the
// user's 30 requests an hour.
func nextMeasure(c cursor, now time.Time) time.Time {
	var earliest time.Time
	for _, pc := range c.Pools {
		if pc.Device == "" {
			continue
		}
		var last time.Time
		for _, at := range pc.Seen {
			if at.After(last) {
				last = at
			}
		}
		if last.IsZero() {
			return time.Time{}
		}
		due := last.Add(measurePeriod + publishDelay)
		if earliest.IsZero() || due.Before(earliest) {
			earliest = due
		}
	}
	if !earliest.After(now) {
		return time.Time{}
	}
	return earliest
}

// spent is what the polls in calls spent of the hour's quota.
func spent(calls []pollCalls) int {
	n := 0
	for _, c := range calls {
		n += c.N
	}
	return n
}

// quotaFree is the earliest time, from now on, at which a poll costing need requests
// keeps the polls of the hour before it (calls) within quotaBudget, or zero when it
// already would now.
func quotaFree(calls []pollCalls, need int) time.Time {
	total := spent(calls)
	if total+need <= quotaBudget || len(calls) == 0 {
		return time.Time{}
	}
	for _, c := range calls {
		total -= c.N
		if total+need <= quotaBudget {
			return c.At.Add(time.Hour)
		}
	}
	return calls[len(calls)-1].At.Add(time.Hour)
}

// recentCalls is calls within the hour before now, oldest first.
func recentCalls(calls []pollCalls, now time.Time) []pollCalls {
	out := make([]pollCalls, 0, len(calls)+1)
	for _, c := range calls {
		if now.Sub(c.At) < time.Hour && !c.At.After(now) && c.N > 0 {
			out = append(out, c)
		}
	}
	return out
}
