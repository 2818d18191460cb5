// Package pluginmgr launches and supervises one provider plugin process per enabled
// provider and is the only way the rest of the host calls a plugin.
//
// Each plugin is a child process spoken to over go-plugin's gRPC transport with
// automatic mTLS, started from a binary whose sha256 may be pinned, with an environment
// reduced to a short allow-list (host secrets never reach a plugin), in its own process
// group and, on Linux, with a parent-death signal so it cannot outlive the host. After
// every start the plugin's Describe answer is checked against its config block and its
// settings and secrets are delivered with Configure.
//
// A supervisor per provider restarts a plugin that exits or stops answering Health, with
// exponential backoff and jitter, and gives up (state failed) after too many failures in
// a window, until the next Reload. Callers hold a *Plugin from Get; every call on it
// carries the provider's per-method deadline and fails with ErrUnavailable while the
// plugin is not running, so a call racing a crash's restart or a stop fails fast instead
// of hanging. A reload replacing a running plugin (an upgrade) is the exception: a call
// meanwhile waits for the new process, within its deadline, and fails at once if that
// process does not start.
package pluginmgr
