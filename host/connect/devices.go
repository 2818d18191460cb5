package connect

// Devices: discovery at the provider, listing, and links to pools.

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/pluginmgr"
	"github.com/poolhost/poolhost/host/pools"
	"github.com/poolhost/poolhost/host/store"
	"github.com/poolhost/poolhost/sdk"
)

// Discover asks the provider for the account's devices, stores them and any refreshed
// credentials (also when the call failed after refreshing them). Credentials the
// provider rejects mark the account reauth_required.
//
// A discovery is linking the account anew (it may add devices, and turn a
// reauth_required account active), so a pilot provider's list applies to it as to
// Connect and Callback: a user the operator took off the list keeps what they linked,
// and may disconnect it, but no longer drives the pilot's plugin with it.
func (s *Service) Discover(ctx context.Context, a auth.Actor, accountID int64) ([]Device, error) {
	acc, err := s.ownedAccount(ctx, a, accountID)
	if err != nil {
		return nil, err
	}
	if err := s.accountProvider(acc.Provider); err != nil {
		return nil, err
	}
	if _, err := s.mayConnect(a, acc.Provider); err != nil {
		return nil, err
	}
	return s.discover(ctx, a, acc)
}

// discover runs a discovery of acc for Discover, or for a reload (reverify).
func (s *Service) discover(ctx context.Context, a auth.Actor, acc store.Account) ([]Device, error) {
	ad, err := s.adapter(acc.Provider)
	if err != nil {
		return nil, err
	}
	// With the generation of the account's connection they belong to: what the plugin
	// refreshes is stored only while no reconnect has replaced it.
	call, err := s.d.Store.AccountCallCredentials(ctx, acc.ID)
	if err != nil {
		return nil, err
	}
	creds := call.Credentials
	res, err := ad.DiscoverDevices(ctx, sdk.DiscoverRequest{Account: sdk.Account{
		ID: id(acc.ID), ExternalAccountID: acc.ExternalAccountID, Credentials: creds,
	}})
	if err != nil {
		// A plugin that refreshed the tokens and then failed hands them back on the
		// error. Store them whatever the error: with rotating refresh tokens the stored
		// pair is already dead, and dropping these would lock the account out.
		if fresh, ok := sdk.RefreshedCredentialsOf(err); ok {
			if serr := s.d.Store.RefreshAccountCredentials(ctx, acc.ID, call.Generation, fresh); serr != nil {
				s.logRefresh("discovery", acc.ID, serr)
			}
		}
		if sdk.IsKind(err, sdk.KindReauth) {
			// Unless the owner reconnected the account meanwhile: the provider
			// rejected the credentials the reconnect replaced, not the new ones.
			serr := s.d.Store.MarkReauthRequired(ctx, acc.ID, call.Generation)
			switch {
			case errors.Is(serr, store.ErrConnectionReplaced):
				s.log.Warn("provider rejected the credentials of a connection replaced during the discovery; the account stays active", "account", acc.ID)
				return nil, host.Wrap(host.ECONFLICT, serr, "the account was reconnected during the discovery; discover its devices again")
			case serr != nil:
				s.log.Error("mark account reauth_required", "account", acc.ID, "error", serr)
			}
		}
		return nil, s.pluginError(acc.Provider, "discover devices", err)
	}
	// Refreshed tokens are stored before anything else: the provider may already have
	// revoked the old ones.
	replaced := false
	if res.RefreshedCredentials != nil {
		err := s.d.Store.RefreshAccountCredentials(ctx, acc.ID, call.Generation, res.RefreshedCredentials)
		switch {
		case errors.Is(err, store.ErrConnectionReplaced):
			// The owner reconnected the account during the call, and the reconnect
			// stored (and subscribed) credentials of its own: these tokens are the
			// replaced connection's. The devices are the account's all the same.
			s.logRefresh("discovery", acc.ID, err)
			replaced = true
		case err != nil:
			return nil, err
		}
	}
	if acc.Status == store.AccountReauthRequired {
		if err := s.d.Store.SetAccountStatus(ctx, acc.ID, store.AccountActive); err != nil {
			return nil, err
		}
	}
	if acc.SubscriptionError != "" && !replaced {
		// The registration failed before: a discovery (the user asking, or a reload)
		// retries it at once, ahead of RetrySubscriptions' schedule, with what is
		// stored after a refresh: the refreshed tokens and the account's own webhook
		// secret, which a plugin answering its tokens alone leaves out of its answer
		// (and which a refresh never changes).
		if res.RefreshedCredentials != nil {
			if creds, err = s.d.Store.AccountCredentials(ctx, acc.ID); err != nil {
				return nil, err
			}
		}
		view, err := s.withWebhookURL(ctx, acc, creds)
		if err != nil {
			return nil, err
		}
		s.subscribe(ctx, ad, &view, creds)
	}
	nds := make([]store.NewDevice, 0, len(res.Devices))
	for _, d := range res.Devices {
		if d.ProviderDeviceID == "" {
			s.log.Warn("plugin reported a device without id; skipped", "provider", acc.Provider)
			continue
		}
		if host.CheckText("device id", d.ProviderDeviceID, false) != nil {
			// No delivery could name it as stored, and a NUL fails the insert on
			// PostgreSQL: left out, like a device without id.
			s.log.Warn("plugin reported a device id with control characters; skipped", "provider", acc.Provider, "device", fmt.Sprintf("%q", d.ProviderDeviceID))
			continue
		}
		var md map[string]string
		if d.Metadata != nil {
			md = make(map[string]string, len(d.Metadata))
			for k, v := range d.Metadata {
				md[cleanName(k)] = cleanName(v)
			}
		}
		nds = append(nds, store.NewDevice{ProviderDeviceID: d.ProviderDeviceID, Name: cleanName(d.Name), Model: cleanName(d.Model), Metadata: md,
			Verified: d.Verified, Suggestion: pools.CleanSuggestion(d.Suggested)})
	}
	ups, err := s.d.Store.UpsertDevices(ctx, acc.ID, nds)
	if errors.Is(err, store.ErrDeviceLimit) {
		// The provider's answer is what breaks the cap, as with the plugins block's.
		return nil, host.Wrap(host.EUPSTREAM, err, "%s: %s; nothing of this discovery was stored", acc.Provider, host.ErrorMessage(store.ErrDeviceLimit)).
			WithType(pluginmgr.TypeAnswerRefused)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(ups))
	for _, u := range ups {
		if u.Created {
			s.d.Audit.Record(ctx, audit.Entry{
				Action: audit.DeviceDiscovered, Actor: a, Provider: acc.Provider, TargetType: "device", TargetID: id(u.ID),
				Details: map[string]any{"accountId": acc.ID, "providerDeviceId": u.ProviderDeviceID},
			})
		}
		out = append(out, deviceOf(u.Device))
	}
	return out, nil
}

