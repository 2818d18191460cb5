package console

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/activity"
	"github.com/poolhost/poolhost/host/audit"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/host/overview"
	"github.com/poolhost/poolhost/host/store"
)

// ---- sign-in

type signInView struct {
	Next    string
	Message string
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "signin", view{Title: "Sign in", Data: signInView{Next: safeNext(r.URL.Query().Get("next"))}})
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	next := safeNext(r.PostFormValue("next"))
	// Every attempt spends from the client's bucket before the token is looked at, so
	// guessing is as slow here as with wrong tokens on the API.
	client := c.d.Clients.ClientOf(r)
	if wait := c.d.Clients.SpendClient(client); wait > 0 {
		secs := max(int64(math.Ceil(wait.Seconds())), 1)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		c.log.Warn("sign-in rate-limited", "request_id", auth.RequestID(r.Context()), "client", client)
		c.render(w, r, http.StatusTooManyRequests, "signin", view{Title: "Sign in", Data: signInView{Next: next,
			Message: fmt.Sprintf("Too many sign-in attempts from this address; try again in %d seconds.", secs)}})
		return
	}
	s, err := c.d.Sessions.OpenConsoleSession(r.Context(), r.PostFormValue("token"), client, c.ttl)
	if err != nil {
		status := statusOf(err)
		msg := host.ErrorMessage(err)
		switch status {
		case http.StatusUnauthorized:
			msg = "That token is not valid: it is unknown or has been revoked."
		case http.StatusForbidden:
			msg = "That token is not an admin's: the operators' console is for admins only."
		case http.StatusInternalServerError:
			c.log.Error("sign-in failed", "request_id", auth.RequestID(r.Context()), "error", err)
			msg = "Signing in failed on the host; the log has the details."
		}
		c.render(w, r, status, "signin", view{Title: "Sign in", Data: signInView{Next: next, Message: msg}})
		return
	}
	c.setCookie(w, s)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	if ck, err := r.Cookie(CookieName); err == nil {
		if err := c.d.Sessions.CloseConsoleSession(r.Context(), a, ck.Value); err != nil {
			return err
		}
	}
	c.clearCookie(w)
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
	return nil
}

// ---- overview

type overviewView struct {
	overview.Facts
	Providers []overviewProvider
	Outcomes  []string
	Self      string // this replica's id
}

type overviewProvider struct {
	activity.Provider
	Chart  chart
	Plugin *connect.ProviderStatus // nil for a provider seen only in the data
}

// overview renders overview.Judge: what is wrong now is decided there, for this page
// and GET /v1/admin/overview alike.
func (c *Console) overview(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	f, err := overview.Judge(r.Context(), a, c.d.Activity, c.d.Providers, c.d.ProviderIDs())
	if err != nil {
		return err
	}
	v := overviewView{Facts: f, Outcomes: activity.Outcomes, Self: c.d.Replica}
	plugins := map[string]*connect.ProviderStatus{}
	for i, p := range f.Plugins {
		plugins[p.ID] = &f.Plugins[i]
	}
	for _, p := range f.Overview.Providers {
		v.Providers = append(v.Providers, overviewProvider{Provider: p, Chart: newChart(p), Plugin: plugins[p.ID]})
	}
	c.render(w, r, http.StatusOK, "overview", view{Title: "Overview", Nav: "overview", Actor: a, Data: v, Refresh: refreshTo("/ui/")})
	return nil
}

// ---- providers

func (c *Console) providers(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	ps, err := c.d.Providers.ProviderStatuses(r.Context(), a)
	if err != nil {
		return err
	}
	v := view{Title: "Providers", Nav: "providers", Actor: a, Flash: flash(r), Data: ps, Refresh: refreshTo("/ui/providers")}
	if r.URL.Query().Get("done") == "reloaded" {
		v.Flash, v.Warn = reloadBanner(ps)
	}
	c.render(w, r, http.StatusOK, "providers", v)
	return nil
}

// reloadBanner says what a reload left: all well, or which providers are still not
// running or kept their old process, and why (as the reload's audit row does).
func reloadBanner(ps []connect.ProviderStatus) (flash, warn string) {
	notRunning, kept := connect.ReloadTrouble(ps)
	if len(notRunning) == 0 && len(kept) == 0 {
		return "Configuration reloaded: every enabled provider's plugin is running as the config file now says.", ""
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(notRunning)) {
		parts = append(parts, id+" is "+notRunning[id])
	}
	for _, id := range slices.Sorted(maps.Keys(kept)) {
		parts = append(parts, id+" kept its old process: "+kept[id])
	}
	return "", "Configuration reloaded, but not everything runs as it says. " + strings.Join(parts, ". ") + "."
}

