package store_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// TestConsoleSessions: a session authenticates its token's user until it expires, is
// deleted, or its token is revoked.
func TestConsoleSessions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u, err := e.s.CreateUser(ctx, "ops@example.com", true)
		if err != nil {
			t.Fatal(err)
		}
		_, tok, err := e.s.CreateAPIToken(ctx, u.ID, "console")
		if err != nil {
			t.Fatal(err)
		}
		v, err := e.s.CreateConsoleSession(ctx, tok.ID, e.clock.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		got, sess, err := e.s.AuthenticateConsoleSession(ctx, v)
		if err != nil || got.ID != u.ID || !got.IsAdmin || sess.TokenID != tok.ID {
			t.Fatalf("authenticate: %+v %+v %v", got, sess, err)
		}
		if _, _, err := e.s.AuthenticateConsoleSession(ctx, v+"x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown session: %v", err)
		}
		e.clock.Advance(time.Hour)
		if _, _, err := e.s.AuthenticateConsoleSession(ctx, v); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired session: %v", err)
		}
		v2, err := e.s.CreateConsoleSession(ctx, tok.ID, e.clock.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.s.RevokeAPIToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.s.AuthenticateConsoleSession(ctx, v2); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("session of a revoked token: %v", err)
		}
		if err := e.s.DeleteConsoleSession(ctx, v2); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDeadFailureRanges: count, list and discard dead failures by provider and time.
func TestDeadFailureRanges(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		t0 := e.clock.Now()
		var ids []int64
		for i, p := range []string{"acme", "acme", "acme", "other"} {
			f, err := e.s.EnqueueFailure(ctx, store.NewFailure{Provider: p, Payload: []byte(fmt.Sprint(i)), MaxAttempts: 3, Error: "bad", Dead: i != 2})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, f.ID)
			e.clock.Advance(time.Minute)
		}
		all := store.RequeueFilter{Provider: "acme"}
		if n, err := e.s.CountDeadFailures(ctx, all); err != nil || n != 2 {
			t.Fatalf("count: %d %v", n, err)
		}
		first := store.RequeueFilter{Provider: "acme", From: t0, To: t0.Add(time.Minute)}
		if n, err := e.s.CountDeadFailures(ctx, first); err != nil || n != 1 {
			t.Fatalf("count in range: %d %v", n, err)
		}
		fs, err := e.s.ListFailures(ctx, store.FailureFilter{Provider: "acme", From: t0.Add(time.Minute)})
		if err != nil || len(fs) != 2 || fs[0].ID != ids[2] || fs[1].ID != ids[1] {
			t.Fatalf("list from: %+v %v", fs, err)
		}
		got, err := e.s.DiscardDeadFailures(ctx, all)
		if err != nil || len(got) != 2 {
			t.Fatalf("discard: %v %v", got, err)
		}
		// The pending one and the other provider's are still there.
		for _, id := range []int64{ids[2], ids[3]} {
			if _, err := e.s.GetFailure(ctx, id); err != nil {
				t.Errorf("failure %d: %v", id, err)
			}
		}
		if n, err := e.s.CountDeadFailures(ctx, all); err != nil || n != 0 {
			t.Fatalf("count after: %d %v", n, err)
		}
		if _, err := e.s.CountDeadFailures(ctx, store.RequeueFilter{}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("no provider: %v", err)
		}
	})
}

// TestActivityAndAttention: the overview's counts come from the audit trail and
// poll_state; the attention list names reauth_required and repeatedly failing accounts.
func TestActivityAndAttention(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		fx := newFixture(t, e, "ana@example.com")
		now := e.clock.Now()
		events := []store.AuditEvent{
			{Action: "webhook.received", Actor: "provider:acme", Provider: "acme", Details: store.Details{"accepted": 2, "dropped": map[string]int{"unknown_metric": 1, "unlinked_device": 2}}},
			{Action: "webhook.received", Actor: "provider:acme", Provider: "acme", Details: store.Details{"accepted": 1, "dropped": map[string]int{"unknown_metric": 3}}},
			{Action: "webhook.received", Actor: "provider:acme", Provider: "acme", At: now.Add(-25 * time.Hour)}, // too old
			{Action: "webhook.queued_for_retry", Actor: "provider:acme", Provider: "acme"},
			{Action: "ingestion.dead", Actor: "system", Provider: "acme"},
			{Action: "webhook.rejected", Actor: "anonymous", Provider: "acme", Details: store.Details{"suppressed_since_last": 4}},
			{Action: "ingestion.retry_succeeded", Actor: "system", Provider: "acme", Details: store.Details{"dropped": map[string]int{"unknown_metric": 1}}},
			{Action: "user.created", Actor: "system:cli"},
		}
		for _, ev := range events {
			if _, err := e.s.AppendAudit(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		acts, err := e.s.DeliveryActivity(ctx, now.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, a := range acts {
			if a.Provider != "acme" || a.Hour != now.Unix()/3600 {
				t.Errorf("bucket %+v, want acme at hour %d", a, now.Unix()/3600)
			}
			got[a.Action] += a.Count + a.Suppressed
		}
		if fmt.Sprint(got) != "map[ingestion.dead:1 ingestion.retry_succeeded:1 webhook.queued_for_retry:1 webhook.received:2 webhook.rejected:5]" {
			t.Errorf("activity %v", got)
		}
		dropped, err := e.s.DroppedReadings(ctx, now.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(dropped) != "[{acme unknown_metric 5} {acme unlinked_device 2}]" {
			t.Errorf("dropped %v", dropped)
		}

		// Attention: nothing yet; then three failed polls, then reauth_required.
		if err := e.s.EnsurePollState(ctx, fx.account.ID, "acme", now); err != nil {
			t.Fatal(err)
		}
		list, err := e.s.AccountsNeedingAttention(ctx, store.AttentionFilter{MinErrors: 3})
		if err != nil || len(list) != 0 {
			t.Fatalf("quiet: %+v %v", list, err)
		}
		for i := 0; i < 3; i++ {
			ps, err := e.s.ClaimDuePolls(ctx, []string{"acme"}, "w", 1, time.Minute)
			if err != nil || len(ps) != 1 {
				t.Fatalf("claim: %v %v", ps, err)
			}
			if err := e.s.FailPoll(ctx, fx.account.ID, ps[0].Lease(), "upstream 500", e.clock.Now(), nil); err != nil {
				t.Fatal(err)
			}
		}
		list, err = e.s.AccountsNeedingAttention(ctx, store.AttentionFilter{MinErrors: 3})
		if err != nil || len(list) != 1 || list[0].ConsecutiveErrors != 3 || list[0].Email != "ana@example.com" || list[0].LastError != "upstream 500" {
			t.Fatalf("failing polls: %+v %v", list, err)
		}
		polls, err := e.s.PollActivitySince(ctx, now.Add(-24*time.Hour))
		if err != nil || fmt.Sprint(polls) != "[{acme 1 1 1}]" {
			t.Fatalf("poll activity %v %v", polls, err)
		}
		if err := e.s.SetAccountStatus(ctx, fx.account.ID, store.AccountReauthRequired); err != nil {
			t.Fatal(err)
		}
		list, err = e.s.AccountsNeedingAttention(ctx, store.AttentionFilter{MinErrors: 100})
		if err != nil || len(list) != 1 || list[0].Status != "reauth_required" {
			t.Fatalf("reauth: %+v %v", list, err)
		}

		// Another account whose last 4 polls failed comes after the rejected one, which
		// failed fewer: the worst first, and the next page starts past the first row.
		other, _, err := e.s.UpsertAccount(ctx, store.NewAccount{UserID: fx.user.ID, Provider: "acme", ExternalAccountID: "other"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.s.EnsurePollState(ctx, other.ID, "acme", e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 4; i++ {
			// The rejected account is not polled: only the other is due.
			ps, err := e.s.ClaimDuePolls(ctx, []string{"acme"}, "w", 2, time.Minute)
			if err != nil || len(ps) != 1 || ps[0].AccountID != other.ID {
				t.Fatalf("claim: %v %v", ps, err)
			}
			if err := e.s.FailPoll(ctx, other.ID, ps[0].Lease(), "upstream 503", e.clock.Now(), nil); err != nil {
				t.Fatal(err)
			}
		}
		list, err = e.s.AccountsNeedingAttention(ctx, store.AttentionFilter{MinErrors: 3})
		if err != nil || len(list) != 2 || list[0].AccountID != fx.account.ID || list[1].AccountID != other.ID || list[1].ConsecutiveErrors != 4 {
			t.Fatalf("a rejected account and one failing more: %+v %v", list, err)
		}
		if c := list[0].Cursor(); c.Rank != 0 || c.Errors != list[0].ConsecutiveErrors || c.ID != fx.account.ID {
			t.Errorf("the rejected account's cursor %+v", c)
		}
		next, err := e.s.AccountsNeedingAttention(ctx, store.AttentionFilter{MinErrors: 3, After: list[0].Cursor()})
		if err != nil || len(next) != 1 || next[0].AccountID != other.ID {
			t.Fatalf("after the rejected account: %+v %v", next, err)
		}
		if c := next[0].Cursor(); c != (store.AttentionCursor{Rank: 1, Errors: 4, ID: other.ID}) {
			t.Errorf("the failing account's cursor %+v", c)
		}
		if last, err := e.s.AccountsNeedingAttention(ctx, store.AttentionFilter{MinErrors: 3, After: next[0].Cursor()}); err != nil || len(last) != 0 {
			t.Fatalf("after the last: %+v %v", last, err)
		}
	})
}

// TestConnectedAccountsPerProvider: the console's count and list of a provider's
// connected accounts leave disconnected ones out, and see providers the config may no
// longer name.
func TestConnectedAccountsPerProvider(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u, err := e.s.CreateUser(ctx, "ana@example.com", false)
		if err != nil {
			t.Fatal(err)
		}
		var gone []int64
		for i, p := range []string{"acme", "gone", "gone", "gone"} {
			a, _, err := e.s.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: p, ExternalAccountID: fmt.Sprint("x", i),
				Credentials: map[string]string{"api_key": "k"}})
			if err != nil {
				t.Fatal(err)
			}
			if p == "gone" {
				gone = append(gone, a.ID)
			}
		}
		if _, err := e.s.DisconnectAccount(ctx, gone[2]); err != nil {
			t.Fatal(err)
		}
		counts, err := e.s.ConnectedAccountsPerProvider(ctx)
		if err != nil || fmt.Sprint(counts) != "[{acme 1} {gone 2}]" {
			t.Fatalf("counts %v %v, want acme 1, gone 2", counts, err)
		}
		list, err := e.s.ConnectedAccountsOf(ctx, "gone", 1)
		if err != nil || len(list) != 1 || list[0].AccountID != gone[0] || list[0].Email != "ana@example.com" || list[0].Status != "active" {
			t.Fatalf("accounts of gone (limit 1) = %+v %v", list, err)
		}
		list, err = e.s.ConnectedAccountsOf(ctx, "gone", 10)
		if err != nil || len(list) != 2 || list[1].AccountID != gone[1] {
			t.Fatalf("accounts of gone = %+v %v, want the two connected", list, err)
		}
	})
}

// TestConsoleListsPage: the console's Commands list pages newest first by id (BeforeID
// continues below the last id of a page, with the filters kept) and its Accounts list
// worst first (After continues past the last row's place in that order), so following
// the pages lists each row once, in order, whatever the page size.
func TestConsoleListsPage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "ana@example.com")
		// pages follows the commands from the newest, two at a time, and returns the ids.
		pages := func(list func(before int64) ([]int64, error)) []int64 {
			t.Helper()
			var all []int64
			for before := int64(0); ; {
				ids, err := list(before)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, ids...)
				if len(ids) < 2 {
					return all
				}
				before = ids[len(ids)-1]
			}
		}

		var want []int64
		for i := range 5 {
			n := newCommand(f, "", "h")
			n.ExpiresAt = e.clock.Now().Add(time.Hour)
			c, _, err := e.s.CreateCommand(ctx, n)
			if err != nil {
				t.Fatal(i, err)
			}
			if i != 2 { // canceled below, and so not queued
				want = append([]int64{c.ID}, want...)
				continue
			}
			if _, err := e.s.CancelCommand(ctx, f.pool.ID, c.PublicID); err != nil {
				t.Fatal(err)
			}
		}
		got := pages(func(before int64) ([]int64, error) {
			cs, err := e.s.ListCommands(ctx, store.CommandFilter{Provider: "acme", Statuses: []store.CommandStatus{store.CommandQueued}, BeforeID: before, Limit: 2})
			var ids []int64
			for _, c := range cs {
				ids = append(ids, c.ID)
			}
			return ids, err
		})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("queued commands page by page: %v, want %v", got, want)
		}

		// Accounts: reauth_required ones, with and without failed polls, and active ones
		// with 3 to 6 failed polls (ties on each count, so the id decides), among
		// accounts that need nobody (working, or 1 or 2 failed polls). The fixture's
		// account, active and never polled, needs nobody either.
		type acct struct {
			id     int64
			reauth bool
			errors int
		}
		var needing []acct
		for i := range 30 {
			a, _, err := e.s.UpsertAccount(ctx, store.NewAccount{UserID: f.user.ID, Provider: "acme", ExternalAccountID: fmt.Sprint("more-", i)})
			if err != nil {
				t.Fatal(err)
			}
			// Every fifth rejected, with 0, 2, 4 or 6 failed polls; every fifth after it
			// with fewer than 3; the others 3 to 6. Those with none never polled, but for
			// one, so a poll state with none ranks as no poll state does.
			var ac acct
			switch i % 5 {
			case 0:
				ac = acct{id: a.ID, reauth: true, errors: (i / 5) % 4 * 2}
			case 1:
				ac = acct{id: a.ID, errors: i % 3}
			default:
				ac = acct{id: a.ID, errors: 3 + (i*3)%4}
			}
			if ac.errors > 0 || i == 20 {
				setErrors(t, e, a.ID, ac.errors)
			}
			if ac.reauth {
				if err := e.s.SetAccountStatus(ctx, a.ID, store.AccountReauthRequired); err != nil {
					t.Fatal(err)
				}
			}
			if ac.reauth || ac.errors >= 3 {
				needing = append(needing, ac)
			}
		}
		slices.SortFunc(needing, func(a, b acct) int {
			if a.reauth != b.reauth {
				if a.reauth {
					return -1
				}
				return 1
			}
			return cmp.Or(cmp.Compare(b.errors, a.errors), cmp.Compare(b.id, a.id))
		})
		var wantAccounts []string
		for _, a := range needing {
			wantAccounts = append(wantAccounts, fmt.Sprintf("%d:%v/%d", a.id, a.reauth, a.errors))
		}
		for _, limit := range []int{1, 2, 3, 7, 100} {
			var got []string
			var after store.AttentionCursor
			for page := 0; ; page++ {
				if page > len(wantAccounts) {
					t.Fatalf("pages of %d: no end after %d pages", limit, page)
				}
				as, err := e.s.AccountsNeedingAttention(ctx, store.AttentionFilter{MinErrors: 3, After: after, Limit: limit})
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range as {
					got = append(got, fmt.Sprintf("%d:%v/%d", a.AccountID, a.Status == string(store.AccountReauthRequired), a.ConsecutiveErrors))
				}
				if len(as) < limit {
					break
				}
				after = as[len(as)-1].Cursor()
			}
			if !slices.Equal(got, wantAccounts) {
				t.Errorf("accounts needing attention, pages of %d:\n got %v\nwant %v (id:reauth/failed polls, worst first)", limit, got, wantAccounts)
			}
		}
	})
}