// DevicePage is one page of an account's devices; Next, when set, is where the next
// begins.
type DevicePage struct {
	Devices []Device
	Next    *DevicePos
}

// DevicePos is a position in an account's devices: the last device id of a page.
type DevicePos struct {
	AfterID int64 `json:"afterId"`
}

// Device pages: DefaultDevicesPage a page unless the caller asks for up to
// MaxDevicesPage.
const (
	DefaultDevicesPage = 100
	MaxDevicesPage     = 1000
)

// Devices lists a page of the account's known devices, by id: limit of them (0:
// DefaultDevicesPage, at most MaxDevicesPage) after pos (nil: from the first). An
// account holds up to store.MaxDevicesPerAccount devices, each with up to
// max_raw_payload_bytes of the provider's metadata: in one answer, hundreds of
// megabytes.
func (s *Service) Devices(ctx context.Context, a auth.Actor, accountID int64, pos *DevicePos, limit int) (DevicePage, error) {
	acc, err := s.ownedAccount(ctx, a, accountID)
	if err != nil {
		return DevicePage{}, err
	}
	limit = min(cmp.Or(limit, DefaultDevicesPage), MaxDevicesPage)
	after := int64(0)
	if pos != nil {
		after = pos.AfterID
	}
	// One more than the page: whether there is a next one, without a second query.
	ds, err := s.d.Store.ListDevicesAfter(ctx, acc.ID, after, limit+1)
	if err != nil {
		return DevicePage{}, err
	}
	var page DevicePage
	if len(ds) > limit {
		ds = ds[:limit]
		page.Next = &DevicePos{AfterID: ds[limit-1].ID}
	}
	page.Devices = make([]Device, 0, len(ds))
	for _, d := range ds {
		page.Devices = append(page.Devices, deviceOf(d))
	}
	return page, nil
}

