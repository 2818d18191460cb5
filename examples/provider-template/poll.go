package template

import (
	"context"
	"encoding/json"

	"github.com/poolhost/poolhost/sdk"
)

// PollReadings fetches what each of the account's devices measured since the last
// poll. Acme pages readings per device with an opaque per-device cursor, while the host
// stores one cursor string per account: so the account cursor is a JSON object mapping
// device id to that device's Acme cursor. The cursor is entirely the adapter's business;
// encode whatever your provider needs to resume.
//
// One page per device per poll: a device with a backlog catches up over the next polls
// instead of making one call run past its deadline.
func (a *Adapter) PollReadings(ctx context.Context, req sdk.PollRequest) (sdk.PollResult, error) {
	s, err := a.session(req.Account)
	if err != nil {
		return sdk.PollResult{}, err
	}
	prev := decodeCursor(req.Cursor)
	devices, err := s.devices(ctx)
	if err != nil {
		return sdk.PollResult{}, s.fail(err)
	}
	next := make(map[string]string, len(devices))
	var readings []sdk.Reading
	for _, d := range devices {
		page, err := s.readings(ctx, d.ID, prev[d.ID])
		if err != nil {
			return sdk.PollResult{}, s.fail(err)
		}
		for _, raw := range page.Readings {
			// Unlike a webhook, a polled reading we cannot parse is skipped: failing the
			// poll would stop the cursor at this reading and wedge the account forever.
			r, ok, err := toReading(d.ID, raw)
			if err == nil && ok {
				readings = append(readings, r)
			}
		}
		next[d.ID] = page.NextCursor
		if page.NextCursor == "" {
			next[d.ID] = prev[d.ID]
		}
	}
	return sdk.PollResult{
		Readings:             readings,
		NextCursor:           encodeCursor(next),
		RefreshedCredentials: s.refreshed(),
	}, nil
}

// decodeCursor reads the account cursor. A cursor we cannot read (say, written by an
// older plugin version) restarts from the beginning: the host ignores readings it
// already has, so replaying is safe, while failing would wedge the account.
func decodeCursor(c string) map[string]string {
	m := map[string]string{}
	if c != "" {
		if err := json.Unmarshal([]byte(c), &m); err != nil {
			return map[string]string{}
		}
	}
	return m
}

// encodeCursor writes the account cursor. encoding/json sorts map keys, so the same
// state always encodes to the same string.
func encodeCursor(m map[string]string) string {
	b, err := json.Marshal(m)
	if err != nil {
		return "" // cannot happen for map[string]string
	}
	return string(b)
}
