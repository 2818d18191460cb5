package webhook

import (
	"net/http"
	"slices"
	"strings"

	"github.com/poolhost/poolhost/host/failures"
	"github.com/poolhost/poolhost/sdk"
)

// KeptHeaders are the headers stored with a queued payload: what a parser may need
// (content type, delivery ids, timestamps, event types), without credentials. Shared
// secrets travel in headers for some providers (TTN's Authorization, API keys), and a
// queued payload is never re-verified, so nothing that authenticates is kept: such a
// header is kept by name only, its value replaced by failures.Redacted, so an operator
// sees that it came (and the retry worker leaves it out: failures.ForPlugin). A header
// is such a header when its name says so (failures.SensitiveName), when it is one of
// names, or when a value holds one of secrets.
func KeptHeaders(h http.Header, names []string, secrets ...string) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		if failures.SensitiveName(k) || slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, k) }) ||
			slices.ContainsFunc(v, func(v string) bool { return holdsSecret(v, secrets) }) {
			out[k] = []string{failures.Redacted}
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}

func holdsSecret(v string, secrets []string) bool {
	for _, s := range secrets {
		if s != "" && strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// secretSource is what a delivery's kept headers must not hold, looked up only when a
// delivery is kept (not on the path of every delivery): the header names the provider's
// settings name as carrying a secret, its configured secrets, and the account's.
type secretSource struct {
	plugin  Handle
	account *sdk.Account // nil for a provider-level delivery
}

// keptHeaders is KeptHeaders with the delivery's secrets. A setting names a secret
// header when its key ends in "_header" and is a sensitive name itself: TTN's
// auth_header, which an operator may set to a header whose name says nothing
// ("X-Pool-Pass"). Every configured secret and every sensitive account credential
// (the account's webhook secret, the one it replaced during a rotation) is looked for
// in the values, whatever their header's name.
func (s secretSource) keptHeaders(h http.Header) http.Header {
	var names, secrets []string
	if s.plugin != nil {
		cfg := s.plugin.Config()
		for k, v := range cfg.Settings {
			if strings.HasSuffix(k, "_header") && failures.SensitiveName(k) && v != "" {
				names = append(names, v)
			}
		}
		for _, v := range cfg.Secrets {
			secrets = append(secrets, v)
		}
	}
	if s.account != nil {
		for k, v := range s.account.Credentials {
			if failures.SensitiveName(k) {
				secrets = append(secrets, v)
			}
		}
	}
	return KeptHeaders(h, names, secrets...)
}
