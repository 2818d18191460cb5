// Package buildinfo says which poolhost this is: the host version, the VCS commit and
// dirty flag the Go toolchain stamped into the binary, the Go version, and the plugin
// protocol versions the host speaks. `poolhost version` prints it and the
// poolhost_build_info gauge exports it, so a page, a log line and a scrape all name the
// same build.
package buildinfo

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poolhost/poolhost/sdk"
)

// Version is the host's release version. Release builds set it with
// -ldflags "-X github.com/poolhost/poolhost/host/buildinfo.Version=v1.2.3"; otherwise it
// is the main module's version from the build info ("(devel)" for a local build).
var Version = ""

// Info describes the running binary.
type Info struct {
	Version   string
	Commit    string // vcs.revision, "" when the binary was built outside a checkout
	Dirty     bool   // vcs.modified: built from a work tree with uncommitted changes
	GoVersion string
	Protocols []int // plugin wire protocol versions the host accepts
}

// Read returns the running binary's build information.
func Read() Info {
	in := Info{Version: Version, GoVersion: runtime.Version(), Protocols: []int{sdk.ProtocolVersion}}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if in.Version == "" {
			in.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Commit = s.Value
			case "vcs.modified":
				in.Dirty = s.Value == "true"
			}
		}
	}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	return in
}

// ShortCommit is the commit's first 12 characters, with "-dirty" when built from a
// modified tree; "unknown" without VCS information.
func (in Info) ShortCommit() string {
	c := in.Commit
	if c == "" {
		return "unknown"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if in.Dirty {
		c += "-dirty"
	}
	return c
}

func (in Info) protocols() string {
	ps := make([]string, len(in.Protocols))
	for i, p := range in.Protocols {
		ps[i] = strconv.Itoa(p)
	}
	return strings.Join(ps, ",")
}

// Write prints the information, one "key: value" a line.
func (in Info) Write(w io.Writer) error {
	dirty := "false"
	if in.Dirty {
		dirty = "true"
	}
	commit := in.Commit
	if commit == "" {
		commit = "unknown"
	}
	_, err := fmt.Fprintf(w, "poolhost %s\ncommit: %s\ndirty: %s\ngo: %s\nplugin protocols: %s\n",
		in.Version, commit, dirty, in.GoVersion, in.protocols())
	return err
}

// Collector is the poolhost_build_info gauge: always 1, the build in its labels, as
// Prometheus exporters conventionally do (join on it to label other series by version).
func (in Info) Collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "poolhost", Name: "build_info",
		Help: "The running poolhost build; always 1.",
		ConstLabels: prometheus.Labels{
			"version": in.Version, "revision": in.Commit, "dirty": strconv.FormatBool(in.Dirty),
			"goversion": in.GoVersion, "plugin_protocols": in.protocols(),
		},
	})
	g.Set(1)
	return g
}
