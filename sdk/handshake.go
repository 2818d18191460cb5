package sdk

import "github.com/hashicorp/go-plugin"

// The handshake is how a poolhost plugin and the host recognise each other before any
// gRPC is spoken. The cookie is not a secret (it stops a user from running a plugin
// binary by hand by mistake) and it never changes: changing it breaks every plugin ever
// built. Incompatible wire changes bump ProtocolVersion instead, negotiated through
// go-plugin's VersionedPlugins.
const (
	MagicCookieKey   = "POOLHOST_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "6f6c2a1e0d8b4c7f9a3e5b2d1c0f8e7a"
	// PluginName is the single plugin kind each binary serves.
	PluginName = "adapter"
)

// Handshake is the go-plugin handshake shared by Serve and the host.
var Handshake = plugin.HandshakeConfig{
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}

// InheritedEnv names the only host environment variables a plugin process inherits:
// enough to find programs, resolve time zones and trust CAs, and nothing that could
// carry a host secret. It is part of the contract: a plugin must not depend on any other
// variable (settings and secrets arrive through Configure). The host adds the handshake
// cookie, the go-plugin variables, LogLevelEnv, GODEBUG (host.GODEBUG in the host module,
// for the Go runtime's scheduler), and whatever the operator names in
// plugins { pass_env = [...] }.
var InheritedEnv = []string{"PATH", "HOME", "TZ", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR"}
