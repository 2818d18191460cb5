package connect

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/sdk"
)

// Limits on what a user sends to Connect, checked before any plugin sees it. Parts of
// the input come back to be stored (a display name, a declared device list), so without
// a bound one request could store megabytes per account, and a plugin would have to
// parse whatever arrived. The value limit leaves room for the longest list
// sdk/declared accepts (256 ids of 128 characters).
const (
	MaxInputKeys     = 32
	MaxInputKeyLen   = 64
	MaxInputValueLen = 64 << 10
	// MaxDisplayNameLen bounds an account's display name, in characters, whoever
	// supplied it (the user through a plugin, or the provider).
	MaxDisplayNameLen = 200
)

// MaxPluginMessageBytes caps a plugin's own message (sdk.Error.Message) where the host
// shows it to a user: in an error answer, and stored as an account's subscriptionError,
// shown on every account read. A plugin that relays what a provider's cloud answered
// must not make those answers as large as a gRPC message may be (16 MiB).
const MaxPluginMessageBytes = 1000

// pluginMessage is msg cut to MaxPluginMessageBytes, on a character boundary.
func pluginMessage(msg string) string {
	if len(msg) <= MaxPluginMessageBytes {
		return msg
	}
	cut := MaxPluginMessageBytes - len("…")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}

func checkInput(input map[string]string) error {
	if len(input) > MaxInputKeys {
		return host.Errorf(host.EINVALID, "input has %d keys; at most %d are allowed", len(input), MaxInputKeys)
	}
	for k, v := range input {
		if len(k) > MaxInputKeyLen {
			return host.Errorf(host.EINVALID, "input key is %d bytes; at most %d are allowed", len(k), MaxInputKeyLen)
		}
		if len(v) > MaxInputValueLen {
			return host.Errorf(host.EINVALID, "input %q is %d bytes; at most %d are allowed", k, len(v), MaxInputValueLen)
		}
		// Text, as a plugin will store or show it (a name, a device list): no NUL or
		// escape sequence; line breaks and tabs pass (a pasted key file may hold them).
		if err := host.CheckText("input key", k, false); err != nil {
			return err
		}
		if err := host.CheckText(fmt.Sprintf("input %q", k), v, true); err != nil {
			return err
		}
	}
	return nil
}

func checkDisplayName(name string) error {
	if n := utf8.RuneCountInString(name); n > MaxDisplayNameLen {
		return host.Errorf(host.EINVALID, "display name is %d characters; at most %d are allowed", n, MaxDisplayNameLen)
	}
	return nil
}

// typed reports whether name is one of the values the user typed in input (spaces
// around it aside).
func typed(input map[string]string, name string) bool {
	for _, v := range input {
		if strings.TrimSpace(v) == strings.TrimSpace(name) {
			return true
		}
	}
	return false
}

// shortName is a display name cut to MaxDisplayNameLen characters, the last of them
// "…". A provider's name for an account (iopool's and Ondilo's join the names of its
// pools) is not the user's to shorten, and refusing it refused the connect itself.
func shortName(name string) string {
	if utf8.RuneCountInString(name) <= MaxDisplayNameLen {
		return name
	}
	return string([]rune(name)[:MaxDisplayNameLen-1]) + "…"
}

// cleanName is a name a plugin answers as it is stored: an account's display name
// (typed by the user, whose input was checked as text already, or the provider's: an
// iopool pool's title), a discovered device's name, model and metadata. Each character
// the name rule refuses (host.CheckText: control characters, line breaks, bidi
// overrides, invalid UTF-8) becomes U+FFFD. Refusing the answer would leave the user
// nothing to fix; storing it as it is let a NUL fail the insert on PostgreSQL (every
// time: a 500) and a bidi override disguise the name.
func cleanName(name string) string {
	if host.CheckText("display name", name, false) == nil {
		return name
	}
	return strings.Map(func(r rune) rune {
		if host.CheckText("", string(r), false) != nil {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(name, string(utf8.RuneError)))
}

// TypeInputInvalid is the problem type of a connect whose input does not match what the
// plugin declares.
const TypeInputInvalid = "connect-input-invalid"

// checkDeclaredInput refuses, before the plugin is called, input that does not match
// the plugin's declared connect inputs: a required one missing, an undeclared one, or a
// value that does not parse as its type. A plugin that declares none is not checked.
// Values are never echoed: an input may be a secret.
func checkDeclaredInput(provider string, declared []sdk.Option, input map[string]string) error {
	if len(declared) == 0 {
		return nil
	}
	var problems []string
	known := make(map[string]bool, len(declared))
	for _, o := range declared {
		known[o.Key] = true
		v, ok := input[o.Key]
		switch {
		case !ok || v == "":
			if o.Required {
				problems = append(problems, fmt.Sprintf("%q is required", o.Key))
			}
		case o.Check(v) != nil:
			problems = append(problems, fmt.Sprintf("%q must be %s", o.Key, typeNoun(o.Type)))
		}
	}
	var unknown []string
	for k := range input {
		if !known[k] {
			unknown = append(unknown, fmt.Sprintf("%q", k))
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		problems = append(problems, fmt.Sprintf("%s accepts no input %s", provider, strings.Join(unknown, ", ")))
	}
	if len(problems) == 0 {
		return nil
	}
	return host.Errorf(host.EINVALID, "connect input for %s: %s", provider, strings.Join(problems, "; ")).WithType(TypeInputInvalid)
}

func typeNoun(t sdk.OptionType) string {
	switch t {
	case sdk.OptionInt:
		return "an integer"
	case sdk.OptionBool:
		return "true or false"
	case sdk.OptionDuration:
		return "a duration such as 15m"
	case sdk.OptionURL:
		return "an absolute http or https URL"
	}
	return "text"
}
