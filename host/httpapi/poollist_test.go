package httpapi_test

import (
	"testing"
)

// TestPoolListPaged: GET /v1/pools answers a page at a time, by id, with a nextCursor
// until the last page, as every list that can grow does; a member sees each of their
// pools once and no one else's.
func TestPoolListPaged(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		u, other := e.newUser("u", false), e.newUser("other", false)
		want := []int64{e.createPool(u, "one"), e.createPool(u, "two")}
		e.createPool(other, "not u's")
		want = append(want, e.createPool(u, "three"))

		type page struct {
			Pools []struct {
				ID int64 `json:"id"`
			} `json:"pools"`
			NextCursor string `json:"nextCursor"`
		}
		var got []int64
		path := "/v1/pools?limit=2"
		for pages := 0; path != ""; pages++ {
			if pages > 3 {
				t.Fatal("the pages never end")
			}
			var p page
			e.must(200, req{method: "GET", path: path, token: u.Token}).json(t, &p)
			if len(p.Pools) > 2 {
				t.Fatalf("page of %d pools, limit 2", len(p.Pools))
			}
			for _, pl := range p.Pools {
				got = append(got, pl.ID)
			}
			path = ""
			if p.NextCursor != "" {
				path = "/v1/pools?limit=2&cursor=" + p.NextCursor
			}
		}
		if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Errorf("pools over the pages %v, want %v", got, want)
		}
		// Without a limit, all three on one page, and no cursor.
		var all page
		e.must(200, req{method: "GET", path: "/v1/pools", token: u.Token}).json(t, &all)
		if len(all.Pools) != 3 || all.NextCursor != "" {
			t.Errorf("one page: %+v", all)
		}
		for _, bad := range []string{"/v1/pools?limit=0", "/v1/pools?limit=1001", "/v1/pools?cursor=nonsense"} {
			e.must(400, req{method: "GET", path: bad, token: u.Token}).problem(t)
		}
	})
}
