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
