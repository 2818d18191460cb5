package pluginmgr

import (
	"context"
	"os/exec"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

// instance is one running plugin process.
type instance struct {
	client  *plugin.Client
	adapter *grpcplugin.Client
	pid     int
	ctx     context.Context // cancelled when the instance stops: aborts in-flight calls
	cancel  context.CancelFunc
	cleanup func() // removes a bundle's private copy once the process is gone
	// cmd is the process go-plugin runs and waits for: once it has exited, its
	// ProcessState says how (exit status 2 is a Go panic, signal: killed the OOM killer).
	cmd *exec.Cmd

	// suspect carries why a call hit its deadline; the watch loop probes at once.
	suspect chan string

	mu       sync.Mutex
	inflight int
	stopping bool
	drained  chan struct{}
	// hung is cancelled while the plugin is unresponsive, aborting the calls waiting on
	// it; a fresh one replaces it when the plugin answers again. It is derived from ctx,
	// so it also ends when the instance stops: a call watches this one context.
	hung   context.Context
	unhang context.CancelFunc
}

func newInstance(client *plugin.Client, cleanup func()) *instance {
	ctx, cancel := context.WithCancel(context.Background())
	hung, unhang := context.WithCancel(ctx)
	return &instance{client: client, ctx: ctx, cancel: cancel, cleanup: cleanup, suspect: make(chan string, 1), hung: hung, unhang: unhang}
}

// exitState is how the exited process ended, " (exit status 2)", or "" when unknown.
// go-plugin sets Exited only after its Wait returned, under the lock Exited takes, so
// ProcessState is complete here.
func (i *instance) exitState() string {
	if i.cmd == nil || i.cmd.ProcessState == nil {
		return ""
	}
	return " (" + i.cmd.ProcessState.String() + ")"
}

// markSuspect asks the watch loop to probe the plugin now; one pending ask is enough.
func (i *instance) markSuspect(why string) {
	select {
	case i.suspect <- why:
	default:
	}
}

func (i *instance) hungCtx() context.Context {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.hung
}

// setHung aborts the calls in flight (true), or lets new calls wait again (false).
func (i *instance) setHung(hung bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case hung:
		i.unhang()
	case i.hung.Err() != nil:
		i.hung, i.unhang = context.WithCancel(i.ctx)
	}
}

func (i *instance) acquire() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.stopping {
		return false
	}
	i.inflight++
	return true
}

func (i *instance) release() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.inflight--
	if i.stopping && i.inflight == 0 {
		close(i.drained)
	}
}

// beginStop refuses new calls and returns a channel closed once in-flight calls end.
func (i *instance) beginStop() <-chan struct{} {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.stopping {
		i.stopping = true
		i.drained = make(chan struct{})
		if i.inflight == 0 {
			close(i.drained)
		}
	}
	return i.drained
}

// stop ends the instance politely: in-flight calls get up to grace to finish, then are
// cancelled, and go-plugin asks the process to exit before killing it.
func (i *instance) stop(grace time.Duration) {
	select {
	case <-i.beginStop():
	case <-time.After(grace):
	}
	i.cancel()
	i.client.Kill()
	killGroup(i.pid)
	i.cleanup()
}

// kill ends an instance that crashed or hung, without waiting for it.
func (i *instance) kill() {
	i.beginStop()
	i.cancel()
	killProcess(i.pid)
	i.client.Kill()
	killGroup(i.pid)
	i.cleanup()
}
