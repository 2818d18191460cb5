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
	if list, more, err := svc.NeedingAttention(ctx, auth.Actor{UserID: 1, Admin: true}); err != nil || len(list) != 0 || more {
		t.Errorf("attention on a quiet host: %v %v %v", list, more, err)
	}
}

// manyAttention is a store with as many accounts needing attention as asked for.
type manyAttention struct {
	activity.Store
	n int
}

func (m manyAttention) AccountsNeedingAttention(_ context.Context, _, limit int) ([]store.AttentionAccount, error) {
	out := make([]store.AttentionAccount, min(m.n, limit))
	for i := range out {
		out[i].AccountID = int64(i + 1)
	}
	return out, nil
}

// TestNeedingAttentionSaysMore: the list stops at AttentionShown and says whether more
// accounts need attention beyond it, so the console does not end a cut list as if whole.
func TestNeedingAttentionSaysMore(t *testing.T) {
	admin := auth.Actor{UserID: 1, Admin: true}
	for _, tc := range []struct {
		n        int
		wantLen  int
		wantMore bool
	}{{0, 0, false}, {activity.AttentionShown, activity.AttentionShown, false}, {activity.AttentionShown + 1, activity.AttentionShown, true}} {
		list, more, err := activity.New(manyAttention{n: tc.n}, 0).NeedingAttention(context.Background(), admin)
		if err != nil || len(list) != tc.wantLen || more != tc.wantMore {
			t.Errorf("%d accounts: listed %d, more %v, %v; want %d, %v", tc.n, len(list), more, err, tc.wantLen, tc.wantMore)
		}
	}
}
