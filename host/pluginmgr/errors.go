package pluginmgr

import "github.com/poolhost/poolhost/host"

// ErrNotFound: the provider is not configured or is disabled. Callers answer as if it
// did not exist.
var ErrNotFound = &host.Error{Code: host.ENOTFOUND, Type: "provider-not-found", Message: "provider not found"}

// ErrUnavailable: the provider is enabled but its plugin is not running (starting,
// restarting, failed, or stopped while the call was in flight). Retry later.
var ErrUnavailable = &host.Error{Code: host.EUNAVAILABLE, Type: "provider-unavailable", Message: "provider plugin unavailable"}

// startError marks a start failure that retrying cannot fix (a sha256 mismatch, a
// missing binary, a Describe contradicting the config): the provider goes straight to
// failed until the next Reload.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }
