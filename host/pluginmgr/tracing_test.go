package pluginmgr_test

import (
	"strings"
	"testing"
)

// The OTEL_* variables reach a plugin only when the operator lists them in pass_env:
// the host's own tracing settings (an endpoint, a token in OTEL_EXPORTER_OTLP_HEADERS)
// are not a plugin's business unless said so.
func TestOTELEnvReachesPluginsOnlyThroughPassEnv(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.internal:4318")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer tok3n")
	for _, tt := range []struct {
		name     string
		passEnv  []string
		want     []string
		wantNone []string
	}{
		{name: "not listed", wantNone: []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS", "tok3n"}},
		{name: "endpoint listed", passEnv: []string{"OTEL_EXPORTER_OTLP_ENDPOINT"},
			want: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector.internal:4318"}, wantNone: []string{"OTEL_EXPORTER_OTLP_HEADERS", "tok3n"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := strings.Join(pluginEnviron(t, "", tt.passEnv...), "\n")
			for _, w := range tt.want {
				if !strings.Contains(b, w) {
					t.Errorf("plugin environment lacks %s: %s", w, b)
				}
			}
			for _, n := range tt.wantNone {
				if strings.Contains(b, n) {
					t.Errorf("plugin environment carries %s: %s", n, b)
				}
			}
		})
	}
}