func (c *Console) reload(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	if _, err := c.d.Providers.Reload(r.Context(), a); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/providers?done=reloaded", http.StatusSeeOther)
	return nil
}

// ---- dead letters

type failureListView struct {
	Filter    failureFilter
	Providers []string
	Statuses  []string
	Failures  []store.Failure
	Next      template.URL // the next page, "" on the last
}

type failureFilter struct {
	Provider, Status string
	From, To         time.Time
}

func (f failureFilter) query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("provider", f.Provider)
	set("status", f.Status)
	set("from", formatInput(f.From))
	set("to", formatInput(f.To))
	return q
}

func readFilter(q url.Values) (failureFilter, error) {
	f := failureFilter{Provider: q.Get("provider"), Status: q.Get("status")}
	var err error
	if f.From, err = parseInput("from", q.Get("from")); err != nil {
		return f, err
	}
	if f.To, err = parseInput("to", q.Get("to")); err != nil {
		return f, err
	}
	return f, nil
}

func (c *Console) failureList(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	q := r.URL.Query()
	f, err := readFilter(q)
	if err != nil {
		return err
	}
	before, err := beforeID(q, "a failure id")
	if err != nil {
		return err
	}
	list, next, err := c.d.Failures.List(r.Context(), a, failures.Filter{
		Status: f.Status, Provider: f.Provider, From: f.From, To: f.To, BeforeID: before, Limit: 50,
	})
	if err != nil {
		return err
	}
	v := failureListView{Filter: f, Providers: c.providerChoices(f.Provider), Failures: list,
		Statuses: []string{"pending", "processing", "resolved", "dead"}}
	if next != 0 {
		nq := f.query()
		nq.Set("before", strconv.FormatInt(next, 10))
		v.Next = template.URL("/ui/failures?" + nq.Encode()) // built by url.Values: safe as a URL
	}
	c.render(w, r, http.StatusOK, "failures", view{Title: "Dead letters and retries", Nav: "failures", Actor: a, Flash: flash(r), Data: v})
	return nil
}

// providerChoices are the configured providers plus the one a filter names.
func (c *Console) providerChoices(current string) []string {
	ids := slices.Clone(c.d.ProviderIDs())
	if current != "" && !slices.Contains(ids, current) {
		ids = append(ids, current)
	}
	return ids
}

type failureView struct {
	F       store.Failure
	Inspect failures.Inspection
}

func (c *Console) failure(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	f, err := c.d.Failures.Get(r.Context(), a, id)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "failure", view{Title: "Failure " + strconv.FormatInt(id, 10), Nav: "failures", Actor: a,
		Flash: flash(r), Data: failureView{F: f, Inspect: failures.Inspect(f)}})
	return nil
}

