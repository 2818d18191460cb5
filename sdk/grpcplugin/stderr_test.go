package grpcplugin_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poolhost/poolhost/sdk/grpcplugin"
)

// TestStderrRelay: each line a plugin writes to stderr reaches the host's log at the
// level it names; lines go-plugin's own relay would panic on (non-string @message,
// @level, @timestamp) are relayed too, and the host lives.
func TestStderrRelay(t *testing.T) {
	var out bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Trace, Output: &out, JSONFormat: true})
	logger, stderr := grpcplugin.Logging(log, "/opt/plugins/poolhost-provider-acme")

	// go-plugin asks for the relay's logger by the binary's name; it must be off so it
	// never parses a line itself.
	if l := logger.Named("poolhost-provider-acme"); l.GetLevel() != hclog.Off {
		t.Fatalf("go-plugin's relay logger is at %v, want Off", l.GetLevel())
	}
	if l := logger.Named("stdio"); l.GetLevel() == hclog.Off {
		t.Fatal("go-plugin's other loggers are off")
	}

	for _, line := range []string{
		`{"@level":"warn","@message":"upstream slow","@timestamp":"2026-11-29T03:04:05.000000Z","latency":"2s"}`,
		`{"@message":5}`,
		`{"@level":["error"],"@message":{"a":1}}`,
		`{"@timestamp":7,"@message":"odd clock"}`,
		`plain text`,
		`panic: boom`,
		`goroutine 1 [running]:`,
	} {
		// go-plugin writes each line, then its newline, separately.
		stderr.Write([]byte(line))
		stderr.Write([]byte("\n"))
	}
	type entry struct {
		Level   string `json:"@level"`
		Message string `json:"@message"`
		Module  string `json:"@module"`
		Latency string `json:"latency"`
	}
	var got []entry
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%v in %q", err, l)
		}
		got = append(got, e)
	}
	want := []entry{
		{"warn", "upstream slow", "host.poolhost-provider-acme", "2s"},
		{"debug", "5", "host.poolhost-provider-acme", ""},
		{"debug", "map[a:1]", "host.poolhost-provider-acme", ""},
		{"debug", "odd clock", "host.poolhost-provider-acme", ""},
		{"debug", "plain text", "host.poolhost-provider-acme", ""},
		{"error", "panic: boom", "host.poolhost-provider-acme", ""},
		{"error", "goroutine 1 [running]:", "host.poolhost-provider-acme", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), out.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
