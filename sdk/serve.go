package sdk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/poolhost/poolhost/sdk/gctune"
	"github.com/poolhost/poolhost/sdk/internal/flow"
	"github.com/poolhost/poolhost/sdk/internal/wire"
	"github.com/poolhost/poolhost/sdk/tracing"
)

// LogLevelEnv names the environment variable the host may set to choose the level of a
// plugin's default logger ("trace", "debug", "info", "warn", "error"). Unset means trace:
// the host filters forwarded lines at its own configured level anyway.
const LogLevelEnv = "POOLHOST_PLUGIN_LOG_LEVEL"

// ServeOptions tunes [ServeWithOptions]. The zero value is what [Serve] uses.
type ServeOptions struct {
	// Logger replaces the default logger (JSON lines on stderr, which go-plugin forwards
	// into the host's log). Keep JSON output: the host parses it.
	Logger hclog.Logger
}

// Serve runs a as a poolhost plugin and never returns. Call it from main:
//
//	func main() { sdk.Serve(myprovider.New()) }
//
// It speaks go-plugin's gRPC protocol, version [ProtocolVersion] negotiated through the
// [Handshake]. A panic inside one adapter call is recovered and reported to the host as a
// temporary error; the plugin keeps serving. When the host stops the plugin the process
// exits 0 from inside Serve (after flushing traces), so code after it and main's
// deferred calls do not run. Run by hand (without the handshake cookie the host sets) it
// prints what it is and how to test and run it, and exits 1.
func Serve(a Adapter) {
	ServeWithOptions(a, ServeOptions{})
}

// ServeWithOptions is [Serve] with options. Like Serve, it never returns.
func ServeWithOptions(a Adapter, opts ServeOptions) {
	serve(a, opts)
	// go-plugin's Serve returns once the host has stopped the plugin (GRPCController's
	// Shutdown); the process ends here, so no code after Serve in main runs on a stop.
	os.Exit(0)
}

func serve(a Adapter, opts ServeOptions) {
	if !startedByHost() {
		explainByHand(os.Stderr, a)
		os.Exit(1)
	}
	logger := opts.Logger
	if logger == nil {
		// Made before plugin.Serve swaps os.Stderr for its stdio pipe, so log lines go to
		// the real stderr, where the host's go-plugin client parses them.
		logger = newDefaultLogger()
	}
	current.Store(&logger)
	tuneGC()
	tuneProcs()
	servePprof(logger)
	stopTracing := startTracing(logger)
	defer stopTracing()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &servePlugin{adapter: a}},
		},
		GRPCServer: newGRPCServer,
		Logger:     logger,
	})
}

// startTracing exports the plugin's spans when the OTEL_* environment asks for it (the
// host passes those variables only when the operator lists them in plugins { pass_env }),
// and returns what flushes them once the host has stopped the plugin. A setup error is
// logged and the plugin serves untraced: tracing must never keep readings out.
func startTracing(logger hclog.Logger) func() {
	shutdown, err := tracing.Setup(context.Background(), filepath.Base(os.Args[0]))
	if err != nil {
		logger.Warn("tracing off", "error", err)
	}
	return func() {
		// Short: the host kills a plugin that lingers after it was asked to stop.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = shutdown(ctx)
	}
}

// newGRPCServer is go-plugin's default server, continuing the host's trace in each call
// while tracing is on (and untouched, so no cost per call, while it is off). Its codec
// decodes IngestWebhook's request with sdk/internal/wire's decoder: about 35 fewer of the
// plugin's allocations per delivery (host/bench), the same protobuf. Servers built
// without it (go-plugin's test servers) decode the same messages the generated way.
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.ForceServerCodecV2(wire.Codec{}))
	// Fixed flow-control windows: no bandwidth probes and few window updates per
	// delivery (sdk/internal/flow, with the figure).
	opts = append(opts, flow.ServerOptions()...)
	if tracing.Enabled() {
		opts = append(opts, grpc.ChainUnaryInterceptor(tracing.ServerInterceptor))
	}
	return plugin.DefaultGRPCServer(opts)
}

