package pluginmgr

import (
	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/sdk"
)

// CheckAnswer exposes the answer caps to the external tests.
func CheckAnswer(lim config.Plugins, deliveryID, accountID string, rs []sdk.Reading, ss []sdk.TestSession) (string, error) {
	return checkAnswer(judgeCaps(lim), deliveryID, accountID, rs, ss, nil)
}

// CallName exposes the method labels to the external tests.
var CallName = callName

// WithoutCredentials exposes how credentials over the cap come off an error.
var WithoutCredentials = withoutCredentials

// WaitingCalls is how many calls wait for a planned restart's new process.
func WaitingCalls(p *Plugin) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiters
}
