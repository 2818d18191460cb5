// Package overview is the operators' one judge of "is anything wrong now": it puts the
// activity of the last day (host/activity) beside the plugins' states (host/connect)
// and decides what needs attention and whether all is clear. The console's Overview
// page renders it and GET /v1/admin/overview serves it, so the two never disagree.
// Admins only (both sources refuse anyone else).
package overview

import (
	"context"

	"github.com/poolhost/poolhost/host/activity"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/connect"
)

// Activity is the last day's activity: *activity.Service.
type Activity interface {
	Overview(ctx context.Context, a auth.Actor, providers []string) (activity.Overview, error)
}

// Providers reports the plugins' states: *connect.Service.
type Providers interface {
	ProviderStatuses(ctx context.Context, a auth.Actor) ([]connect.ProviderStatus, error)
}

// Facts are the activity overview with the judgement made on it.
type Facts struct {
	activity.Overview
	// Plugins are the configured providers' plugin states, as this replica sees them.
	Plugins []connect.ProviderStatus
	// Down are the plugins needing an operator: enabled but not running, or running
	// their previous block (a reload kept the old process, or the config's block could
	// not start).
	Down []connect.ProviderStatus
	// DeadWaiting and PollsFailing are summed over the providers.
	DeadWaiting, PollsFailing int64
	// ReplicasTrouble are the replicas not ready, degraded or gone.
	ReplicasTrouble []activity.Replica
	// AllClear: nothing above, and no command failed or went unknown in the window.
	AllClear bool
}

// Judge reads both sources for actor a and judges them. providerIDs are the configured
// providers, shown even when quiet.
func Judge(ctx context.Context, a auth.Actor, act Activity, prov Providers, providerIDs []string) (Facts, error) {
	ov, err := act.Overview(ctx, a, providerIDs)
	if err != nil {
		return Facts{}, err
	}
	ps, err := prov.ProviderStatuses(ctx, a)
	if err != nil {
		return Facts{}, err
	}
	f := Facts{Overview: ov, Plugins: ps}
	for _, r := range ov.Replicas {
		if r.Trouble {
			f.ReplicasTrouble = append(f.ReplicasTrouble, r)
		}
	}
	for _, p := range ps {
		if pluginDown(p) {
			f.Down = append(f.Down, p)
		}
	}
	for _, p := range ov.Providers {
		f.DeadWaiting += p.DeadWaiting
		f.PollsFailing += p.Polls.Failing
	}
	f.AllClear = len(f.Down) == 0 && f.DeadWaiting == 0 && f.PollsFailing == 0 &&
		f.CommandsUnknown == 0 && f.CommandsFailed == 0 && len(f.ReplicasTrouble) == 0
	return f, nil
}

// pluginDown says whether a provider's plugin needs an operator.
func pluginDown(p connect.ProviderStatus) bool {
	return p.Enabled && p.State != "running" || p.ReloadWarning != "" || p.PendingConfigRefused != ""
}
