package httpapi

import (
	_ "embed"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

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
	ops := map[string][]string{}
	inPaths := false
	path, group := "", ""
	var pending []string
	flush := func() {
		for _, m := range pending {
			ops[group] = append(ops[group], m+" "+path)
		}
		pending, group = nil, ""
	}
	for i, line := range strings.Split(string(Spec), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		text := strings.TrimSpace(line)
		if indent == 0 {
			if inPaths {
				flush()
			}
			inPaths = text == "paths:"
			continue
		}
		if !inPaths {
			continue
		}
		switch indent {
		case 2:
			flush()
			if !strings.HasPrefix(text, "/") || !strings.HasSuffix(text, ":") {
				return nil, fmt.Errorf("openapi.yaml line %d: expected a path under paths:", i+1)
			}
			path = strings.TrimSuffix(text, ":")
		case 4:
			key, val, _ := strings.Cut(text, ":")
			switch key {
			case "get", "put", "post", "delete", "patch", "head", "options":
				pending = append(pending, strings.ToUpper(key))
			case "x-poolhost-group":
				group = strings.TrimSpace(val)
			}
		}
	}
	if inPaths {
		flush()
	}
	for g := range ops {
		sort.Strings(ops[g])
	}
	return ops, nil
}

// RoutedOperations lists the "METHOD /path" operations the router answers.
func RoutedOperations(r *mux.Router) ([]string, error) {
	var ops []string
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil // a route without a path (none today)
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
