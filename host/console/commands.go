package console

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/commands"
)

// Commands lists write/control commands across pools for operators: *commands.Service.
type Commands interface {
	Recent(ctx context.Context, a auth.Actor, q commands.RecentQuery) (commands.RecentPage, error)
}

// commandViews are the Commands page's tabs: recent (every status), unknown (the sends
// whose outcome nobody knows: someone should look at the device) and failed.
var commandViews = map[string][]string{"recent": nil, "unknown": {"unknown"}, "failed": {"failed", "expired"}}

// commandsShown is how many commands a page lists, newest first.
const commandsShown = 100

func (c *Console) commandList(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	if c.d.Commands == nil {
		return host.Errorf(host.EUNAVAILABLE, "commands are not wired in this host")
	}
	q := r.URL.Query()
	tab := q.Get("view")
	if tab == "" {
		tab = "recent"
	}
	statuses, ok := commandViews[tab]
	if !ok {
		return host.Errorf(host.EINVALID, "view must be recent, unknown or failed")
	}
	provider := q.Get("provider")
	if provider != "" && !slices.Contains(c.d.ProviderIDs(), provider) {
		return host.Errorf(host.EINVALID, "no such provider %q", provider)
	}
	before, err := beforeID(q, "a command id")
	if err != nil {
		return err
	}
	page, err := c.d.Commands.Recent(r.Context(), a, commands.RecentQuery{Statuses: statuses, Provider: provider, BeforeID: before, Limit: commandsShown})
	if err != nil {
		return err
	}
	// Who requested each command, by email.
	var ids []int64
	for _, cmd := range page.Commands {
		if cmd.RequestedBy != 0 && !slices.Contains(ids, cmd.RequestedBy) {
			ids = append(ids, cmd.RequestedBy)
		}
	}
	emails, err := c.d.Sessions.Emails(r.Context(), a, ids)
	if err != nil {
		return err
	}
	var next template.URL
	if page.NextBeforeID != 0 {
		// The next page keeps the tab and the provider.
		nq := url.Values{"view": {tab}, "before": {strconv.FormatInt(page.NextBeforeID, 10)}}
		if provider != "" {
			nq.Set("provider", provider)
		}
		next = template.URL("/ui/commands?" + nq.Encode()) // built by url.Values: safe as a URL
	}
	c.render(w, r, http.StatusOK, "commands", view{Title: "Commands", Nav: "commands", Actor: a,
		Data: struct {
			View      string
			Provider  string
			Providers []string
			Commands  []commands.Command
			Emails    map[int64]string
			Older     bool // a page after the first
			Next      template.URL
		}{tab, provider, c.providerChoices(provider), page.Commands, emails, before != 0, next}})
	return nil
}
