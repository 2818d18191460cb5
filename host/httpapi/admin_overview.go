package httpapi

import (
	"net/http"
	"time"

	"github.com/poolhost/poolhost/host/activity"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/overview"
)

// adminOverview is the console's Overview as JSON, judged by overview.Judge as the page
// is: one judge, so the two never disagree.
func (h *Handler) adminOverview(w http.ResponseWriter, r *http.Request) error {
	var ids []string
	if h.deps.ProviderIDs != nil {
		ids = h.deps.ProviderIDs()
	}
	f, err := overview.Judge(r.Context(), actor(r), h.deps.Activity, h.deps.Connect, ids)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, newOverviewView(f))
	return nil
}

// OverviewView is overview.Facts as the API shows it.
type OverviewView struct {
	Since           time.Time                `json:"since"`
	AllClear        bool                     `json:"allClear"`
	Down            []connect.ProviderStatus `json:"down"`
	DeadWaiting     int64                    `json:"deadWaiting"`
	PollsFailing    int64                    `json:"pollsFailing"`
	CommandsUnknown int64                    `json:"commandsUnknown"`
	CommandsFailed  int64                    `json:"commandsFailed"`
	Replicas        []OverviewReplica        `json:"replicas"`
	Providers       []OverviewProvider       `json:"providers"`
}

// OverviewReplica is a serve process and how it stands now.
type OverviewReplica struct {
	ID         string    `json:"id"`
	Hostname   string    `json:"hostname"`
	Version    string    `json:"version,omitempty"`
	StartedAt  time.Time `json:"startedAt"`
	LastSeenAt time.Time `json:"lastSeenAt"`
	State      string    `json:"state"`
	Problem    string    `json:"problem,omitempty"`
	Trouble    bool      `json:"trouble"`
}

// OverviewProvider is one provider's last day.
type OverviewProvider struct {
	ID          string                  `json:"id"`
	Plugin      *connect.ProviderStatus `json:"plugin,omitempty"` // absent for a provider seen only in the data
	Totals      map[string]int64        `json:"totals"`
	Hours       []OverviewHour          `json:"hours"`
	Dropped     []OverviewDropped       `json:"dropped"`
	Polls       OverviewPolls           `json:"polls"`
	DeadWaiting int64                   `json:"deadWaiting"`
}

// OverviewHour is one hour of a provider's deliveries by outcome.
type OverviewHour struct {
	Start  time.Time        `json:"start"`
	Counts map[string]int64 `json:"counts"`
}

// OverviewDropped counts the readings dropped for one reason.
type OverviewDropped struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// OverviewPolls is a provider's polling.
type OverviewPolls struct {
	Accounts int64 `json:"accounts"`
	Polled   int64 `json:"polled"`
	Failing  int64 `json:"failing"`
}

func newOverviewView(f overview.Facts) OverviewView {
	v := OverviewView{Since: f.Since, AllClear: f.AllClear, Down: nonNil(f.Down), DeadWaiting: f.DeadWaiting,
		PollsFailing: f.PollsFailing, CommandsUnknown: f.CommandsUnknown, CommandsFailed: f.CommandsFailed,
		Replicas: []OverviewReplica{}, Providers: []OverviewProvider{}}
	for _, r := range f.Replicas {
		v.Replicas = append(v.Replicas, OverviewReplica{ID: r.ID, Hostname: r.Hostname, Version: r.Version,
			StartedAt: r.StartedAt, LastSeenAt: r.LastSeenAt, State: r.State, Problem: r.Problem, Trouble: r.Trouble})
	}
	plugins := map[string]*connect.ProviderStatus{}
	for i, p := range f.Plugins {
		plugins[p.ID] = &f.Plugins[i]
	}
	for _, p := range f.Overview.Providers {
		v.Providers = append(v.Providers, newOverviewProvider(p, plugins[p.ID]))
	}
	return v
}

func newOverviewProvider(p activity.Provider, plugin *connect.ProviderStatus) OverviewProvider {
	out := OverviewProvider{ID: p.ID, Plugin: plugin, Totals: map[string]int64{}, Hours: []OverviewHour{}, Dropped: []OverviewDropped{},
		Polls: OverviewPolls{Accounts: p.Polls.Accounts, Polled: p.Polls.Polled, Failing: p.Polls.Failing}, DeadWaiting: p.DeadWaiting}
	// Every outcome is named, zero or not, as the console's totals are.
	for _, o := range activity.Outcomes {
		out.Totals[o] = p.Totals[o]
	}
	for _, h := range p.Hours {
		out.Hours = append(out.Hours, OverviewHour{Start: h.Start, Counts: h.Counts})
	}
	for _, d := range p.Dropped {
		out.Dropped = append(out.Dropped, OverviewDropped{Reason: d.Reason, Count: d.Count})
	}
	return out
}
