package connect_test

import (
	"context"
	"errors"
	"testing"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/internal/ingesttest"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
)

// movingStore moves the device to another pool between the service's read of the
// device and its unlink: what happens when the owner moves it at that moment.
type movingStore struct {
	*store.Store
	move func(ctx context.Context)
}

func (m movingStore) UnlinkDevice(ctx context.Context, deviceID, poolID int64) error {
	m.move(ctx)
	return m.Store.UnlinkDevice(ctx, deviceID, poolID)
}

// TestUnlinkRemovesOnlyTheLinkAuthorized: an editor of the pool a device feeds may
// unlink it. Were the owner to move the device to a pool of their own while that
// unlink is in flight, the editor, authorized for the old pool only, must not remove
// the new link: the unlink answers 409 and the device stays in the owner's pool.
func TestUnlinkRemovesOnlyTheLinkAuthorized(t *testing.T) {
	for _, eng := range ingesttest.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			s := eng.Open(t)
			w := ingesttest.Seed(t, s, "generic", "owner@example.com", nil, []string{"probe"}, nil)
			editor, err := s.CreateUser(ctx, "editor@example.com", false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SetPoolMember(ctx, w.Pool.ID, editor.ID, store.RoleEditor); err != nil {
				t.Fatal(err)
			}
			private, err := s.CreatePool(ctx, "the owner's own", w.User.ID)
			if err != nil {
				t.Fatal(err)
			}
			dev := w.Devices["probe"]
			moving := movingStore{Store: s, move: func(ctx context.Context) {
				if _, err := s.LinkDevice(ctx, dev.ID, private.ID, w.User.ID); err != nil {
					t.Fatal(err)
				}
			}}
			rec := audit.NewRecorder(audit.StoreWriter(s), nil)
			svc := connect.New(connect.Deps{Store: moving, Pools: pools.New(s, rec), Audit: rec})

			err = svc.Unlink(ctx, auth.Actor{UserID: editor.ID}, dev.ID, 0)
			var herr *host.Error
			if !errors.As(err, &herr) || herr.Code != host.ECONFLICT {
				t.Fatalf("unlink while the device moved: %v, want a conflict", err)
			}
			got, err := s.GetDevice(ctx, dev.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.PoolID != private.ID {
				t.Fatalf("the device's link is to pool %d, want the owner's pool %d kept", got.PoolID, private.ID)
			}
		})
	}
}
