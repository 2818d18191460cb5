package activity_test

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/activity"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/retry"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/host/webhook"
)

func TestOverview(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// The actions are the ones host/webhook and host/retry write.
	for _, ev := range []store.AuditEvent{
		{Action: webhook.ActionReceived, At: now.Add(-2 * time.Hour), Details: store.Details{"dropped": map[string]int{"unknown_metric": 2}}},
		{Action: webhook.ActionReceived, At: now},
		{Action: webhook.ActionQueuedForRetry, At: now},
		{Action: webhook.ActionDead, At: now},
		{Action: retry.ActionDead, At: now.Add(-time.Hour)},
		{Action: webhook.ActionRejected, At: now, Details: store.Details{"suppressed_since_last": 2}},
		{Action: retry.ActionRetrySucceeded, At: now, Details: store.Details{"dropped": map[string]int{"stale": 1}}},
	} {
		ev.Actor, ev.Provider = "provider:acme", "acme"
		if _, err := st.AppendAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	svc := activity.New(st, 0)
	if _, err := svc.Overview(ctx, auth.Actor{UserID: 2}, nil); host.ErrorCode(err) != host.EFORBIDDEN {
		t.Fatalf("non-admin: %v", err)
	}
	ov, err := svc.Overview(ctx, auth.Actor{UserID: 1, Admin: true}, []string{"quiet", "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ov.Providers) != 2 || ov.Providers[0].ID != "quiet" || len(ov.Providers[0].Totals) != 0 || len(ov.Providers[0].Hours) != 24 {
		t.Fatalf("providers %+v", ov.Providers)
	}
	acme := ov.Providers[1]
	want := map[string]int64{activity.Accepted: 3, activity.Queued: 1, activity.Dead: 2, activity.Rejected: 3}
	for k, v := range want {
		if acme.Totals[k] != v {
			t.Errorf("%s = %d, want %d (%v)", k, acme.Totals[k], v, acme.Totals)
		}
	}
	last := acme.Hours[len(acme.Hours)-1]
	if last.Counts[activity.Accepted] != 2 || acme.Hours[len(acme.Hours)-3].Counts[activity.Accepted] != 1 {
		t.Errorf("hours: last %v, two before %v", last.Counts, acme.Hours[len(acme.Hours)-3].Counts)
	}
	if len(acme.Dropped) != 2 || acme.Dropped[0].Reason != "unknown_metric" || acme.Dropped[0].Count != 2 {
		t.Errorf("dropped %v", acme.Dropped)
	}
	if list, next, err := svc.NeedingAttention(ctx, auth.Actor{UserID: 1, Admin: true}, store.AttentionCursor{}); err != nil || len(list) != 0 || next != (store.AttentionCursor{}) {
		t.Errorf("attention on a quiet host: %v %v %v", list, next, err)
	}
}

// manyAttention is a store with n accounts needing attention, in the store's worst-first
// order: every seventh reauth_required, the others with 3 to 9 failed polls.
type manyAttention struct {
	activity.Store
	list []store.AttentionAccount
}

func newManyAttention(n int) manyAttention {
	var m manyAttention
	for i := range n {
		a := store.AttentionAccount{AccountID: int64(i + 1), Status: "active", ConsecutiveErrors: 3 + i*5%7}
		if i%7 == 0 {
			a.Status, a.ConsecutiveErrors = "reauth_required", i%4
		}
		m.list = append(m.list, a)
	}
	slices.SortFunc(m.list, func(a, b store.AttentionAccount) int {
		ca, cb := a.Cursor(), b.Cursor()
		return cmp.Or(cmp.Compare(ca.Rank, cb.Rank), cmp.Compare(cb.Errors, ca.Errors), cmp.Compare(cb.ID, ca.ID))
	})
	return m
}

// AccountsNeedingAttention answers the rows after f.After, which must be a row's cursor.
func (m manyAttention) AccountsNeedingAttention(_ context.Context, f store.AttentionFilter) ([]store.AttentionAccount, error) {
	if f.MinErrors != activity.AttentionErrors || f.Limit != activity.AttentionShown+1 {
		return nil, fmt.Errorf("asked for %+v", f)
	}
	start := 0
	if f.After != (store.AttentionCursor{}) {
		i := slices.IndexFunc(m.list, func(a store.AttentionAccount) bool { return a.Cursor() == f.After })
		if i < 0 {
			return nil, fmt.Errorf("after %v, no row's cursor", f.After)
		}
		start = i + 1
	}
	return m.list[start:min(start+f.Limit, len(m.list))], nil
}

// TestNeedingAttentionPages: a page stops at AttentionShown and its next cursor is its
// last row's place in the worst-first order, zero when no row follows, so following the
// pages lists every account once, worst first, and the console neither ends a cut list
// as if whole nor links to an empty page.
func TestNeedingAttentionPages(t *testing.T) {
	admin := auth.Actor{UserID: 1, Admin: true}
	for _, tc := range []struct {
		n, pages int
	}{{0, 1}, {1, 1}, {activity.AttentionShown, 1}, {activity.AttentionShown + 1, 2}, {2*activity.AttentionShown + 1, 3}} {
		m := newManyAttention(tc.n)
		svc := activity.New(m, 0)
		var got []store.AttentionAccount
		var after store.AttentionCursor
		for page := 1; ; page++ {
			list, next, err := svc.NeedingAttention(context.Background(), admin, after)
			if err != nil {
				t.Fatalf("%d accounts, page %d: %v", tc.n, page, err)
			}
			got = append(got, list...)
			if next == (store.AttentionCursor{}) {
				if page != tc.pages {
					t.Errorf("%d accounts: %d pages, want %d", tc.n, page, tc.pages)
				}
				break
			}
			if len(list) != activity.AttentionShown || next != list[len(list)-1].Cursor() {
				t.Fatalf("%d accounts, page %d: %d listed, next %v; want %d and the last one's place", tc.n, page, len(list), next, activity.AttentionShown)
			}
			if page > tc.pages {
				t.Fatalf("%d accounts: still a next page after %d", tc.n, page)
			}
			after = next
		}
		if !slices.Equal(got, m.list) {
			t.Errorf("%d accounts: the pages list %d, want each once, worst first", tc.n, len(got))
		}
	}
	if _, _, err := activity.New(newManyAttention(1), 0).NeedingAttention(context.Background(), auth.Actor{UserID: 2}, store.AttentionCursor{}); err == nil {
		t.Error("a user who is not an admin was shown the accounts needing attention")
	}
}
