package sdktest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/judge"
)

// MaxPolls bounds the polls the cursor check makes while the plugin still finds
// readings: a plugin whose cursor never advances would otherwise be polled forever. A
// Poll fixture should have its readings fetched in fewer (a page per device per call).
const MaxPolls = 20

// pollChecks polls a plugin that declares poll capability as the host's poll worker
// does: from the fixture's cursor, then with each NextCursor and RefreshedCredentials
// fed back, until a poll finds nothing new, then once more. Every answer is judged by
// sdk/judge as the host judges it (judge.JudgePoll: credentials, caps, cursor, in the
// host's order, then vocabulary and ranges).
func (k *checker) pollChecks(d sdk.Description, f Fixtures) []Result {
	if !d.Capabilities.Poll {
		return []Result{{Check: "poll", Skipped: "the plugin does not declare polling"}}
	}
	if f.Poll == nil {
		return []Result{{Check: "poll", Skipped: "no Poll fixture (poll.json, or Fixtures.Poll in a Go test: an account at your fake provider with readings waiting)"}}
	}
	first := Result{Check: "poll/first"}
	req, err := f.Poll()
	if err != nil {
		first.Err = fmt.Errorf("preparing the poll fixture: %w", err)
		return []Result{first}
	}
	p := &poller{k: k, f: f, req: req, seen: map[string]int{}}

	// The first poll must bring readings, or the checks after it prove nothing.
	n, err := p.poll()
	switch {
	case err != nil:
		first.Err = err
	case n == 0:
		first.Err = errors.New("found no readings: the Poll fixture's account must have readings waiting at your fake provider, or the cursor checks prove nothing")
	default:
		first.Detail = fmt.Sprintf("%s, cursor %s", count(n, "reading"), quoteCursor(p.req.Cursor))
	}
	if first.Err != nil {
		return []Result{first, {Check: "poll/cursor-fed-back", Err: fmt.Errorf("%w: the first poll failed", errNotRun)},
			{Check: "poll/nothing-new", Err: fmt.Errorf("%w: the first poll failed", errNotRun)}}
	}

	// Fed back, the cursor brings what is left, never a reading already returned, until
	// a poll finds nothing new.
	fed := Result{Check: "poll/cursor-fed-back"}
	polls, more := 0, 0
	for polls = 1; ; polls++ {
		cursor := p.req.Cursor
		n, err := p.poll()
		if err != nil {
			hint := "a poll that finds nothing new is a success: no readings, the cursor, no error"
			if sdk.IsKind(err, sdk.KindReauth) {
				hint = "the host would mark the account reauth_required; did an earlier poll refresh the tokens without handing them back in RefreshedCredentials?"
			}
			fed.Err = fmt.Errorf("poll %d, with cursor %s: %w (%s)", polls+1, quoteCursor(cursor), err, hint)
			break
		}
		if n == 0 {
			p.emptyFrom, p.emptyCursor = cursor, p.req.Cursor
			break
		}
		more += n
		if polls == MaxPolls {
			fed.Err = fmt.Errorf("still finding readings after %d polls: does the cursor advance? (last cursor %s)", MaxPolls+1, quoteCursor(p.req.Cursor))
			break
		}
	}
	switch {
	case fed.Err == nil && more == 0:
		fed.Detail = "the next poll found nothing new"
	case fed.Err == nil:
		fed.Detail = fmt.Sprintf("%s in %s, none repeated, then nothing new", count(more, "more reading"), count(polls-1, "more poll"))
	}
	if fed.Err != nil {
		return []Result{first, fed, {Check: "poll/nothing-new", Err: fmt.Errorf("%w: feeding the cursor back failed", errNotRun)}}
	}

	// Nothing new is a success: no error, no readings, and a cursor the host can store
	// and resume from. Polled again, it still finds nothing.
	empty := Result{Check: "poll/nothing-new"}
	switch {
	case p.emptyFrom != "" && p.emptyCursor == "":
		empty.Err = fmt.Errorf(`a poll with cursor %s that found nothing new answered NextCursor ""; the host stores it as is, so the next poll starts from the beginning: return the cursor you were given`, quoteCursor(p.emptyFrom))
	default:
		if n, err := p.poll(); err != nil {
			empty.Err = fmt.Errorf("polled again with cursor %s: %w", quoteCursor(p.emptyCursor), err)
		} else if n != 0 {
			empty.Err = fmt.Errorf("polled again with cursor %s, it found %d new readings after a poll that found none", quoteCursor(p.emptyCursor), n)
		} else {
			empty.Detail = "no readings, no error, cursor " + quoteCursor(p.req.Cursor)
		}
	}
	return []Result{first, fed, empty}
}

// poller is the state the host keeps for one account between polls: its cursor and
// credentials, and (for the kit) every reading already returned.
type poller struct {
	k    *checker
	f    Fixtures
	req  sdk.PollRequest
	seen map[string]int // reading key -> the poll that returned it
	n    int            // polls made

	emptyFrom, emptyCursor string // the cursor of the poll that found nothing, and its answer
}

// poll makes one poll, judges its answer as the host would and, when the host would
// keep it, moves the cursor and credentials on as the host does. It returns the number
// of readings and test sessions found.
func (p *poller) poll() (int, error) {
	p.n++
	req := p.req
	receivedAt := time.Now()
	res, err := callT(p.k, "poll", func(ctx context.Context) (sdk.PollResult, error) { return p.k.t.PollReadings(ctx, req) })
	if err != nil {
		return 0, fmt.Errorf("failed: %w", err)
	}
	// Judged by the call the host's poll path makes (judge.Caps.CheckPoll, in
	// host/pluginmgr): the same refusal named first, in its words.
	v := judge.JudgePoll(p.f.Caps, window(p.f), receivedAt, res)
	if _, err := explain(v, judge.PollAnswer(res)); err != nil {
		return 0, err
	}
	if err := checkReadings(res.Readings, res.TestSessions, res.CommandUpdates); err != nil {
		return 0, err
	}
	for i, r := range res.Readings {
		key := readingKey(r)
		if at, ok := p.seen[key]; ok && at < p.n {
			return 0, fmt.Errorf("reading %d (%s of %s at %s) was already returned by poll %d; a cursor fed back must bring only what is newer", i, r.Metric, r.ProviderDeviceID, readingTime(r), at)
		}
		p.seen[key] = p.n
	}
	p.req.Cursor = res.NextCursor
	if res.RefreshedCredentials != nil {
		p.req.Account.Credentials = res.RefreshedCredentials
	}
	return len(res.Readings) + len(res.TestSessions), nil
}

// readingKey identifies a reading as the host stores it: a device's metric at a time,
// and its value too for a reading without one (the host stamps it on receipt).
func readingKey(r sdk.Reading) string {
	key := r.ProviderDeviceID + "\x00" + r.Metric + "\x00" + readingTime(r)
	if !r.HasTime() {
		key += "\x00" + strconv.FormatFloat(r.Value, 'g', -1, 64)
	}
	return key
}

func readingTime(r sdk.Reading) string {
	if !r.HasTime() {
		return "no time"
	}
	return r.RecordedAt.UTC().Format(time.RFC3339Nano)
}

func quoteCursor(c string) string {
	if len(c) > 60 {
		return fmt.Sprintf("%q… (%d bytes)", c[:60], len(c))
	}
	return fmt.Sprintf("%q", c)
}
