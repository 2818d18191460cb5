package failures_test

import (
	"context"
	"testing"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/store"
)

// TestReadsNeedAnAdmin: listing dead letters and reading one (a user's raw delivery,
// its headers) are the service's to authorize, as requeue and discard are, not only the
// front end's: an admin or the system (the CLI) reads them; another user gets
// EFORBIDDEN and nobody EUNAUTHORIZED, with nothing of the failure in the answer.
// List and Get took no actor at all, so any caller wired to them read every payload.
func TestReadsNeedAnAdmin(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	fl, err := st.EnqueueFailure(ctx, store.NewFailure{Provider: "acme", Payload: []byte("secret-reading"), MaxAttempts: 1, Error: "bad", Dead: true})
	if err != nil {
		t.Fatal(err)
	}
	svc := failures.New(st)
	for _, c := range []struct {
		name string
		a    auth.Actor
		want string
	}{
		{"user", auth.Actor{UserID: 2}, host.EFORBIDDEN},
		{"anonymous", auth.Actor{}, host.EUNAUTHORIZED},
	} {
		if fs, _, err := svc.List(ctx, c.a, failures.Filter{}); host.ErrorCode(err) != c.want || len(fs) != 0 {
			t.Errorf("%s lists: %d failures, %v; want %s", c.name, len(fs), err, c.want)
		}
		if f, err := svc.Get(ctx, c.a, fl.ID); host.ErrorCode(err) != c.want || f.Payload != nil {
			t.Errorf("%s gets: %+v, %v; want %s", c.name, f, err, c.want)
		}
	}
	for _, a := range []auth.Actor{{UserID: 1, Admin: true}, auth.System("cli")} {
		if fs, _, err := svc.List(ctx, a, failures.Filter{}); err != nil || len(fs) != 1 {
			t.Errorf("%s lists: %d failures, %v; want 1", a, len(fs), err)
		}
		if f, err := svc.Get(ctx, a, fl.ID); err != nil || string(f.Payload) != "secret-reading" {
			t.Errorf("%s gets: %q, %v", a, f.Payload, err)
		}
	}
}
