package httpapi_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/poolhost/poolhost/host/httpapi"
)

// TestPoolsPerUserCapped: one user owns at most ingest { max_pools_per_user } pools;
// another create is a 409 pool-limit naming the cap and the attribute, the cap is each
// user's own, and creates at once cannot both take the last place.
func TestPoolsPerUserCapped(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		cfg := *e.cfg.Load()
		cfg.Ingest.MaxPoolsPerUser = 2
		e.cfg.Store(&cfg)
		u, v := e.newUser("u", false), e.newUser("v", false)
		create := func(who user, name string, want int) response {
			t.Helper()
			return e.must(want, req{method: "POST", path: "/v1/pools", token: who.Token, body: map[string]string{"name": name}})
		}
		create(u, "one", 201)
		create(u, "two", 201)
		p := create(u, "three", 409).problem(t)
		if p.Type != httpapi.ProblemTypeBase+"pool-limit" || !strings.Contains(p.Detail, "max_pools_per_user") || !strings.Contains(p.Detail, "2 pools") {
			t.Errorf("a third pool: %+v", p)
		}
		create(v, "v's own", 201) // another user's own cap

		// Eight creates at once by a user with room for three: three pools.
		cfg.Ingest.MaxPoolsPerUser = 3
		e.cfg.Store(&cfg)
		w := e.newUser("w", false)
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.do(req{method: "POST", path: "/v1/pools", token: w.Token, body: map[string]string{"name": fmt.Sprint("p", i)}})
				mu.Lock()
				codes[r.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[201] != 3 || codes[409] != 5 {
			t.Errorf("eight creates at once with room for three: %v", codes)
		}
	})
}

// TestPoolCapCountsPoolsTheUserCreated: the cap counts the pools a user created, not
// those they own. Any owner may make any user an owner, unasked, and a last owner cannot
// leave, so counting owned pools let one user hand pools to another and leave them: the
// giver then created without end (the cap bypassed), and the receiver, stuck owning them,
// could never create a pool of their own (the cap turned on its holder).
func TestPoolCapCountsPoolsTheUserCreated(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		cfg := *e.cfg.Load()
		cfg.Ingest.MaxPoolsPerUser = 2
		e.cfg.Store(&cfg)
		giver, receiver := e.newUser("giver", false), e.newUser("receiver", false)
		for _, name := range []string{"one", "two"} {
			id := e.createPool(giver, name)
			e.must(200, req{method: "PUT", path: fmt.Sprintf("/v1/pools/%d/members/%d", id, receiver.ID), token: giver.Token, body: map[string]string{"role": "owner"}})
			e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/members/%d", id, giver.ID), token: giver.Token})
			// The receiver is the last owner now and cannot leave.
			e.must(409, req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/members/%d", id, receiver.ID), token: receiver.Token})
		}
		// The giver created two: handing them away frees no place.
		p := e.must(409, req{method: "POST", path: "/v1/pools", token: giver.Token, body: map[string]string{"name": "three"}}).problem(t)
		if p.Type != httpapi.ProblemTypeBase+"pool-limit" || !strings.Contains(p.Detail, "created 2 pools") {
			t.Errorf("the giver's third pool: %+v", p)
		}
		// The receiver owns two it never asked for and still has its own two places.
		e.must(201, req{method: "POST", path: "/v1/pools", token: receiver.Token, body: map[string]string{"name": "mine"}})
		e.must(201, req{method: "POST", path: "/v1/pools", token: receiver.Token, body: map[string]string{"name": "mine too"}})
		e.must(409, req{method: "POST", path: "/v1/pools", token: receiver.Token, body: map[string]string{"name": "one more"}})
	})
}

// TestTestSessionsPerPoolCapped: a pool holds at most ingest { max_test_sessions_per_pool }
// sessions its members entered; another is a 409 test-session-limit naming the cap and
// the attribute, deleting one makes room, the cap is each pool's own, and sessions
// entered at once cannot both take the last place.
func TestTestSessionsPerPoolCapped(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		cfg := *e.cfg.Load()
		cfg.Ingest.MaxTestSessionsPerPool = 2
		e.cfg.Store(&cfg)
		u := e.newUser("u", false)
		pool, other := e.createPool(u, "P"), e.createPool(u, "Q")
		body := map[string]any{"method": "drops", "results": []map[string]any{{"metric": "free_chlorine", "value": 2.5, "unit": "mg/L"}}}
		enter := func(poolID int64, want int) response {
			t.Helper()
			return e.must(want, req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/test-sessions", poolID), token: u.Token, body: body})
		}
		var first struct {
			Session struct {
				ID int64 `json:"id"`
			} `json:"session"`
		}
		enter(pool, 201).json(t, &first)
		enter(pool, 201)
		p := enter(pool, 409).problem(t)
		if p.Type != httpapi.ProblemTypeBase+"test-session-limit" || !strings.Contains(p.Detail, "max_test_sessions_per_pool") || !strings.Contains(p.Detail, "2 test sessions") {
			t.Errorf("a third session: %+v", p)
		}
		enter(other, 201) // another pool's own cap
		e.must(204, req{method: "DELETE", path: fmt.Sprintf("/v1/pools/%d/test-sessions/%d", pool, first.Session.ID), token: u.Token})
		enter(pool, 201) // deleting one made room
		enter(pool, 409)

		// Eight sessions at once on a pool with room for three: three sessions.
		cfg.Ingest.MaxTestSessionsPerPool = 3
		e.cfg.Store(&cfg)
		fresh := e.createPool(u, "R")
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.do(req{method: "POST", path: fmt.Sprintf("/v1/pools/%d/test-sessions", fresh), token: u.Token, body: body})
				mu.Lock()
				codes[r.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[201] != 3 || codes[409] != 5 {
			t.Errorf("eight sessions at once with room for three: %v", codes)
		}
	})
}