// setErrors gives the account a poll state whose last n polls failed, as n FailPolls
// would leave it.
func setErrors(t *testing.T, e *env, accountID int64, n int) {
	t.Helper()
	ctx := context.Background()
	if err := e.s.EnsurePollState(ctx, accountID, "acme", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	db := e.s.DB()
	if _, err := db.ExecContext(ctx, db.Rebind(`UPDATE poll_state SET consecutive_errors = ?, last_error = 'upstream 500' WHERE account_id = ?`), n, accountID); err != nil {
		t.Fatal(err)
	}
}

// TestAttentionCursorText: a cursor reads back from its text, and nothing else reads as
// one: the console takes it from a URL.
func TestAttentionCursorText(t *testing.T) {
	for _, c := range []store.AttentionCursor{{Rank: 0, Errors: 0, ID: 1}, {Rank: 1, Errors: 17, ID: 4521}, {Rank: 1, Errors: 1<<31 - 1, ID: 1<<63 - 1}} {
		if got, ok := store.ParseAttentionCursor(c.String()); !ok || got != c {
			t.Errorf("%+v as %q reads back as %+v, %v", c, c, got, ok)
		}
	}
	for _, bad := range []string{"", "4521", "1.17", "1.17.4521.0", "2.17.4521", "-1.17.4521", "1.-17.4521", "1.17.0", "1.17.-4521",
		"+1.17.4521", "1.+17.4521", "01.17.4521", "1.017.4521", "1.17.04521", " 1.17.4521", "1.17.4521 ", "1..4521", "1.17.",
		"1.2147483648.4521", "1.17.9223372036854775808", "1.1e3.4521", "1.17.0x10", "a.b.c", "1,17,4521"} {
		if c, ok := store.ParseAttentionCursor(bad); ok {
			t.Errorf("%q read as the cursor %+v", bad, c)
		}
	}
}
