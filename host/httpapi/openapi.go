package httpapi

import (
	_ "embed"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/gorilla/mux"
)

// Spec is the OpenAPI 3 document of the API, served at /openapi.yaml.
//
//go:embed openapi.yaml
var Spec []byte

func serveSpec(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(Spec)
}

// SpecOperations lists the "METHOD /path" operations of openapi.yaml, grouped by the
// x-poolhost-group of their path item ("" for the built-in API). The reader relies on the
// file's layout (two-space indentation, paths under "paths:"), which CheckSpec's own test
// pins; it is not a general YAML parser.
func SpecOperations() (map[string][]string, error) {
	s, err := readSpec()
	if err != nil {
		return nil, err
	}
	return s.ops, nil
}

// QueryParams is what one operation of openapi.yaml accepts in its query string: the
// names of its "in: query" parameters, or any parameter at all when the operation says
// "x-poolhost-open-query: true" (the OAuth callback, where the provider chooses them).
type QueryParams struct {
	Names []string
	Open  bool
}

// SpecQueryParams maps each "METHOD /path" operation of openapi.yaml to the query
// parameters it declares. The router refuses any other (checkQuery), so the document is
// the one place that decides what a route accepts. Like SpecOperations it reads the
// file's layout, not general YAML: parameters are flow mappings starting
// "{name: x, in: y" or "{$ref: "#/components/parameters/x"}", listed at the operation
// (path-item parameters are refused); a test holds the result against kin-openapi's
// reading of the same document.
func SpecQueryParams() (map[string]QueryParams, error) {
	s, err := readSpec()
	if err != nil {
		return nil, err
	}
	return s.query, nil
}

type specIndex struct {
	ops   map[string][]string    // group → sorted "METHOD /path"
	query map[string]QueryParams // "METHOD /path" → its query parameters
}

var readSpec = sync.OnceValues(func() (specIndex, error) { return parseSpec(Spec) })

var (
	specRef    = regexp.MustCompile(`\{\$ref: "#/components/parameters/([A-Za-z0-9_]+)"\}`)
	specInline = regexp.MustCompile(`\{name: ([A-Za-z0-9_-]+), in: ([a-z]+)\b`)
)

// specParam is one parameter as written: inline (name, in) or a reference.
type specParam struct{ name, in, ref string }

func lineParams(text string) []specParam {
	var out []specParam
	for _, m := range specRef.FindAllStringSubmatch(text, -1) {
		out = append(out, specParam{ref: m[1]})
	}
	for _, m := range specInline.FindAllStringSubmatch(text, -1) {
		out = append(out, specParam{name: m[1], in: m[2]})
	}
	return out
}

