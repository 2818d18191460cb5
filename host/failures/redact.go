package failures

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/poolhost/poolhost/host/store"
)

// Redacted is the placeholder shown instead of a secret.
const Redacted = "[redacted]"

// SensitiveName reports whether a header or JSON field name may carry a credential: an
// Authorization or cookie header, or any name mentioning a secret, token, signature,
// key, password, session, credential, bearer or auth. host/webhook keeps such headers
// by name only before storing a payload, and Inspect redacts them (and such JSON
// fields) before an operator sees one.
func SensitiveName(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		return true
	}
	for _, part := range []string{"secret", "token", "signature", "auth", "key", "password", "passwd", "session", "credential", "bearer"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// Header is one stored header as an operator sees it.
type Header struct {
	Name     string
	Values   []string
	Redacted bool
}

// Inspection is a failure's headers and payload fit to show an operator.
type Inspection struct {
	Headers []Header
	// Payload is the body as text: indented JSON with sensitive fields redacted, or the
	// raw text when it is not JSON. Binary bodies are not shown (Binary is set).
	Payload  string
	JSON     bool
	Binary   bool
	Redacted int // how many JSON fields were redacted
	// Truncated says Payload is only the first PreviewBytes of it (Inspect); Size is
	// the whole text's length in bytes, which InspectAll returns.
	Truncated bool
	Size      int
}

// PreviewBytes is how much of a payload a page shows: a megabyte dead letter rendered
// whole made the console page as large. The rest is downloaded (InspectAll).
const PreviewBytes = 64 << 10

// Inspect is InspectAll with the payload cut to its first PreviewBytes (at a character
// boundary), for a page.
func Inspect(f store.Failure) Inspection {
	in := InspectAll(f)
	if len(in.Payload) > PreviewBytes {
		cut := PreviewBytes
		for cut > 0 && !utf8.RuneStart(in.Payload[cut]) {
			cut--
		}
		in.Payload, in.Truncated = in.Payload[:cut], true
	}
	return in
}

// InspectAll returns what an operator may see of a failure: headers sorted by name with
// credential-bearing ones redacted, and the payload with credential-bearing JSON fields
// redacted. Stored payloads never held authenticating headers (host/webhook drops them),
// but a body may still carry a provider's token or key, so both are redacted here: this
// is the one place that decides what the console shows, on its page (Inspect) and as a
// download (the whole text).
func InspectAll(f store.Failure) (in Inspection) {
	defer func() { in.Size = len(in.Payload) }()
	names := make([]string, 0, len(f.Headers))
	for k := range f.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		h := Header{Name: k, Values: f.Headers[k]}
		if SensitiveName(k) || len(h.Values) == 1 && h.Values[0] == Redacted {
			h.Values, h.Redacted = []string{Redacted}, true
		}
		in.Headers = append(in.Headers, h)
	}

	body := bytes.TrimSpace(f.Payload)
	var v any
	if len(body) > 0 && json.Unmarshal(body, &v) == nil {
		v = redactJSON(v, &in.Redacted)
		if out, err := json.MarshalIndent(v, "", "  "); err == nil {
			in.Payload, in.JSON = string(out), true
			return in
		}
	}
	if !utf8.Valid(f.Payload) {
		in.Binary = true
		return in
	}
	// Not JSON, or not JSON the decoder takes: a truncated payload, one with bytes after
	// it, one nested deeper than it goes — the commonest dead letters. Its sensitive
	// values are found by their names all the same.
	in.Payload = redactText(string(f.Payload), &in.Redacted)
	return in
}

var (
	// jsonPair is a JSON-like member: a quoted name, a colon, and its value as far as it
	// goes — a string (perhaps cut off), or anything up to the next separator.
	jsonPair = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\]\s\[{"]+)`)
	// formPair is a form- or query-like name=value.
	formPair = regexp.MustCompile(`(^|[&?;\s])([A-Za-z0-9_.\-]+)=([^&;\s]*)`)
)

// redactText replaces the values of sensitive names (SensitiveName) in text that is not
// JSON: "name": value and name=value pairs.
func redactText(text string, n *int) string {
	text = jsonPair.ReplaceAllStringFunc(text, func(m string) string {
		g := jsonPair.FindStringSubmatch(m)
		if !SensitiveName(g[1]) {
			return m
		}
		*n++
		return `"` + g[1] + `"` + g[2] + `"` + Redacted + `"`
	})
	return formPair.ReplaceAllStringFunc(text, func(m string) string {
		g := formPair.FindStringSubmatch(m)
		if !SensitiveName(g[2]) || g[3] == "" {
			return m
		}
		*n++
		return g[1] + g[2] + "=" + Redacted
	})
}

func redactJSON(v any, n *int) any {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if SensitiveName(k) {
				t[k] = Redacted
				*n++
				continue
			}
			t[k] = redactJSON(child, n)
		}
	case []any:
		for i, child := range t {
			t[i] = redactJSON(child, n)
		}
	}
	return v
}

// ForPlugin is what a retry hands the plugin of a stored payload's headers: the
// credential headers kept by name only (host/webhook.KeptHeaders) are left out, as
// they were never stored. Not only sensitive names: a header a provider's settings name
// (TTN's auth_header) or whose value held a secret is kept by name only too.
func ForPlugin(h store.Headers) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		if len(v) == 1 && v[0] == Redacted {
			continue
		}
		out[k] = v
	}
	return out
}
