package pluginmgr

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/agext/levenshtein"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/sdk"
)

// checkDeclared checks a config block's settings and secrets against what the plugin
// declares (sdk.Description.Settings): every key declared, in the right block, parsing
// as its type, and the required ones present. A plugin that declares nothing is not
// checked: it predates declarations, and its RequiredSettings still apply.
func checkDeclared(d sdk.Description, pc config.Provider) []error {
	if len(d.Settings) == 0 {
		return nil
	}
	byKey := make(map[string]sdk.Option, len(d.Settings))
	var settings, secrets []string
	for _, o := range d.Settings {
		byKey[o.Key] = o
		if o.Secret {
			secrets = append(secrets, o.Key)
		} else {
			settings = append(settings, o.Key)
		}
	}
	var errs []error
	check := func(block string, values map[string]string, secret bool, names []string) {
		for _, k := range slices.Sorted(maps.Keys(values)) {
			o, ok := lookup(byKey, k)
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s key %q is not one the plugin declares%s", block, k, suggest(k, names)))
			case o.Secret != secret && secret:
				errs = append(errs, fmt.Errorf("%q is a setting, not a secret: move it to settings {}", k))
			case o.Secret != secret:
				errs = append(errs, fmt.Errorf("%q is a secret: move it to secrets {} (read from env() or file())", k))
			default:
				if err := o.Check(values[k]); err != nil {
					errs = append(errs, fmt.Errorf("%s %q: %w", block, k, err))
				}
			}
		}
	}
	check("settings", pc.Settings, false, settings)
	check("secrets", pc.Secrets, true, secrets)
	for _, o := range d.Settings {
		if !o.Required || strings.HasSuffix(o.Key, ".*") {
			continue
		}
		if o.Secret && pc.Secrets[o.Key] == "" && pc.Settings[o.Key] == "" {
			errs = append(errs, fmt.Errorf("plugin requires secret %q, missing from config", o.Key))
		}
		if _, ok := pc.Settings[o.Key]; !o.Secret && !ok && o.Default == "" && pc.Secrets[o.Key] == "" {
			errs = append(errs, fmt.Errorf("plugin requires setting %q, missing from config", o.Key))
		}
	}
	return errs
}

// lookup finds the option declaring k: its own, or a "prefix.*" family's.
func lookup(byKey map[string]sdk.Option, k string) (sdk.Option, bool) {
	if o, ok := byKey[k]; ok {
		return o, true
	}
	for i := strings.LastIndexByte(k, '.'); i > 0; i = strings.LastIndexByte(k[:i], '.') {
		if o, ok := byKey[k[:i]+".*"]; ok {
			return o, true
		}
	}
	return sdk.Option{}, false
}

// withDefaults is the settings Configure receives: the config block's, plus the declared
// default of each setting the block leaves out.
func withDefaults(d sdk.Description, settings map[string]string) map[string]string {
	out := settings
	for _, o := range d.Settings {
		if _, ok := settings[o.Key]; ok || o.Secret || o.Default == "" {
			continue
		}
		if len(out) == len(settings) { // first default: copy, never write the config's map
			out = maps.Clone(settings)
			if out == nil {
				out = map[string]string{}
			}
		}
		out[o.Key] = o.Default
	}
	return out
}

// suggest names the declared keys closest to a mistyped one, or lists them all.
func suggest(key string, declared []string) string {
	if len(declared) == 0 {
		return " (it declares none here)"
	}
	best, bestDist := "", len(key)/2+2
	for _, k := range declared {
		if d := levenshtein.Distance(strings.ToLower(key), strings.ToLower(k), nil); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return fmt.Sprintf(" (declared: %s)", strings.Join(slices.Sorted(slices.Values(declared)), ", "))
}
