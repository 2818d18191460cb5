package pluginmgr

import (
	"maps"

	"github.com/poolhost/poolhost/sdk"
)

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