// failurePayload downloads the whole payload text the failure page shows only the
// first failures.PreviewBytes of: the same text (failures.InspectAll, redacted alike),
// as an attachment the browser saves rather than renders.
func (c *Console) failurePayload(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	f, err := c.d.Failures.Get(r.Context(), a, id)
	if err != nil {
		return err
	}
	in := failures.InspectAll(f)
	if in.Binary {
		return host.Errorf(host.ENOTFOUND, "the payload of failure %d is binary and is not shown", id)
	}
	ext, ctype := ".txt", "text/plain; charset=utf-8"
	if in.JSON {
		ext, ctype = ".json", "application/json"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="failure-%d%s"`, id, ext))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, in.Payload)
	return nil
}

func (c *Console) requeue(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if _, err := c.d.Failures.Requeue(r.Context(), a, id); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/failures/"+strconv.FormatInt(id, 10)+"?done=requeued", http.StatusSeeOther)
	return nil
}

// discardConfirm is the review step before one dead letter is discarded, as bulk
// actions have: discarding deletes the payload for good.
func (c *Console) discardConfirm(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	f, err := c.d.Failures.Get(r.Context(), a, id)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "discard", view{Title: "Discard failure " + strconv.FormatInt(id, 10), Nav: "failures", Actor: a,
		Data: failureView{F: f}})
	return nil
}

func (c *Console) discard(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	f, err := c.d.Failures.Discard(r.Context(), a, id)
	if err != nil {
		return err
	}
	q := url.Values{"done": {"discarded"}, "id": {strconv.FormatInt(id, 10)}, "provider": {f.Provider}}
	http.Redirect(w, r, "/ui/failures?"+q.Encode(), http.StatusSeeOther)
	return nil
}

type bulkView struct {
	Action    string // requeue | discard
	Filter    failureFilter
	Count     int64
	Providers []string
}

func bulkAction(s string) (string, error) {
	if s != "requeue" && s != "discard" {
		return "", host.Errorf(host.EINVALID, "action must be requeue or discard")
	}
	return s, nil
}

// bulkConfirm shows how many dead letters the bulk action would change, and asks.
func (c *Console) bulkConfirm(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	q := r.URL.Query()
	action, err := bulkAction(q.Get("action"))
	if err != nil {
		return err
	}
	f, err := readFilter(q)
	if err != nil {
		return err
	}
	n, err := c.d.Failures.CountBulk(r.Context(), a, failures.BulkFilter{Provider: f.Provider, From: f.From, To: f.To})
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "bulk", view{Title: "Confirm bulk " + action, Nav: "failures", Actor: a,
		Data: bulkView{Action: action, Filter: f, Count: n}})
	return nil
}

func (c *Console) bulkApply(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		return host.Errorf(host.EINVALID, "the form could not be read")
	}
	action, err := bulkAction(r.PostForm.Get("action"))
	if err != nil {
		return err
	}
	f, err := readFilter(r.PostForm)
	if err != nil {
		return err
	}
	bf := failures.BulkFilter{Provider: f.Provider, From: f.From, To: f.To}
	var ids []int64
	if action == "requeue" {
		ids, err = c.d.Failures.RequeueBulk(r.Context(), a, bf)
	} else {
		ids, err = c.d.Failures.DiscardBulk(r.Context(), a, bf)
	}
	if err != nil {
		return err
	}
	q := url.Values{"done": {action + "-bulk"}, "n": {strconv.Itoa(len(ids))}, "provider": {f.Provider}}
	http.Redirect(w, r, "/ui/failures?"+q.Encode(), http.StatusSeeOther)
	return nil
}

// ---- accounts

func (c *Console) accounts(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	// The list is worst first, so its pages are keyed by a place in that order, not an
	// id: before is the place the previous page ended (store.AttentionCursor's text).
	var after store.AttentionCursor
	if s := r.URL.Query().Get("before"); s != "" {
		var ok bool
		if after, ok = store.ParseAttentionCursor(s); !ok {
			return host.Errorf(host.EINVALID, "before must be where a page of accounts ended, as its Next link gives it (like 1.17.4521)")
		}
	}
	list, nextAt, err := c.d.Activity.NeedingAttention(r.Context(), a, after)
	if err != nil {
		return err
	}
	var next template.URL
	if nextAt != (store.AttentionCursor{}) {
		next = template.URL("/ui/accounts?before=" + nextAt.String())
	}
	// The accounts of providers no longer enabled: still connected, credentials stored,
	// until each owner disconnects (connect.Service.Disconnect works for them).
	provs, err := c.d.Providers.ProviderStatuses(r.Context(), a)
	if err != nil {
		return err
	}
	enabled := make(map[string]bool, len(provs))
	for _, p := range provs {
		enabled[p.ID] = p.Enabled
	}
	orphaned, err := c.d.Activity.Orphaned(r.Context(), a, func(provider string) string {
		on, configured := enabled[provider]
		switch {
		case !configured:
			return connect.ProviderRemoved
		case !on:
			return connect.ProviderDisabled
		}
		return connect.ProviderEnabled
	})
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "accounts", view{Title: "Accounts needing attention", Nav: "accounts", Actor: a,
		Data: struct {
			Accounts  []store.AttentionAccount
			MinErrors int
			Further   bool // a page after the first
			Next      template.URL
			Orphaned  []activity.OrphanedProvider
		}{list, activity.AttentionErrors, after != (store.AttentionCursor{}), next, orphaned}})
	return nil
}

// ---- audit

type auditView struct {
	Action, Provider string
	By               string // people (the default), system or all
	Since            time.Time
	Events           []audit.Event
	Next             template.URL
	Providers        []string
}

// auditBy are the audit trail's views: what people did (users, operators at the host),
// which is what an operator looks for and so the default; what the system did
// (deliveries, workers, the supervisor); or everything.
var auditBy = map[string]string{"people": store.AuditByPeople, "system": store.AuditBySystem, "all": store.AuditByAnyone}

func (c *Console) auditTrail(w http.ResponseWriter, r *http.Request, a auth.Actor) error {
	q := r.URL.Query()
	v := auditView{Action: q.Get("action"), Provider: q.Get("provider"), By: q.Get("by")}
	if v.By == "" {
		v.By = "people"
	}
	by, ok := auditBy[v.By]
	if !ok {
		return host.Errorf(host.EINVALID, "by must be people, system or all")
	}
	var err error
	if v.Since, err = parseInput("since", q.Get("since")); err != nil {
		return err
	}
	before, err := beforeID(q, "an audit event id")
	if err != nil {
		return err
	}
	page, err := c.d.Sessions.Audit(r.Context(), a, audit.Query{Action: v.Action, By: by, Provider: v.Provider, Since: v.Since, BeforeID: before, Limit: 50})
	if err != nil {
		return err
	}
	v.Events, v.Providers = page.Events, c.providerChoices(v.Provider)
	if page.NextBeforeID != 0 {
		nq := url.Values{"before": {strconv.FormatInt(page.NextBeforeID, 10)}, "by": {v.By}}
		for k, s := range map[string]string{"action": v.Action, "provider": v.Provider, "since": formatInput(v.Since)} {
			if s != "" {
				nq.Set(k, s)
			}
		}
		v.Next = template.URL("/ui/audit?" + nq.Encode()) // built by url.Values: safe as a URL
	}
	c.render(w, r, http.StatusOK, "audit", view{Title: "Audit trail", Nav: "audit", Actor: a, Data: v})
	return nil
}

// detail is one line of an audit event's details as the console lists them.
type detail struct{ Key, Value string }

// detailList shows details as key/value lines, keys sorted, values as words rather
// than JSON: operators read them, and a long JSON string wraps mid-word.
func detailList(d map[string]any) []detail {
	out := make([]detail, 0, len(d))
	for _, k := range slices.Sorted(maps.Keys(d)) {
		out = append(out, detail{Key: k, Value: detailValue(d[k])})
	}
	return out
}

// detailValue writes a value plainly: a list as its items joined by commas, an object
// as key=value pairs (nested ones braced), numbers without exponents.
func detailValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case string:
		if x == "" {
			return "—"
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		if len(x) == 0 {
			return "none"
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = nested(e)
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		if len(x) == 0 {
			return "none"
		}
		parts := make([]string, 0, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			parts = append(parts, k+"="+nested(x[k]))
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}

// nested is a value inside a list or an object: braced when it has parts of its own.
func nested(v any) string {
	switch x := v.(type) {
	case []any, map[string]any:
		if s := detailValue(x); s != "none" {
			return "{" + s + "}"
		}
		return "none"
	}
	return detailValue(v)
}

// ---- helpers

// beforeID reads a list's "before" parameter, the id its page starts below (keyset
// paging, newest first): 0 when absent, what (e.g. "a failure id") named when invalid.
func beforeID(q url.Values, what string) (int64, error) {
	s := q.Get("before")
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, host.Errorf(host.EINVALID, "before must be %s", what)
	}
	return id, nil
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, host.Errorf(host.EINVALID, "%q is not a failure id", r.PathValue("id"))
	}
	return id, nil
}

// flash is the confirmation after a redirect. Only known codes and numbers are read
// from the query, so a crafted link cannot put words in the console's mouth.
func flash(r *http.Request) string {
	q := r.URL.Query()
	num := func(k string) string {
		n, err := strconv.ParseInt(q.Get(k), 10, 64)
		if err != nil || n < 0 {
			return "?"
		}
		return strconv.FormatInt(n, 10)
	}
	switch q.Get("done") {
	case "reloaded":
		return "Configuration reloaded: the providers below are as the config file now says."
	case "requeued":
		return "Requeued: it is pending with a fresh attempt budget, and the retry worker will pick it up."
	case "discarded":
		return "Failure " + num("id") + " discarded."
	case "requeue-bulk":
		return num("n") + " dead letter(s) requeued."
	case "discard-bulk":
		return num("n") + " dead letter(s) discarded."
	}
	return ""
}

// jsonText shows audit details compactly.
func jsonText(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "{}" || string(b) == "null" {
		return ""
	}
	return string(b)
}
