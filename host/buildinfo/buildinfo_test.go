package buildinfo_test

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/poolhost/poolhost/host/buildinfo"
)

func TestWrite(t *testing.T) {
	in := buildinfo.Info{Version: "v1.2.3", Commit: "0123456789abcdef0123", Dirty: true, GoVersion: "go1.26.8", Protocols: []int{1}}
	var b bytes.Buffer
	if err := in.Write(&b); err != nil {
		t.Fatal(err)
	}
	want := "poolhost v1.2.3\ncommit: 0123456789abcdef0123\ndirty: true\ngo: go1.26.8\nplugin protocols: 1\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	if got := in.ShortCommit(); got != "0123456789ab-dirty" {
		t.Fatalf("short commit %q", got)
	}
	if got := (buildinfo.Info{}).ShortCommit(); got != "unknown" {
		t.Fatalf("no commit: %q", got)
	}
}

func TestRead(t *testing.T) {
	in := buildinfo.Read()
	if in.GoVersion != runtime.Version() || in.Version == "" || len(in.Protocols) != 1 || in.Protocols[0] != 1 {
		t.Fatalf("read %+v", in)
	}
}

func TestCollector(t *testing.T) {
	in := buildinfo.Info{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26.8", Protocols: []int{1}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(in.Collector())
	want := `# HELP poolhost_build_info The running poolhost build; always 1.
# TYPE poolhost_build_info gauge
poolhost_build_info{dirty="false",goversion="go1.26.8",plugin_protocols="1",revision="abc",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "poolhost_build_info"); err != nil {
		t.Fatal(err)
	}
}
