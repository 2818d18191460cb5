package connect

import (
	"context"
	"fmt"
	"reflect"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/host/store"
)

// reverify runs discovery again, after a reload, for every connected account of each
// provider whose block the reload changed and that takes webhooks, and returns how many
// accounts of each it went through, plus a warning per account that failed.
//
// A device's Verified is what the provider's latest discovery said (store.UpsertDevices),
// and on the provider-level URL it decides who receives (ingest.resolve). Where
// verification comes from the provider's settings — an operator's fleet_devices
// (sdk/declared.Fleet) — a discovery made under the old settings must not outlive them:
// a device taken out of the fleet would keep receiving the fleet's deliveries. So the
// flags are brought up to date before the reload returns. Only webhook providers: for
// the others nothing reads the flag, and their discovery may cost calls upstream.
func (s *Service) reverify(ctx context.Context, a auth.Actor, old, cur *config.Config) (map[string]int, []string) {
	if old == nil || cur == nil {
		return nil, nil
	}
	done := map[string]int{}
	var warnings []string
	for _, p := range cur.WebhookProviders() {
		if was, ok := old.Provider(p.ID); ok && reflect.DeepEqual(was, p) {
			continue
		}
		if _, err := s.adapter(p.ID); err != nil {
			// One warning, not one per account: the plugin did not come up.
			warnings = append(warnings, fmt.Sprintf("provider %s: devices not verified again (%s); they keep their previous verification until their next discovery",
				p.ID, host.ErrorMessage(err)))
			continue
		}
		accs, err := s.d.Store.ListProviderAccounts(ctx, p.ID, "")
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("provider %s: could not list its accounts to verify their devices again: %v", p.ID, err))
			continue
		}
		for _, acc := range accs {
			if acc.Status == store.AccountDisconnected {
				continue
			}
			if _, err := s.discover(ctx, a, acc); err != nil {
				s.log.Warn("reload: discovery to verify devices again failed; the account keeps its devices' previous verification",
					"provider", p.ID, "account", acc.ID, "error", err)
				warnings = append(warnings, fmt.Sprintf("provider %s: account %d: devices not verified again (%s); they keep their previous verification until its next discovery",
					p.ID, acc.ID, host.ErrorMessage(err)))
				continue
			}
			done[p.ID]++
		}
	}
	return done, warnings
}