func parseSpec(doc []byte) (specIndex, error) {
	idx := specIndex{ops: map[string][]string{}, query: map[string]QueryParams{}}
	section := ""         // the top-level key we are in
	inCompParams := false // under components: parameters:
	path, group := "", "" // the path item we are in
	op := ""              // "METHOD /path" of the operation we are in
	inOpParams := false   // in an operation's block list of parameters
	var pending []string  // operations of the path item, waiting for its group
	params := map[string][]specParam{}
	open := map[string]bool{}
	comps := map[string]specParam{}
	flush := func() {
		for _, o := range pending {
			idx.ops[group] = append(idx.ops[group], o)
		}
		pending, group, op = nil, "", ""
	}
	for i, line := range strings.Split(string(doc), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		text := strings.TrimSpace(line)
		if indent <= 6 {
			inOpParams = false
		}
		if indent == 0 {
			if section == "paths" {
				flush()
			}
			section = strings.TrimSuffix(text, ":")
			continue
		}
		switch section {
		case "components":
			if indent == 2 {
				inCompParams = text == "parameters:"
			} else if indent == 4 && inCompParams {
				key, val, _ := strings.Cut(text, ":")
				ps := lineParams(val)
				if len(ps) != 1 || ps[0].ref != "" {
					return idx, fmt.Errorf("openapi.yaml line %d: expected one {name: …, in: …} parameter", i+1)
				}
				comps[key] = ps[0]
			}
			continue
		case "paths":
		default:
			continue
		}
		key, val, _ := strings.Cut(text, ":")
		val = strings.TrimSpace(val)
		switch indent {
		case 2:
			flush()
			if !strings.HasPrefix(text, "/") || !strings.HasSuffix(text, ":") {
				return idx, fmt.Errorf("openapi.yaml line %d: expected a path under paths:", i+1)
			}
			path = strings.TrimSuffix(text, ":")
		case 4:
			op = ""
			switch key {
			case "get", "put", "post", "delete", "patch", "head", "options":
				op = strings.ToUpper(key) + " " + path
				pending = append(pending, op)
				params[op] = nil
			case "x-poolhost-group":
				group = val
			case "parameters":
				return idx, fmt.Errorf("openapi.yaml line %d: put parameters on each operation, not on the path item", i+1)
			}
		case 6:
			if op == "" {
				continue
			}
			switch key {
			case "parameters":
				params[op] = append(params[op], lineParams(val)...)
				inOpParams = val == ""
			case "x-poolhost-open-query":
				open[op] = val == "true"
			}
		default:
			if inOpParams && strings.HasPrefix(text, "- ") {
				ps := lineParams(text)
				if len(ps) != 1 {
					return idx, fmt.Errorf("openapi.yaml line %d: expected one parameter per list item", i+1)
				}
				params[op] = append(params[op], ps...)
			}
		}
	}
	if section == "paths" {
		flush()
	}
	for g := range idx.ops {
		sort.Strings(idx.ops[g])
	}
	for o, ps := range params {
		q := QueryParams{Open: open[o]}
		for _, p := range ps {
			if p.ref != "" {
				c, ok := comps[p.ref]
				if !ok {
					return idx, fmt.Errorf("openapi.yaml: %s refers to an unknown parameter %q", o, p.ref)
				}
				p = c
			}
			if p.in == "query" {
				q.Names = append(q.Names, p.name)
			}
		}
		sort.Strings(q.Names)
		idx.query[o] = q
	}
	return idx, nil
}

// RoutedOperations lists the "METHOD /path" operations the router answers.
func RoutedOperations(r *mux.Router) ([]string, error) {
	var ops []string
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil // a route without a path: the webhooks' subrouter (webhookPrefix)
		}
		methods, err := route.GetMethods()
		if err != nil {
			return fmt.Errorf("route %s has no methods", tpl)
		}
		for _, m := range methods {
			ops = append(ops, m+" "+tpl)
		}
		return nil
	})
	sort.Strings(ops)
	return ops, err
}

// CheckSpec compares the router with openapi.yaml in both directions and returns one line
// per difference. Spec paths whose x-poolhost-group is not in groups are expected to be
// absent from this router (they are registered by other packages through WithRoutes);
// pass their group names when checking a fully wired handler.
func CheckSpec(r *mux.Router, groups ...string) ([]string, error) {
	spec, err := SpecOperations()
	if err != nil {
		return nil, err
	}
	routed, err := RoutedOperations(r)
	if err != nil {
		return nil, err
	}
	want := slices.Clone(spec[""])
	for _, g := range groups {
		want = append(want, spec[g]...)
	}
	var other []string
	for g, ops := range spec {
		if g != "" && !slices.Contains(groups, g) {
			other = append(other, ops...)
		}
	}
	var diffs []string
	for _, op := range routed {
		if !slices.Contains(want, op) {
			if slices.Contains(other, op) {
				continue // routed by an extension the caller did not ask to check
			}
			diffs = append(diffs, "routed but not in openapi.yaml: "+op)
		}
	}
	for _, op := range want {
		if !slices.Contains(routed, op) {
			diffs = append(diffs, "in openapi.yaml but not routed: "+op)
		}
	}
	return diffs, nil
}
