package config_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/config"
)

// The retention block: years or days, each period optional (absent keeps forever, as
// without the block), and a period too short or not a duration is refused with its
// position.
func TestRetentionBlock(t *testing.T) {
	t.Setenv("POOLHOST_TEST_KEY", base64.StdEncoding.EncodeToString(make([]byte, 32)))
	const head = "database_url = \"sqlite:x.db\"\ncredentials_key = env(\"POOLHOST_TEST_KEY\")\n"
	const day = 24 * time.Hour
	good := []struct {
		src  string
		want config.Retention
	}{
		{"", config.Retention{}},
		{"retention {\n readings = \"2y\"\n audit = \"400d\"\n dead_letters = \"90d\"\n}", config.Retention{Readings: 730 * day, Audit: 400 * day, DeadLetters: 90 * day}},
		{`retention { readings = "30d" }`, config.Retention{Readings: 30 * day}},
		{`retention { audit = "36h" }`, config.Retention{Audit: 36 * time.Hour}},
		{"ingest { max_past_age = \"7d\" }\nretention { readings = \"7d\" }", config.Retention{Readings: 7 * day}},
	}
	for _, tt := range good {
		cfg, err := config.Parse("r.hcl", []byte(head+tt.src))
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if cfg.Retention != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.src, cfg.Retention, tt.want)
		}
	}
	bad := []struct{ src, want string }{
		{`retention { readings = "2 years" }`, `r.hcl:3,`},
		{`retention { readings = "0y" }`, `not a number of years`},
		{`retention { audit = "1h" }`, `at least 1d`},
		{`retention { dead_letters = "forever" }`, `"forever" is not a duration`},
		{`retention { rows = "1d" }`, `Unsupported argument`},
		// Shorter than the readings ingest still accepts (max_past_age, 30d by default).
		{`retention { readings = "29d" }`, `retention readings (29d) must be at least ingest max_past_age (30d)`},
		{"ingest { max_past_age = \"90d\" }\nretention { readings = \"60d\" }", `r.hcl:4,`},
	}
	for _, tt := range bad {
		_, err := config.Parse("r.hcl", []byte(head+tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.src, err, tt.want)
		}
	}
}
