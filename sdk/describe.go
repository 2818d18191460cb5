package sdk

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// What the host refuses in a plugin's Description, and in a config block against it. The
// host (used by the host: when it starts a plugin, and in `poolhost plugins check`) and
// the conformance kit (sdktest, `poolhost plugins test`) both call these, so the kit
// names exactly what the host would refuse, in the host's words.

var (
	// idRE is a provider id: what a config block's provider label may be.
	idRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	// headerRE is an HTTP header name (an RFC 9110 token).
	headerRE = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_|~-]+$")
	// optionKeyRE is a declared key: a name HCL maps take without quoting, and a trailing
	// ".*" for a family.
	optionKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(\.\*)?$`)
)

// Check reports what makes d a description the host refuses whatever its config block
// says: an id that is not a provider id, an empty version, a protocol version other than
// ProtocolVersion, an unknown connect kind, write capability (Write or Commands) with
// connect kind none (no accounts, so no devices a command could go to), a negative
// MinPollInterval, a signature header that is not a header name. Each problem is one
// line of the joined error.
func (d Description) Check() error {
	var errs []error
	if !idRE.MatchString(d.ID) {
		errs = append(errs, fmt.Errorf("id %q is not a provider id (%s)", d.ID, idRE))
	}
	if d.Version == "" {
		errs = append(errs, errors.New("version is empty: set Description.Version to the plugin's own (semver) version"))
	}
	if d.ProtocolVersion != ProtocolVersion {
		errs = append(errs, fmt.Errorf("plugin speaks protocol %d, host speaks %d: set Description.ProtocolVersion to sdk.ProtocolVersion", d.ProtocolVersion, ProtocolVersion))
	}
	switch d.Capabilities.Connect {
	case ConnectOAuth2, ConnectAPIKey, ConnectWebhookSecret, ConnectNone:
	default:
		errs = append(errs, fmt.Errorf("unknown connect kind %q (want %s, %s, %s or %s)", d.Capabilities.Connect, ConnectOAuth2, ConnectAPIKey, ConnectWebhookSecret, ConnectNone))
	}
	if d.Capabilities.Connect == ConnectNone && (d.Capabilities.Write || len(d.Capabilities.Commands) > 0) {
		errs = append(errs, errors.New("capabilities declare commands (write) with connect kind none: the host links no accounts for such a provider, "+
			"and every device is an account's, so it would never send a command; declare connect api_key, oauth2 or webhook_secret, or drop Write and Commands"))
	}
	if d.Capabilities.MinPollInterval < 0 {
		errs = append(errs, errors.New("negative min poll interval"))
	}
	for _, h := range d.Capabilities.SignatureHeaders {
		if !headerRE.MatchString(h) {
			errs = append(errs, fmt.Errorf("signature header %q is not a header name", h))
		}
	}
	return errors.Join(errs...)
}

// CheckDeclarations reports what is wrong with the settings and connect inputs d
// declares: a key that is not lower_snake_case (optionally ending in .*), declared twice,
// of an unknown type, a default on a secret or a required key, or a default that does not
// parse as its type.
func (d Description) CheckDeclarations() error {
	var errs []error
	check := func(what string, opts []Option) {
		seen := map[string]bool{}
		for _, o := range opts {
			if !optionKeyRE.MatchString(o.Key) {
				errs = append(errs, fmt.Errorf("%s key %q is not lower_snake_case (optionally ending in .*)", what, o.Key))
			}
			if seen[o.Key] {
				errs = append(errs, fmt.Errorf("%s key %q is declared twice", what, o.Key))
			}
			seen[o.Key] = true
			if !o.Type.Known() {
				errs = append(errs, fmt.Errorf("%s %q has unknown type %q", what, o.Key, o.Type))
				continue
			}
			switch {
			case o.Default != "" && o.Secret:
				errs = append(errs, fmt.Errorf("%s %q is a secret with a default; a secret's value must come from the operator", what, o.Key))
			case o.Default != "" && o.Required:
				errs = append(errs, fmt.Errorf("%s %q is required but has a default; it can never be missing", what, o.Key))
			case o.Default != "":
				if err := o.Check(o.Default); err != nil {
					errs = append(errs, fmt.Errorf("%s %q: default %w", what, o.Key, err))
				}
			}
		}
	}
	check("setting", d.Settings)
	check("connect input", d.ConnectInputs)
	return errors.Join(errs...)
}

// CheckConfig reports how a provider block's settings and secrets contradict d: a
// RequiredSettings or RequiredSecrets key missing; and, once d declares its Settings, a
// key it does not declare (with a "did you mean"), a secret given as a setting or the
// reverse, a value that does not parse as its type, a required key missing. A plugin
// that declares no Settings predates declarations: only its Required* lists apply.
func (d Description) CheckConfig(settings, secrets map[string]string) error {
	var errs []error
	for _, k := range d.RequiredSettings {
		if _, ok := settings[k]; !ok {
			errs = append(errs, fmt.Errorf("plugin requires setting %q, missing from config", k))
		}
	}
	for _, k := range d.RequiredSecrets {
		if secrets[k] == "" {
			errs = append(errs, fmt.Errorf("plugin requires secret %q, missing from config", k))
		}
	}
	if len(d.Settings) == 0 {
		return errors.Join(errs...)
	}
	byKey := make(map[string]Option, len(d.Settings))
	var settingKeys, secretKeys []string
	for _, o := range d.Settings {
		byKey[o.Key] = o
		if o.Secret {
			secretKeys = append(secretKeys, o.Key)
		} else {
			settingKeys = append(settingKeys, o.Key)
		}
	}
	check := func(block string, values map[string]string, secret bool, names []string) {
		for _, k := range slices.Sorted(maps.Keys(values)) {
			o, ok := declaredOption(byKey, k)
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s key %q is not one the plugin declares%s", block, k, suggestKey(k, names)))
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
	check("settings", settings, false, settingKeys)
	check("secrets", secrets, true, secretKeys)
	for _, o := range d.Settings {
		if !o.Required || strings.HasSuffix(o.Key, ".*") {
			continue
		}
		if o.Secret && secrets[o.Key] == "" && settings[o.Key] == "" {
			errs = append(errs, fmt.Errorf("plugin requires secret %q, missing from config", o.Key))
		}
		if _, ok := settings[o.Key]; !o.Secret && !ok && o.Default == "" && secrets[o.Key] == "" {
			errs = append(errs, fmt.Errorf("plugin requires setting %q, missing from config", o.Key))
		}
	}
	return errors.Join(errs...)
}

// declaredOption finds the option declaring k: its own, or a "prefix.*" family's.
func declaredOption(byKey map[string]Option, k string) (Option, bool) {
	if o, ok := byKey[k]; ok {
		return o, true
	}
	for i := strings.LastIndexByte(k, '.'); i > 0; i = strings.LastIndexByte(k[:i], '.') {
		if o, ok := byKey[k[:i]+".*"]; ok {
			return o, true
		}
	}
	return Option{}, false
}

// suggestKey names the declared key closest to a mistyped one, or lists them all.
func suggestKey(key string, declared []string) string {
	if len(declared) == 0 {
		return " (it declares none here)"
	}
	best, bestDist := "", len(key)/2+2
	for _, k := range declared {
		if d := editDistance(strings.ToLower(key), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return fmt.Sprintf(" (declared: %s)", strings.Join(slices.Sorted(slices.Values(declared)), ", "))
}

// editDistance is the Levenshtein distance between a and b, by runes (keys are short:
// the SDK takes no dependency for it).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
