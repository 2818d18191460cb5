package connect

import (
	"unicode/utf8"

	"github.com/poolhost/poolhost/host"
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
	}
	return nil
}

func checkDisplayName(name string) error {
	if n := utf8.RuneCountInString(name); n > MaxDisplayNameLen {
		return host.Errorf(host.EINVALID, "display name is %d characters; at most %d are allowed", n, MaxDisplayNameLen)
	}
	return nil
}
