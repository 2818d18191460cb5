package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/credentials"
	"github.com/poolhost/poolhost/host/store"
)

func TestUsersAndTokens(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u, err := e.s.CreateUser(ctx, " Alice@Example.com ", true)
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "alice@example.com" || !u.IsAdmin || u.ID == 0 {
			t.Fatalf("user = %+v", u)
		}
		if _, err := e.s.CreateUser(ctx, "ALICE@example.com", false); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate email: %v, want ErrConflict", err)
		}
		if host.ErrorCode(store.ErrConflict) != host.ECONFLICT {
			t.Fatal("ErrConflict does not carry host.ECONFLICT")
		}
		if _, err := e.s.CreateUser(ctx, "not-an-email", false); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("bad email: %v", err)
		}
		if _, err := e.s.GetUser(ctx, 999999); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing user: %v", err)
		}

		plain, tok, err := e.s.CreateAPIToken(ctx, u.ID, "cli")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(plain, store.TokenPrefix) || !strings.HasPrefix(plain, tok.Prefix) || len(tok.Prefix) >= len(plain) {
			t.Fatalf("token %q prefix %q", plain, tok.Prefix)
		}
		// Only the hash is stored.
		var stored []string
		if err := e.s.DB().SelectContext(ctx, &stored, "SELECT token_hash FROM api_tokens"); err != nil {
			t.Fatal(err)
		}
		for _, h := range stored {
			if strings.Contains(h, plain) || h != store.HashToken(plain) {
				t.Fatalf("stored token %q is not the hash of the plaintext", h)
			}
		}

		gotU, gotT, err := e.s.AuthenticateToken(ctx, plain)
		if err != nil {
			t.Fatal(err)
		}
		if gotU.ID != u.ID || gotT.ID != tok.ID || gotT.LastUsedAt == nil {
			t.Fatalf("authenticated %+v %+v", gotU, gotT)
		}
		if _, _, err := e.s.AuthenticateToken(ctx, plain+"x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("wrong token: %v", err)
		}
		if err := e.s.RevokeAPIToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.s.AuthenticateToken(ctx, plain); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoked token authenticates: %v", err)
		}
		if err := e.s.RevokeAPIToken(ctx, 424242); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoke unknown: %v", err)
		}

		p2, _, _ := e.s.CreateAPIToken(ctx, u.ID, "")
		p3, _, _ := e.s.CreateAPIToken(ctx, u.ID, "")
		if _, err := e.s.RevokeAPITokenValue(ctx, p2); err != nil {
			t.Fatal(err)
		}
		if n, err := e.s.RevokeUserTokens(ctx, u.ID); err != nil || n != 1 {
			t.Fatalf("revoke user tokens = %d, %v (want 1: only p3 was live)", n, err)
		}
		if _, _, err := e.s.AuthenticateToken(ctx, p3); !errors.Is(err, store.ErrNotFound) {
			t.Fatal("token alive after RevokeUserTokens")
		}
		ts, err := e.s.ListAPITokens(ctx, u.ID)
		if err != nil || len(ts) != 3 {
			t.Fatalf("list tokens = %d, %v", len(ts), err)
		}
	})
}

