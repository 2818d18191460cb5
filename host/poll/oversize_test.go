package poll_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/ingest"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/poll"
)

// TestOversizedPollAnswersAreStoredNowhere: a poll answer over the plugin caps — more
// readings than max_readings_per_call, a message over max_message_bytes, a 1 MiB raw
// payload, a cursor over max_raw_payload_bytes or with a NUL, refreshed tokens over it —
// is a failed poll that stores no reading and does not move the cursor, while the tokens
// the plugin rotated are kept when the host could read the answer and they are within
// their cap (on an error too). The answers come from the faulty plugin binary.
func TestOversizedPollAnswersAreStoredNowhere(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := ingesttest.NewClock()
			s := eng.Open(t)
			at := clk.Now().Add(-time.Minute).Format(time.RFC3339)
			creds := func(repeat, rawBytes int) map[string]string {
				return map[string]string{"device_id": "probe", "repeat": strconv.Itoa(repeat),
					"readings": fmt.Sprintf(`[{"metric": "ph", "value": "7.4", "recorded_at": %q, "raw_bytes": %d}]`, at, rawBytes)}
			}
			with := func(c map[string]string, kv ...string) map[string]string {
				for i := 0; i < len(kv); i += 2 {
					c[kv[i]] = kv[i+1]
				}
				return c
			}
			def := config.DefaultPlugins
			over := strconv.Itoa(def.MaxRawPayloadBytes + 1)
			cases := []struct {
				name, want string
				creds      map[string]string
				// token is the account's "token" credential after the poll: "t1" when
				// the tokens the plugin rotated are kept, "" when they are refused.
				token string
			}{
				{"many", "max_readings_per_call", creds(def.MaxReadingsPerCall+1, 0), "t1"},
				// Every reading within the caps, the message (about 1.2 × the cap) not.
				{"huge", "max_message_bytes", creds(int(def.MaxMessageBytes*6/5)/(60<<10), 60<<10), ""},
				{"raw", "max_raw_payload_bytes", creds(1, 1<<20), "t1"},
				// The cursor is stored with the poll state and handed back on every poll.
				{"cursor", "poll cursor of", with(creds(1, 0), "cursor_bytes", over), "t1"},
				{"NUL in cursor", "NUL", with(creds(1, 0), "cursor", "page\x002"), "t1"},
				// Tokens are stored in place of the account's and sent on every call: a
				// megabyte access token from the upstream is refused, the answer with it.
				{"tokens", "credentials of", with(creds(1, 0), "token_bytes", over), ""},
				// ... and taken off the error of a poll that failed after refreshing.
				{"tokens on an error", "upstream 503 after refresh", with(creds(1, 0), "token_bytes", over, "fail", "refreshed_temporary"), ""},
			}
			ids := map[string]int64{}
			for _, c := range cases {
				ids[c.name] = ingesttest.Seed(t, s, "faulty", c.name+"@example.com", c.creds, []string{"probe"}, nil).Account.ID
			}

			cfg := ingesttest.Config(t, pluginDir, `poll = true
  poll_interval = "10m"`)
			mgr := ingesttest.StartManager(t, cfg, hclog.NewNullLogger())
			ing := ingest.New(s, ingest.Config{MaxFutureSkew: 5 * time.Minute, MaxPastAge: 24 * time.Hour}, nil, nil)
			w := poll.New(poll.Deps{
				Store: s, Ingest: ing, Plugins: mgr, Providers: func() []config.Provider { return cfg.Providers },
			}, poll.Config{PollWorker: config.DefaultPollWorker, Owner: "poller", Now: clk.Now, Rand: func() float64 { return 0.5 }})

			st, err := w.Tick(ctx)
			if err != nil {
				t.Fatalf("tick: %v", err)
			}
			if st != (poll.Stats{Claimed: len(cases), Failed: len(cases)}) {
				t.Fatalf("tick: %+v, want every oversized poll to fail", st)
			}
			if n := ingesttest.CountReadings(t, s); n != 0 {
				t.Fatalf("%d readings stored, want 0", n)
			}
			for _, c := range cases {
				ps, err := s.GetPollState(ctx, ids[c.name])
				if err != nil {
					t.Fatal(err)
				}
				if ps.ConsecutiveErrors != 1 || ps.Cursor != "" || !strings.Contains(ps.LastError, c.want) || len(ps.LastError) > 1024 {
					t.Fatalf("%s: errors %d, cursor %q, last error %q; want one error naming %s and no cursor",
						c.name, ps.ConsecutiveErrors, ps.Cursor, ps.LastError, c.want)
				}
				// A refused answer's rotated tokens are the provider's, and kept — except
				// from a message over the gRPC cap, which the host never read, and tokens
				// over their own cap.
				if got, err := s.AccountCredentials(ctx, ids[c.name]); err != nil || got["token"] != c.token {
					t.Fatalf("%s: token of %d bytes (%v) after the refused answer, want %q", c.name, len(got["token"]), err, c.token)
				}
			}
		})
	}
}
