package console

import (
	"context"
	"net/http"
	"slices"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/commands"
)

// Commands lists write/control commands across pools for operators: *commands.Service.
type Commands interface {
	Recent(ctx context.Context, a auth.Actor, statuses []string, provider string, limit int) ([]commands.Command, error)
}

// commandViews are the Commands page's tabs: recent (every status), unknown (the sends
// whose outcome nobody knows: someone should look at the device) and failed.
var commandViews = map[string][]string{"recent": nil, "unknown": {"unknown"}, "failed": {"failed", "expired"}}

// commandsShown is how many commands the page lists, newest first.
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
	// One more than shown tells whether there are more: the page says so rather than
	// end the list as if it were all.
	list, err := c.d.Commands.Recent(r.Context(), a, statuses, provider, commandsShown+1)
	if err != nil {
		return err
	}
	more := len(list) > commandsShown
	list = list[:min(len(list), commandsShown)]
	// Who requested each command, by email.
	var ids []int64
	for _, cmd := range list {
		if cmd.RequestedBy != 0 && !slices.Contains(ids, cmd.RequestedBy) {
			ids = append(ids, cmd.RequestedBy)
		}
	}
	emails, err := c.d.Sessions.Emails(r.Context(), a, ids)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "commands", view{Title: "Commands", Nav: "commands", Actor: a,
		Data: struct {
			View      string
			Provider  string
			Providers []string
			Commands  []commands.Command
			Emails    map[int64]string
			Shown     int
			More      bool
		}{tab, provider, c.providerChoices(provider), list, emails, commandsShown, more}})
	return nil
}