func TestPoolsAndRoles(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner, _ := e.s.CreateUser(ctx, "owner@x.io", false)
		bob, _ := e.s.CreateUser(ctx, "bob@x.io", false)
		stranger, _ := e.s.CreateUser(ctx, "stranger@x.io", false)
		p, err := e.s.CreatePool(ctx, "Backyard", owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := e.s.PoolRole(ctx, p.ID, owner.ID); err != nil || r != store.RoleOwner {
			t.Fatalf("owner role = %q, %v", r, err)
		}
		if _, err := e.s.PoolRole(ctx, p.ID, stranger.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("stranger role: %v", err)
		}
		if _, err := e.s.PoolRole(ctx, 987654, owner.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing pool role: %v", err)
		}
		if prev, err := e.s.SetPoolMember(ctx, p.ID, bob.ID, store.RoleViewer); err != nil || prev != "" {
			t.Fatalf("add bob: %q, %v", prev, err)
		}
		if prev, err := e.s.SetPoolMember(ctx, p.ID, bob.ID, store.RoleEditor); err != nil || prev != store.RoleViewer {
			t.Fatalf("promote bob: %q, %v", prev, err)
		}
		if _, err := e.s.SetPoolMember(ctx, p.ID, bob.ID, "admin"); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("bad role: %v", err)
		}
		if _, err := e.s.SetPoolMember(ctx, p.ID, owner.ID, store.RoleViewer); !errors.Is(err, store.ErrLastOwner) {
			t.Fatalf("demote last owner: %v", err)
		}
		if _, err := e.s.RemovePoolMember(ctx, p.ID, owner.ID); !errors.Is(err, store.ErrLastOwner) {
			t.Fatalf("remove last owner: %v", err)
		}
		if r, _ := e.s.PoolRole(ctx, p.ID, owner.ID); r != store.RoleOwner {
			t.Fatal("a refused change was applied anyway")
		}
		if _, err := e.s.SetPoolMember(ctx, p.ID, 777777, store.RoleViewer); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown user: %v", err)
		}
		ms, err := e.s.ListPoolMembers(ctx, p.ID)
		if err != nil || len(ms) != 2 {
			t.Fatalf("members = %+v, %v", ms, err)
		}
		if prev, err := e.s.RemovePoolMember(ctx, p.ID, bob.ID); err != nil || prev != store.RoleEditor {
			t.Fatalf("remove bob: %q %v", prev, err)
		}
		if _, err := e.s.RemovePoolMember(ctx, p.ID, bob.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("remove non-member: %v", err)
		}
		ps, err := e.s.ListPoolsForUser(ctx, owner.ID, 0, 10)
		if err != nil || len(ps) != 1 || ps[0].Role != store.RoleOwner || ps[0].Name != "Backyard" {
			t.Fatalf("pools = %+v, %v", ps, err)
		}
		if !store.RoleOwner.AtLeast(store.RoleEditor) || store.RoleViewer.AtLeast(store.RoleEditor) || store.Role("x").AtLeast(store.RoleViewer) {
			t.Fatal("role order is wrong")
		}
		eq, err := e.s.CreateEquipment(ctx, p.ID, "chlorinator", "salt cell", store.RawJSON(`{"target_orp":700}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.s.UpdateEquipmentConfig(ctx, eq.ID, store.RawJSON(`{"target_orp":720}`)); err != nil {
			t.Fatal(err)
		}
		es, err := e.s.ListEquipment(ctx, p.ID)
		if err != nil || len(es) != 1 || !strings.Contains(string(es[0].Config), "720") {
			t.Fatalf("equipment = %+v, %v", es, err)
		}
	})
}

func TestAccountCredentialsEncrypted(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u, _ := e.s.CreateUser(ctx, "carol@x.io", false)
		secret := "very-secret-refresh-token-1234567890"
		a, created, err := e.s.UpsertAccount(ctx, store.NewAccount{
			UserID: u.ID, Provider: "ondilo", ExternalAccountID: "42", DisplayName: "Carol",
			Credentials: map[string]string{"refresh_token": secret},
		})
		if err != nil || !created {
			t.Fatalf("upsert: %v created=%v", err, created)
		}
		if a.Status != store.AccountActive || a.CredentialsKeyID != e.ring.CurrentKeyID() {
			t.Fatalf("account = %+v", a)
		}
		var raw struct {
			CT    []byte `db:"credentials_ciphertext"`
			KeyID string `db:"credentials_key_id"`
		}
		if err := e.s.DB().GetContext(ctx, &raw, e.s.DB().Rebind(
			"SELECT credentials_ciphertext, credentials_key_id FROM integration_accounts WHERE id = ?"), a.ID); err != nil {
			t.Fatal(err)
		}
		if len(raw.CT) == 0 || bytes.Contains(raw.CT, []byte(secret)) || bytes.Contains(raw.CT, []byte("refresh_token")) {
			t.Fatalf("ciphertext in the database contains the plaintext: %q", raw.CT)
		}
		if raw.KeyID != e.ring.CurrentKeyID() {
			t.Fatalf("key id column = %q", raw.KeyID)
		}
		creds, err := e.s.AccountCredentials(ctx, a.ID)
		if err != nil || creds["refresh_token"] != secret {
			t.Fatalf("credentials = %v, %v", creds, err)
		}

		// Wrong key: an unknown id, and the right id with wrong material. Both loud.
		otherKey, _ := credentials.GenerateKey()
		unknown, _ := credentials.NewKeyring(otherKey)
		sameID, _ := credentials.NewKeyringWithIDs(credentials.Key{ID: e.ring.CurrentKeyID(), Bytes: otherKey})
		for name, ring := range map[string]*credentials.Keyring{"unknown key": unknown, "wrong material": sameID} {
			other := e.open(t, store.WithCipher(ring))
			got, err := other.AccountCredentials(ctx, a.ID)
			if err == nil || got != nil {
				t.Fatalf("%s: decrypted with the wrong key: %v %v", name, got, err)
			}
			if !errors.Is(err, credentials.ErrUnknownKey) && !errors.Is(err, credentials.ErrDecrypt) {
				t.Fatalf("%s: err = %v", name, err)
			}
		}
		noCipher, err := store.Open(ctx, e.url)
		if err != nil {
			t.Fatal(err)
		}
		defer noCipher.Close()
		if _, err := noCipher.AccountCredentials(ctx, a.ID); !errors.Is(err, store.ErrNoCipher) {
			t.Fatalf("no cipher: %v", err)
		}

		// A ciphertext moved onto another account does not open (bound by aad).
		a2, _, err := e.s.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: "ondilo", ExternalAccountID: "43",
			Credentials: map[string]string{"refresh_token": "other"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.DB().ExecContext(ctx, e.s.DB().Rebind(
			"UPDATE integration_accounts SET credentials_ciphertext = ? WHERE id = ?"), raw.CT, a2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.AccountCredentials(ctx, a2.ID); !errors.Is(err, credentials.ErrDecrypt) {
			t.Fatalf("swapped ciphertext: %v", err)
		}

		// Refresh, reauth, relink.
		if err := e.s.UpdateAccountCredentials(ctx, a.ID, map[string]string{"refresh_token": "new"}); err != nil {
			t.Fatal(err)
		}
		if c, _ := e.s.AccountCredentials(ctx, a.ID); c["refresh_token"] != "new" {
			t.Fatalf("after refresh: %v", c)
		}
		if err := e.s.SetAccountStatus(ctx, a.ID, store.AccountReauthRequired); err != nil {
			t.Fatal(err)
		}
		again, created, err := e.s.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: "ondilo", ExternalAccountID: "42",
			DisplayName: "Carol 2", Credentials: map[string]string{"refresh_token": "relinked"}})
		if err != nil || created || again.ID != a.ID || again.Status != store.AccountActive || again.DisplayName != "Carol 2" {
			t.Fatalf("relink: %+v created=%v %v", again, created, err)
		}
		list, err := e.s.ListAccounts(ctx, u.ID)
		if err != nil || len(list) != 2 {
			t.Fatalf("list = %d, %v", len(list), err)
		}
		if err := e.s.SetAccountStatus(ctx, a2.ID, store.AccountReauthRequired); err != nil {
			t.Fatal(err)
		}
		if pa, err := e.s.ListProviderAccounts(ctx, "ondilo", store.AccountActive); err != nil || len(pa) != 1 || pa[0].ID != a.ID {
			t.Fatalf("active ondilo accounts = %+v, %v", pa, err)
		}
		if pa, _ := e.s.ListProviderAccounts(ctx, "ondilo", ""); len(pa) != 2 {
			t.Fatalf("all ondilo accounts = %d", len(pa))
		}
		if pa, _ := e.s.ListProviderAccounts(ctx, "iopool", ""); len(pa) != 0 {
			t.Fatalf("iopool accounts = %d", len(pa))
		}
		if _, err := e.s.GetUserAccount(ctx, u.ID+1000, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("foreign account: %v", err)
		}

		// Rotation: a new current key, the old one kept; rewrap moves every row.
		newKey, _ := credentials.GenerateKey()
		rotated, err := credentials.NewKeyring(newKey, e.key)
		if err != nil {
			t.Fatal(err)
		}
		rs := e.open(t, store.WithCipher(rotated))
		if c, err := rs.AccountCredentials(ctx, a.ID); err != nil || c["refresh_token"] != "relinked" {
			t.Fatalf("old ciphertext with rotated ring: %v %v", c, err)
		}
		// a2 holds a ciphertext that cannot open (swapped above); fix it first.
		if err := rs.UpdateAccountCredentials(ctx, a2.ID, map[string]string{"refresh_token": "other"}); err != nil {
			t.Fatal(err)
		}
		n, err := rs.RewrapCredentials(ctx, rotated.CurrentKeyID())
		if err != nil || n != 1 {
			t.Fatalf("rewrap = %d, %v", n, err)
		}
		newOnly, _ := credentials.NewKeyring(newKey)
		if c, err := e.open(t, store.WithCipher(newOnly)).AccountCredentials(ctx, a.ID); err != nil || c["refresh_token"] != "relinked" {
			t.Fatalf("after rewrap, new key alone: %v %v", c, err)
		}
	})
}

func TestDisconnectKeepsReadings(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "dave@x.io")
		if _, err := e.s.InsertReadings(ctx, []store.Reading{{DeviceID: f.device.ID, PoolID: f.pool.ID, Metric: "ph", Value: 7.2,
			RecordedAt: e.clock.Now()}}); err != nil {
			t.Fatal(err)
		}
		if err := e.s.EnsurePollState(ctx, f.account.ID, "acme", e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		res, err := e.s.DisconnectAccount(ctx, f.account.ID)
		if err != nil {
			t.Fatal(err)
		}
		if res.UnlinkedDevices != 1 || res.Account.Status != store.AccountDisconnected || res.Account.DisconnectedAt == nil ||
			res.Account.CredentialsKeyID != "" {
			t.Fatalf("disconnect = %+v", res)
		}
		if _, err := e.s.AccountCredentials(ctx, f.account.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("credentials after disconnect: %v", err)
		}
		var ct []byte
		if err := e.s.DB().GetContext(ctx, &ct, e.s.DB().Rebind("SELECT credentials_ciphertext FROM integration_accounts WHERE id = ?"), f.account.ID); err != nil || ct != nil {
			t.Fatalf("ciphertext not erased: %v %v", ct, err)
		}
		d, err := e.s.GetDevice(ctx, f.device.ID)
		if err != nil || d.PoolID != 0 || d.AccountStatus != store.AccountDisconnected {
			t.Fatalf("device after disconnect = %+v, %v", d, err)
		}
		if n, err := e.s.CountReadings(ctx, f.pool.ID); err != nil || n != 1 {
			t.Fatalf("readings after disconnect = %d, %v", n, err)
		}
		if _, err := e.s.GetPollState(ctx, f.account.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("poll state survived disconnect: %v", err)
		}
		// A late token refresh must not bring erased credentials back.
		if err := e.s.UpdateAccountCredentials(ctx, f.account.ID, map[string]string{"a": "b"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("refresh after disconnect: %v", err)
		}
		if err := e.s.SetAccountStatus(ctx, f.account.ID, store.AccountActive); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("reactivate disconnected: %v", err)
		}
	})
}

func TestOAuthStateSingleUseAndExpiry(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u, _ := e.s.CreateUser(ctx, "erin@x.io", false)
		value, st, err := e.s.CreateOAuthState(ctx, u.ID, 0, "ondilo", "http://host/cb", 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(value) < 40 || st.UserID != u.ID || !st.ExpiresAt.Equal(e.clock.Now().Add(10*time.Minute)) {
			t.Fatalf("state %q %+v", value, st)
		}
		var n int
		if err := e.s.DB().GetContext(ctx, &n, e.s.DB().Rebind("SELECT COUNT(*) FROM integration_oauth_states WHERE state_hash = ?"), value); err != nil || n != 0 {
			t.Fatalf("state stored in clear: %d %v", n, err)
		}
		got, err := e.s.ConsumeOAuthState(ctx, value)
		if err != nil || got.ID != st.ID || got.UsedAt == nil || got.Provider != "ondilo" || got.RedirectURI != "http://host/cb" {
			t.Fatalf("consume = %+v, %v", got, err)
		}
		if _, err := e.s.ConsumeOAuthState(ctx, value); !errors.Is(err, store.ErrOAuthStateUsed) {
			t.Fatalf("replay: %v", err)
		}
		if _, err := e.s.ConsumeOAuthState(ctx, "unknown"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
		expiring, _, _ := e.s.CreateOAuthState(ctx, u.ID, 0, "ondilo", "http://host/cb", time.Minute)
		e.clock.Advance(time.Minute)
		if _, err := e.s.ConsumeOAuthState(ctx, expiring); !errors.Is(err, store.ErrOAuthStateExpired) {
			t.Fatalf("expired: %v", err)
		}
		if n, err := e.s.PurgeOAuthStates(ctx, e.clock.Now().Add(time.Second)); err != nil || n != 1 {
			t.Fatalf("purge = %d, %v", n, err)
		}

		// Concurrent callbacks with one state: exactly one wins.
		race, _, _ := e.s.CreateOAuthState(ctx, u.ID, 0, "ondilo", "http://host/cb", time.Hour)
		stores := []*store.Store{e.s, e.open(t), e.open(t), e.open(t)}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, used := 0, 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(s *store.Store) {
				defer wg.Done()
				_, err := s.ConsumeOAuthState(ctx, race)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, store.ErrOAuthStateUsed):
					used++
				default:
					t.Errorf("concurrent consume: %v", err)
				}
			}(stores[i%len(stores)])
		}
		wg.Wait()
		if wins != 1 || used != 7 {
			t.Fatalf("wins=%d used=%d, want 1 and 7", wins, used)
		}
	})
}

func TestDevicesAndLinks(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		f := newFixture(t, e, "fay@x.io")
		g := newFixture(t, e, "gus@x.io")
		ups, err := e.s.UpsertDevices(ctx, f.account.ID, []store.NewDevice{
			{ProviderDeviceID: "dev-fay@x.io", Name: "renamed", Metadata: map[string]string{"fw": "2"}},
			{ProviderDeviceID: "second", Model: "ICO"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if ups[0].Created || !ups[1].Created || ups[0].Name != "renamed" || ups[0].Metadata["fw"] != "2" || ups[1].Provider != "acme" {
			t.Fatalf("upsert = %+v", ups)
		}
		if ups[0].PoolID != f.pool.ID || ups[0].OwnerID != f.user.ID {
			t.Fatalf("rediscovery changed the link or owner: %+v", ups[0])
		}
		ds, err := e.s.ListDevices(ctx, f.account.ID)
		if err != nil || len(ds) != 2 {
			t.Fatalf("list = %d %v", len(ds), err)
		}
		if d, err := e.s.GetDeviceByProviderID(ctx, f.account.ID, "second"); err != nil || d.ID != ups[1].ID {
			t.Fatalf("by provider id: %+v %v", d, err)
		}
		// g's account also sees a device called "second": lookups keep them apart.
		if _, err := e.s.UpsertDevices(ctx, g.account.ID, []store.NewDevice{{ProviderDeviceID: "second"}}); err != nil {
			t.Fatal(err)
		}
		all, err := e.s.LookupDevices(ctx, store.DeviceLookup{Provider: "acme", ProviderDeviceIDs: []string{"second", "nope", "dev-fay@x.io"}})
		if err != nil || len(all) != 3 {
			t.Fatalf("provider-wide lookup = %+v, %v", all, err)
		}
		mine, err := e.s.LookupDevices(ctx, store.DeviceLookup{Provider: "acme", AccountID: f.account.ID, ProviderDeviceIDs: []string{"second"}})
		if err != nil || len(mine) != 1 || mine[0].AccountID != f.account.ID {
			t.Fatalf("account lookup = %+v, %v", mine, err)
		}
		if other, _ := e.s.LookupDevices(ctx, store.DeviceLookup{Provider: "other", ProviderDeviceIDs: []string{"second"}}); len(other) != 0 {
			t.Fatalf("another provider's lookup matched %+v", other)
		}
		// The same (prepared, on PostgreSQL) lookup inside a transaction, which sees its
		// own uncommitted device.
		err = e.s.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.UpsertDevices(ctx, g.account.ID, []store.NewDevice{{ProviderDeviceID: "third"}}); err != nil {
				return err
			}
			for range 2 {
				got, err := tx.LookupDevices(ctx, store.DeviceLookup{Provider: "acme", ProviderDeviceIDs: []string{"second", "third"}})
				if err != nil || len(got) != 3 {
					return fmt.Errorf("lookup in a transaction = %+v, %v", got, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		prev, err := e.s.LinkDevice(ctx, ups[1].ID, f.pool.ID, f.user.ID)
		if err != nil || prev != 0 {
			t.Fatalf("link: %d %v", prev, err)
		}
		p2, _ := e.s.CreatePool(ctx, "spa", f.user.ID)
		if prev, err := e.s.LinkDevice(ctx, ups[1].ID, p2.ID, f.user.ID); err != nil || prev != f.pool.ID {
			t.Fatalf("move: %d %v", prev, err)
		}
		if pd, _ := e.s.ListPoolDevices(ctx, p2.ID); len(pd) != 1 || pd[0].ID != ups[1].ID {
			t.Fatalf("pool devices = %+v", pd)
		}
		if _, err := e.s.LinkDevice(ctx, ups[1].ID, 99999, f.user.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("link to missing pool: %v", err)
		}
		// An unlink names the link it was authorized for: one read before the device
		// moved to p2 removes nothing.
		if err := e.s.UnlinkDevice(ctx, ups[1].ID, f.pool.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unlink from the pool it left: %v", err)
		}
		if pd, _ := e.s.ListPoolDevices(ctx, p2.ID); len(pd) != 1 || pd[0].ID != ups[1].ID {
			t.Fatalf("an unlink from the old pool removed the new link: %+v", pd)
		}
		if err := e.s.UnlinkDevice(ctx, ups[1].ID, p2.ID); err != nil {
			t.Fatalf("unlink: %v", err)
		}
		if err := e.s.UnlinkDevice(ctx, ups[1].ID, p2.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unlink twice: %v", err)
		}
	})
}

func TestAudit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for i := 0; i < 5; i++ {
			if _, err := e.s.AppendAudit(ctx, store.AuditEvent{Action: "webhook.received", Actor: store.ProviderActor("acme"),
				Provider: "acme", RequestID: "r", Details: store.Details{"n": i}}); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Second)
		}
		ev, err := e.s.AppendAudit(ctx, store.AuditEvent{Action: "integration.connected", Actor: store.UserActor(7),
			Provider: "ondilo", TargetType: "account", TargetID: "3"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.AppendAudit(ctx, store.AuditEvent{Action: "x"}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("audit without actor: %v", err)
		}
		all, err := e.s.ListAudit(ctx, store.AuditFilter{})
		if err != nil || len(all) != 6 || all[0].ID != ev.ID {
			t.Fatalf("all = %d %v", len(all), err)
		}
		if all[5].Details["n"] != float64(0) {
			t.Fatalf("details = %v", all[5].Details)
		}
		tests := []struct {
			name string
			f    store.AuditFilter
			want int
		}{
			{"action", store.AuditFilter{Action: "webhook.received"}, 5},
			{"provider", store.AuditFilter{Provider: "ondilo"}, 1},
			{"actor", store.AuditFilter{Actor: store.UserActor(7)}, 1},
			{"since", store.AuditFilter{Since: e.clock.Now().Add(-2 * time.Second)}, 3},
			{"page", store.AuditFilter{Limit: 2}, 2},
			{"after page", store.AuditFilter{BeforeID: all[1].ID}, 4},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := e.s.ListAudit(ctx, tt.f)
				if err != nil || len(got) != tt.want {
					t.Fatalf("got %d, %v; want %d", len(got), err, tt.want)
				}
			})
		}
	})
}

// TestNULInTextIsInvalid: a value PostgreSQL cannot hold in text (a NUL) is the
// caller's mistake, EINVALID (a 400 at the API), wherever it got past the edges' text
// checks, never an unmapped driver error (a 500). SQLite keeps such text.
func TestNULInTextIsInvalid(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		u, err := e.s.CreateUser(ctx, "nul@x.io", false)
		if err != nil {
			t.Fatal(err)
		}
		_, perr := e.s.CreatePool(ctx, "a\x00b", u.ID)
		_, lerr := e.s.ListAudit(ctx, store.AuditFilter{Action: "x\x00", Limit: 1})
		for what, err := range map[string]error{"create pool": perr, "list audit": lerr} {
			if err != nil && host.ErrorCode(err) != host.EINVALID {
				t.Errorf("%s with a NUL: %v (code %q), want EINVALID", what, err, host.ErrorCode(err))
			}
		}
	})
}
