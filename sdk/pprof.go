package sdk

import (
	"expvar"
	"net"
	"net/http"
	"net/http/pprof"
	"os"

	"github.com/hashicorp/go-hclog"
)

// PprofEnv names the variable that turns on a plugin's profiling endpoint: set to an
// address (127.0.0.1:6061), the plugin serves Go's net/http/pprof under /debug/pprof/
// and its runtime statistics (expvar's memstats) under /debug/vars there. The host passes
// it only when the operator lists it in plugins { pass_env }; make bench sets it to
// count the plugin's allocations per delivery. Bind it to loopback: it has no auth.
const PprofEnv = "POOLHOST_PLUGIN_PPROF"

// servePprof starts the profiling endpoint when PprofEnv is set. A failure to listen is
// logged, not fatal: profiling must never stop a plugin from serving.
func servePprof(logger hclog.Logger) {
	addr := os.Getenv(PprofEnv)
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Warn("profiling endpoint not started", "env", PprofEnv, "error", err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	logger.Info("profiling endpoint", "address", ln.Addr().String())
	go func() { _ = http.Serve(ln, mux) }()
}
