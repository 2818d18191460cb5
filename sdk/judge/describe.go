package judge

import (
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/poolhost/poolhost/sdk"
)

// A plugin's Describe answer and its Connect's authorize URL are shown to people: the
// description on GET /v1/providers, the console and `poolhost plugins`, its connect
// inputs as the form an app draws, the authorize URL as the link a user follows. The
// host keeps the description for the plugin's life and checks every config block and
// connect against it. So they are capped like any answer, by fixed bounds far above what
// a real provider needs (the first-party plugins' longest help is about 150 bytes).
const (
	// MaxVersionBytes caps Description.Version (a semver, maybe with build metadata).
	MaxVersionBytes = 64
	// MaxSettings caps Description.Settings, and each of RequiredSettings and
	// RequiredSecrets.
	MaxSettings = 64
	// MaxConnectInputs caps Description.ConnectInputs: a form a user fills in.
	MaxConnectInputs = 16
	// MaxKeyBytes caps a declared key (a setting's, secret's or input's), a required
	// key, a command name and a signature header name.
	MaxKeyBytes = 64
	// MaxHelpBytes caps an option's Help, one sentence.
	MaxHelpBytes = 512
	// MaxDefaultBytes caps an option's Default.
	MaxDefaultBytes = 1024
	// MaxDeclaredCommands caps Capabilities.Commands, and MaxSignatureHeaders
	// Capabilities.SignatureHeaders.
	MaxDeclaredCommands = 64
	MaxSignatureHeaders = 16
	// MaxAuthorizeURLBytes caps the authorize URL a Connect answers, which the user's
	// browser is sent to: browsers and servers commonly refuse URLs over 8 KiB.
	MaxAuthorizeURLBytes = 8 << 10
)

// CheckDescription is Check for a plugin's Describe answer: nil when d is within the caps
// above, else a *Refusal naming the first cap d breaks (the cap's constant and the
// figure). Text shown to people (the version, keys, help, defaults) must also be valid
// UTF-8 without control characters, which would forge a terminal's or a log's output.
// The host refuses to start a plugin whose description breaks one; the conformance kit
// fails its describe check.
func CheckDescription(d sdk.Description) error {
	if err := text("version", "version", d.Version, MaxVersionBytes, "judge.MaxVersionBytes"); err != nil {
		return err
	}
	for _, l := range []struct {
		name, limit string
		n, max      int
	}{
		{"settings", "judge.MaxSettings", len(d.Settings), MaxSettings},
		{"required_settings", "judge.MaxSettings", len(d.RequiredSettings), MaxSettings},
		{"required_secrets", "judge.MaxSettings", len(d.RequiredSecrets), MaxSettings},
		{"connect_inputs", "judge.MaxConnectInputs", len(d.ConnectInputs), MaxConnectInputs},
		{"commands", "judge.MaxDeclaredCommands", len(d.Capabilities.Commands), MaxDeclaredCommands},
		{"signature_headers", "judge.MaxSignatureHeaders", len(d.Capabilities.SignatureHeaders), MaxSignatureHeaders},
	} {
		if l.n > l.max {
			return refuse(l.name, "the description declares %d %s, over %d (%s)", l.n, strings.ReplaceAll(l.name, "_", " "), l.max, l.limit)
		}
	}
	for _, keys := range []struct {
		what string
		ks   []string
	}{
		{"required setting", d.RequiredSettings}, {"required secret", d.RequiredSecrets},
		{"command", d.Capabilities.Commands}, {"signature header", d.Capabilities.SignatureHeaders},
	} {
		for _, k := range keys.ks {
			if err := text("key", keys.what, k, MaxKeyBytes, "judge.MaxKeyBytes"); err != nil {
				return err
			}
		}
	}
	for _, opts := range []struct {
		what string
		os   []sdk.Option
	}{{"setting", d.Settings}, {"connect input", d.ConnectInputs}} {
		for _, o := range opts.os {
			if err := text("key", opts.what+" key", o.Key, MaxKeyBytes, "judge.MaxKeyBytes"); err != nil {
				return err
			}
			if err := text("help", opts.what+" "+quote(o.Key)+" help", o.Help, MaxHelpBytes, "judge.MaxHelpBytes"); err != nil {
				return err
			}
			if err := text("default", opts.what+" "+quote(o.Key)+" default", o.Default, MaxDefaultBytes, "judge.MaxDefaultBytes"); err != nil {
				return err
			}
		}
	}
	return nil
}

// text refuses s, which is what, as breaking cap name when it is over max bytes (the
// constant limit), not valid UTF-8, or holds a control character.
func text(name, what, s string, max int, limit string) error {
	if n := len(s); n > max {
		return refuse(name, "the description's %s is %d bytes, over %d (%s)", what, n, max, limit)
	}
	if !utf8.ValidString(s) {
		return refuse(CapUTF8, "the description's %s is not valid UTF-8", what)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return refuse(name, "the description's %s holds a control character", what)
	}
	return nil
}

// quote shows a key in a refusal, cut short: the key itself may be what broke a cap.
func quote(k string) string {
	if len(k) > MaxKeyBytes {
		k = k[:MaxKeyBytes] + "…"
	}
	return `"` + strings.ToValidUTF8(k, "?") + `"`
}

// CheckAuthorizeURL is Check for the authorize URL a Connect answers, which the host
// hands the user to open: nil when it is at most MaxAuthorizeURLBytes, an absolute https
// URL without user info (https://provider.example@evil.example/ reads as the provider's
// and goes elsewhere), else a *Refusal (cap "authorize_url"). http is accepted for a
// loopback host only (localhost, 127.0.0.0/8, ::1): a provider fake in tests.
func CheckAuthorizeURL(raw string) error {
	if n := len(raw); n > MaxAuthorizeURLBytes {
		return refuse("authorize_url", "authorize URL of %d bytes exceeds %d (judge.MaxAuthorizeURLBytes)", n, MaxAuthorizeURLBytes)
	}
	if !utf8.ValidString(raw) {
		return refuse(CapUTF8, "the authorize URL is not valid UTF-8")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return refuse("authorize_url", "the authorize URL does not parse: %v", err)
	}
	switch {
	case u.Host == "" || u.Hostname() == "":
		return refuse("authorize_url", "the authorize URL %q is not an absolute URL", clip(raw))
	case u.User != nil:
		return refuse("authorize_url", "the authorize URL %q carries user info before its host", clip(raw))
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return refuse("authorize_url", "the authorize URL %q is http: it must be https (http only for a loopback host)", clip(raw))
	}
	return refuse("authorize_url", "the authorize URL %q is not an https URL", clip(raw))
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clip shortens a URL quoted in a refusal.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
