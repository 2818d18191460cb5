package sdk_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk/metric"
)

// TestProtoNamesTheMetricVocabulary: adapter.proto, whose comments are normative for a
// plugin in another language, lists Reading.metric's vocabulary; it must be sdk/metric's,
// every name and no other, or such a plugin maps a provider type to a name the host
// drops (or never learns a name it could use: signal_dbm was missing).
func TestProtoNamesTheMetricVocabulary(t *testing.T) {
	b, err := os.ReadFile("proto/poolhost/adapter/v1/adapter.proto")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)message Reading \{.*?// A metric name from the poolhost vocabulary: (.*?)\n\s*string metric = 2;`).FindSubmatch(b)
	if m == nil {
		t.Fatal("adapter.proto: no vocabulary comment above Reading.metric")
	}
	var listed []string
	for _, line := range strings.Split(string(m[1]), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "//"))
		for _, name := range strings.Split(strings.TrimSuffix(line, "."), ",") {
			if name = strings.TrimSpace(name); name != "" {
				listed = append(listed, name)
			}
		}
	}
	var want []string
	for _, info := range metric.All() {
		want = append(want, info.Name)
	}
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("adapter.proto's Reading.metric lists %v; sdk/metric's vocabulary is %v", listed, want)
	}
}