// Logger is the plugin's logger: what [ServeWithOptions] was given, otherwise JSON lines
// on stderr, forwarded by the host into its own log under the provider's name. Use it
// with key/value pairs and never log secrets, tokens or raw credentials.
func Logger() hclog.Logger {
	if l := current.Load(); l != nil {
		return *l
	}
	l := newDefaultLogger()
	if current.CompareAndSwap(nil, &l) {
		return l
	}
	return *current.Load()
}

var current atomic.Pointer[hclog.Logger]

func newDefaultLogger() hclog.Logger {
	level := hclog.Trace
	if s := os.Getenv(LogLevelEnv); s != "" {
		if l := hclog.LevelFromString(s); l != hclog.NoLevel {
			level = l
		}
	}
	return hclog.New(&hclog.LoggerOptions{
		Level:      level,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}

// servePlugin is the plugin side of the go-plugin plugin set; the host side lives in
// sdk/grpcplugin, which this package must not import.
type servePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	adapter Adapter
}

func (p *servePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	RegisterGRPCServer(s, p.adapter)
	return nil
}

func (p *servePlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("sdk: the plugin side cannot dispense a client; use sdk/grpcplugin")
}

// pluginGCPercent is a plugin's default GOGC. Its live heap is a few MB, so at Go's
// default of 100 it collects after every few MB allocated — every few hundred calls —
// and GC with returning freed pages to the OS became about a third of the plugin's CPU
// per delivery (host/bench). 400 trades a few MB of memory for that CPU.
const pluginGCPercent = 400

// pluginHeapGoal bounds what pluginGCPercent costs in memory (sdk/gctune): after each
// GC cycle the percent is lowered so that the heap's goal stays near 12 MiB, never
// below Go's own 100. Larger batches per message (IngestWebhookBatches) raised a Go
// plugin's peak RSS under host/bench's load from ~35 to 37-38 MiB, near the 40 MiB a
// plugin is budgeted (README "Capacity and tuning"); with this, two interleaved pairs
// (postgres/c64/plugin, 2026-12-07 05:20-05:22 UTC): 36.9 / 37.2 -> 34.2 / 34.2 MiB, the
// plugin's CPU per delivery ÷ the load generator's 1.50 / 1.53 -> 1.46 / 1.39.
const pluginHeapGoal = 12 << 20

// tuneGC applies pluginGCPercent and pluginHeapGoal unless the operator set GOGC for the
// plugin (the host passes it only when listed in plugins { pass_env }). No default
// memory limit: GOMEMLIMIT stays the operator's.
func tuneGC() {
	gctune.Apply(gctune.Defaults{Percent: pluginGCPercent, HeapGoal: pluginHeapGoal})
}

// tuneProcs runs the plugin's Go code on a quarter of the CPUs Go would use (at least
// one) unless the operator set GOMAXPROCS for it (listed in plugins { pass_env }, the
// host's own value). A plugin's work is a small share beside the host's and the
// database's, and each P beyond what it needs costs CPU of its own: when a goroutine is
// readied (every message from the host), Go wakes an idle thread to look for more work,
// which finds none and sleeps again. host/bench, postgres/c64/plugin on the 2-core VM,
// three interleaved pairs: the plugin's CPU per delivery 58 / 55 / 47 -> 39 / 36 / 34 µs
// at one P instead of two, and the whole box's 517 / 452 / 406 -> 411 / 375 / 361.
func tuneProcs() {
	setProcs(os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS)
}

// setProcs is tuneProcs with the environment's GOMAXPROCS and runtime.GOMAXPROCS given.
func setProcs(env string, gomaxprocs func(int) int) {
	if env != "" {
		return // the runtime applied it at start
	}
	procs := gomaxprocs(0)
	if want := max(1, procs/4); want < procs {
		gomaxprocs(want)
	}
}
