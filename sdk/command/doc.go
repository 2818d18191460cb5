// Package command is poolhost's write/control vocabulary: the commands a user may send to
// pool equipment through a provider plugin, their parameters, the parameters' types,
// units and plausible ranges, and one [Validate] that the host (before it stores a
// command) and the conformance kit (sdk/sdktest) both call, so a command a plugin
// receives has always passed the same checks.
//
// A plugin receives only validated [Params]: numbers are float64 in the canonical unit
// (a heater target given in °F arrives in °C), booleans are bool, enumerations are one
// of their listed strings, and no parameter the vocabulary does not name is present.
//
// Commands actuate real equipment, so the host sends each at most once: see PLUGINS.md.
//
// This package imports nothing from poolhost beyond sdk/metric, so the root sdk package
// may use it.
package command
