package failures_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/store"
)

// newStore is a migrated SQLite store, closed at the test's end.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// countingStore counts the pages read from the store.
type countingStore struct {
	*store.Store
	lists int
}

func (c *countingStore) ListFailures(ctx context.Context, f store.FailureFilter) ([]store.Failure, error) {
	c.lists++
	return c.Store.ListFailures(ctx, f)
}

// TestListReadsOnePagePerCall: a page, and whether another follows, come from one
// query, as commands and pools page: one row more than the page. The list looked again
// after each full page with a second query repeating the filter's fields (one added to
// the first and forgotten in the second would have pointed at a wrong next page).
func TestListReadsOnePagePerCall(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	var ids []int64
	for range 3 {
		fl, err := st.EnqueueFailure(ctx, store.NewFailure{Provider: "acme", Payload: []byte("x"), MaxAttempts: 1, Error: "bad", Dead: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fl.ID)
	}
	cs := &countingStore{Store: st}
	svc := failures.New(cs)
	for _, c := range []struct {
		limit    int
		before   int64
		rows     int
		wantNext int64
	}{
		{2, 0, 2, ids[1]}, // more follow
		{2, ids[1], 1, 0}, // the rest
		{3, 0, 3, 0},      // exactly full, and the last
		{2, ids[2], 2, 0}, // exactly full, and the last
		{500, 0, 3, 0},    // the largest page
		{1, ids[1], 1, 0}, // the oldest alone
	} {
		cs.lists = 0
		fs, next, err := svc.List(ctx, auth.System("test"), failures.Filter{Limit: c.limit, BeforeID: c.before})
		if err != nil || len(fs) != c.rows || next != c.wantNext || cs.lists != 1 {
			t.Errorf("List(limit %d, before %d) = %d rows, next %d, %v in %d queries; want %d rows, next %d, in 1",
				c.limit, c.before, len(fs), next, err, cs.lists, c.rows, c.wantNext)
		}
	}
}