// device returns a device, whatever its provider's state, when the actor may know it
// exists: it owns the device's account, or is a member of the pool it is linked to.
// Unlinking works while the provider is disabled (it is the host's own data); linking
// does not (accountProvider).
func (s *Service) device(ctx context.Context, a auth.Actor, deviceID int64) (store.Device, error) {
	if err := requireUser(a); err != nil {
		return store.Device{}, err
	}
	d, err := s.d.Store.GetDevice(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Device{}, host.Errorf(host.ENOTFOUND, "no such device")
	}
	if err != nil {
		return store.Device{}, err
	}
	visible := d.OwnerID == a.UserID
	if !visible && d.PoolID != 0 {
		_, rerr := s.d.Pools.RoleOf(ctx, a, d.PoolID)
		visible = rerr == nil
	}
	if !visible || d.AccountStatus == store.AccountDisconnected && d.OwnerID != a.UserID {
		return store.Device{}, host.Errorf(host.ENOTFOUND, "no such device")
	}
	return d, nil
}

// Link links a device to a pool. It takes both ownership of the device's account and
// the editor role on the pool.
func (s *Service) Link(ctx context.Context, a auth.Actor, deviceID, poolID int64) (Device, error) {
	d, err := s.device(ctx, a, deviceID)
	if err != nil {
		return Device{}, err
	}
	if d.OwnerID != a.UserID {
		return Device{}, host.Errorf(host.EFORBIDDEN, "only the owner of the device's account may link it")
	}
	if d.AccountStatus == store.AccountDisconnected {
		return Device{}, host.Errorf(host.ECONFLICT, "the device's account is disconnected; reconnect it first")
	}
	if err := s.accountProvider(d.Provider); err != nil {
		return Device{}, err
	}
	if poolID <= 0 {
		return Device{}, host.Errorf(host.EINVALID, "poolId is required")
	}
	if _, err := s.d.Pools.Require(ctx, a, poolID, pools.Editor); err != nil {
		return Device{}, err
	}
	prev, err := s.d.Store.LinkDevice(ctx, d.ID, poolID, a.UserID)
	if err != nil {
		return Device{}, err
	}
	if prev != poolID {
		s.d.Audit.Record(ctx, audit.Entry{
			Action: audit.DeviceLinked, Actor: a, Provider: d.Provider, TargetType: "device", TargetID: id(d.ID),
			Details: map[string]any{"poolId": poolID, "previousPoolId": prev},
		})
	}
	// Just authorized above: the caller owns the account and edits the pool.
	d.PoolID, d.LinkActive = poolID, true
	return deviceOf(d), nil
}

// Unlink removes a device's pool link. The device's account owner may, and so may an
// editor of the pool it feeds. poolID, when not 0, must be the current link.
func (s *Service) Unlink(ctx context.Context, a auth.Actor, deviceID, poolID int64) error {
	d, err := s.device(ctx, a, deviceID)
	if err != nil {
		return err
	}
	if d.PoolID == 0 {
		return host.Errorf(host.ENOTFOUND, "the device is not linked to a pool")
	}
	if poolID != 0 && poolID != d.PoolID {
		return host.Errorf(host.ECONFLICT, "the device is linked to another pool")
	}
	if d.OwnerID != a.UserID {
		if _, err := s.d.Pools.Require(ctx, a, d.PoolID, pools.Editor); err != nil {
			return err
		}
	}
	// Only the link just authorized: were the device moved meanwhile (by its owner, to a
	// pool this caller may not edit), deleting whatever link it has would let an editor
	// of the old pool take it from the new one.
	err = s.d.Store.UnlinkDevice(ctx, d.ID, d.PoolID)
	if errors.Is(err, store.ErrNotFound) {
		return host.Errorf(host.ECONFLICT, "the device's pool link changed meanwhile; read the device again")
	}
	if err != nil {
		return err
	}
	s.d.Audit.Record(ctx, audit.Entry{
		Action: audit.DeviceUnlinked, Actor: a, Provider: d.Provider, TargetType: "device", TargetID: id(d.ID),
		Details: map[string]any{"poolId": d.PoolID},
	})
	return nil
}

// logRefresh logs why credentials a plugin refreshed during a call were not stored: the
// account was reconnected meanwhile (they belong to the connection it replaced), or the
// store failed.
func (s *Service) logRefresh(call string, accountID int64, err error) {
	if errors.Is(err, store.ErrConnectionReplaced) {
		s.log.Warn("account reconnected during the call; its refreshed credentials dropped", "call", call, "account", accountID)
		return
	}
	s.log.Error("store refreshed credentials", "call", call, "account", accountID, "error", err)
}
