package pluginmgr

import (
	"context"
	"time"

	"github.com/poolhost/poolhost/host/config"
	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

// defaultSendCommandTimeout applies when a provider's config predates the send_command
// timeout (a zero value).
const defaultSendCommandTimeout = 15 * time.Second

// SendCommand sends one command through the plugin under the send_command deadline. An
// error wrapping sdk.ErrOutcomeUnknown means the plugin may have reached the provider
// (it crashed, hung or timed out mid-call); any other error means nothing was sent
// (no running instance, or the plugin's own refusal).
func (p *Plugin) SendCommand(ctx context.Context, req sdk.CommandRequest) (res sdk.CommandResult, err error) {
	return p.SendCommandIf(ctx, req, nil)
}

// SendCommandIf is SendCommand for a command its provider's block must still approve
// when it goes out: approve is asked with the block in force at the call, once the
// instance is taken — after the restart of a reload the call waited for (a reload that
// sets access = "read-only" restarts the plugin), and after any reload that changed the
// block meanwhile. A caller's own check before the call cannot see those. approve's
// error is returned marked ErrNotCalled: nothing reached the plugin.
func (p *Plugin) SendCommandIf(ctx context.Context, req sdk.CommandRequest, approve func(config.Provider) error) (res sdk.CommandResult, err error) {
	timeout := func(t config.Timeouts) time.Duration {
		if t.SendCommand > 0 {
			return t.SendCommand
		}
		return defaultSendCommandTimeout
	}
	err = p.call(ctx, "send_command", timeout, func(ctx context.Context, c *grpcplugin.Client) (err error) {
		if approve != nil {
			if err := approve(p.Config()); err != nil {
				return notCalled{err}
			}
		}
		res, err = c.SendCommand(ctx, req)
		return err
	})
	// The send's outcome stands whatever else the answer holds; tokens over the cap
	// are only not stored (the refusal is counted and logged).
	if err == nil && p.refuseCredentials("send_command", res.RefreshedCredentials) != nil {
		res.RefreshedCredentials = nil
	}
	return res, err
}
