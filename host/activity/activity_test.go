package activity_test

import (
	"context"
	"path/filepath"
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
	if list, next, err := svc.NeedingAttention(ctx, auth.Actor{UserID: 1, Admin: true}, 0); err != nil || len(list) != 0 || next != 0 {
		t.Errorf("attention on a quiet host: %v %v %v", list, next, err)
	}
}

// manyAttention is a store with as many accounts needing attention as asked for, ids
// 1 to n.
type manyAttention struct {
	activity.Store
	n int
}

func (m manyAttention) AccountsNeedingAttention(_ context.Context, f store.AttentionFilter) ([]store.AttentionAccount, error) {
	top := int64(m.n)
	if f.BeforeID > 0 {
		top = min(top, f.BeforeID-1)
	}
	var out []store.AttentionAccount
	for id := top; id > 0 && len(out) < f.Limit; id-- {
		out = append(out, store.AttentionAccount{AccountID: id})
	}
	return out, nil
}

// TestNeedingAttentionPages: a page stops at AttentionShown and names where the next
// one starts, 0 when none follows, so the console neither ends a cut list as if whole
// nor links to an empty page.
func TestNeedingAttentionPages(t *testing.T) {
	admin := auth.Actor{UserID: 1, Admin: true}
	n := int64(activity.AttentionShown)
	for _, tc := range []struct {
		n        int
		before   int64
		wantLen  int
		wantNext int64
	}{
		{0, 0, 0, 0},
		{activity.AttentionShown, 0, activity.AttentionShown, 0},
		{activity.AttentionShown + 1, 0, activity.AttentionShown, 2},
		{activity.AttentionShown + 1, 2, 1, 0},
		{2*activity.AttentionShown + 1, 0, activity.AttentionShown, n + 2},
		{2*activity.AttentionShown + 1, n + 2, activity.AttentionShown, 2},
	} {
		list, next, err := activity.New(manyAttention{n: tc.n}, 0).NeedingAttention(context.Background(), admin, tc.before)
		if err != nil || len(list) != tc.wantLen || next != tc.wantNext {
			t.Errorf("%d accounts before %d: listed %d, next %d, %v; want %d, %d", tc.n, tc.before, len(list), next, err, tc.wantLen, tc.wantNext)
		}
	}
	if _, _, err := activity.New(manyAttention{n: 1}, 0).NeedingAttention(context.Background(), auth.Actor{UserID: 2}, 0); err == nil {
		t.Error("a user who is not an admin was shown the accounts needing attention")
	}
}
