package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/auth"
	"github.com/poolhost/poolhost/host/buildinfo"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

func staticFiles() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	return http.FileServerFS(sub)
}

// pages holds one template set per page: the layout plus that page's "content".
type pages struct{ sets map[string]*template.Template }

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04:05")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04:05")
		case string: // a time kept in JSON (a failure's error history), RFC 3339
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return t.UTC().Format("2006-01-02 15:04:05")
			}
			return v
		}
		return fmt.Sprint(t)
	},
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12] + "…"
		}
		return s
	},
	"join":    strings.Join,
	"dash":    func(s string) string { return map[bool]string{true: "—", false: s}[s == ""] },
	"input":   func(t time.Time) string { return formatInput(t) },
	"json":    jsonText,
	"details": detailList,
	"parts":   breakParts,
	"cls":     func(s string) string { return strings.ReplaceAll(s, " ", "-") }, // "not ready" as one class name
}

// breakParts splits an action or an email after each '.', '@' and '_', for the
// template to put a <wbr> between the parts: a narrow column then breaks
// "provider.reloaded" as "provider." / "reloaded", not in the middle of a word.
func breakParts(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexAny(s, ".@_")
		if i < 0 {
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

func mustParsePages() *pages {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		p.sets[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
	}
	return p
}

// view is what every page template gets.
type view struct {
	Title string
	Nav   string // which nav entry is current
	Actor auth.Actor
	Flash string
	// Warn is a banner for what went wrong although the action was done (a reload
	// that left a provider failed).
	Warn    string
	Version string
	// Refresh, when set, reloads the page every RefreshEvery at this URL: pages an
	// operator leaves open stay current with no script (the CSP allows none).
	Refresh string
	Data    any
}

// RefreshEvery is how often the overview and the providers page reload themselves.
const RefreshEvery = 15 * time.Second

// refreshTo is a meta refresh's content for url.
func refreshTo(url string) string {
	return strconv.Itoa(int(RefreshEvery/time.Second)) + "; url=" + url
}

// render writes a page. It renders into a buffer first so a template error becomes an
// error page rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	v.Version = buildinfo.Read().Version
	var buf bytes.Buffer
	if err := c.pages.sets[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("render page", "page", page, "request_id", auth.RequestID(r.Context()), "error", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorView is what the error page shows: the service's client-safe message, never
// the cause (which may hold SQL or paths; it goes to the log).
type errorView struct {
	Status    int
	Message   string
	RequestID string
	SignIn    bool
}

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	msg := host.ErrorMessage(err)
	if status == http.StatusInternalServerError {
		c.log.Error("console request failed", "path", r.URL.Path, "request_id", auth.RequestID(r.Context()), "error", err)
		msg = "Something went wrong on the host. The log has the details under this request id."
	}
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:] // services speak in lowercase fragments
	}
	a, _ := auth.ActorFrom(r.Context())
	c.render(w, r, status, "error", view{
		Title: http.StatusText(status), Actor: a,
		Data: errorView{Status: status, Message: msg, RequestID: auth.RequestID(r.Context()), SignIn: status == http.StatusUnauthorized},
	})
}

// Times in forms are UTC: datetime-local inputs carry no zone, and operators compare
// them with log lines and audit rows, which are UTC.
var inputLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

func parseInput(field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range inputLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, host.Errorf(host.EINVALID, "%s must be a date and time like 2026-01-31T18:00 (UTC)", field)
}

func formatInput(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04")
}
