package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestDocsCoverEverySetting: every block and attribute the loader takes is used by
// testdata/good.hcl (README: "uses every block and attribute") and named in README.md,
// the top-level ones in its Configuration section, so neither falls behind the schema.
func TestDocsCoverEverySetting(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "good.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n### Configuration\n")
	section, _, _ = strings.Cut(section, "\n### ")
	check := func(where string, s *hcl.BodySchema, top bool) {
		for _, a := range s.Attributes {
			if !regexp.MustCompile(`(?m)^\s*` + a.Name + `\s*=`).Match(good) {
				t.Errorf("testdata/good.hcl does not set %s%s", where, a.Name)
			}
			doc := string(readme)
			if top {
				doc = section
			}
			// Named in a code span, alone or in a list such as `timeouts { describe … }`.
			if !regexp.MustCompile("`[^`]*\\b" + a.Name + "\\b[^`]*`").MatchString(doc) {
				t.Errorf("README.md does not name %s%s", where, a.Name)
			}
		}
		for _, b := range s.Blocks {
			if !regexp.MustCompile(`(?m)^\s*` + b.Type + `\s*("[^"]*"\s*)?\{`).Match(good) {
				t.Errorf("testdata/good.hcl has no %s%s block", where, b.Type)
			}
			if top && !strings.Contains(section, "`"+b.Type) {
				t.Errorf("README.md's Configuration section does not name the %s block", b.Type)
			}
		}
	}
	check("", rootSchema, true)
	for name, s := range map[string]*hcl.BodySchema{
		"http.": httpSchema, "http.rate_limit.": rateLimitSchema, "retry_worker.": retrySchema,
		"poll_worker.": pollSchema, "command_worker.": commandSchema, "ingest.": ingestSchema,
		"retention.": retentionSchema, "plugins.": pluginsSchema, "provider.": providerSchema,
		"provider.timeouts.": timeoutsSchema,
	} {
		check(name, s, false)
	}
}

// TestREADMEReloadLists: README's Reloading the configuration names, as kept until the
// next restart, exactly the settings Diff reports as restartRequired, and every other
// top-level setting and block as taken at once.
func TestREADMEReloadLists(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	bullet := func(start string) string {
		t.Helper()
		_, rest, ok := strings.Cut(string(readme), "\n- "+start)
		if !ok {
			t.Fatalf("README.md has no bullet %q", start)
		}
		b, _, _ := strings.Cut(rest, "\n- ")
		return b
	}
	code := regexp.MustCompile("`([^`]*)`")
	kept := map[string]bool{}
	for _, m := range code.FindAllStringSubmatch(bullet("Kept until the next restart"), -1) {
		if m[1] != "restartRequired" && m[1] != "warnings" {
			kept[m[1]] = true
		}
	}
	for name := range restartOnly {
		if !kept[name] {
			t.Errorf("%s needs a restart, but README's list of what does omits it", name)
		}
	}
	for name := range kept {
		if !restartOnly[name] {
			t.Errorf("README says %s needs a restart; a reload takes it", name)
		}
	}
	taken := bullet("Taken at once")
	for _, a := range rootSchema.Attributes {
		if !restartOnly[a.Name] && !strings.Contains(taken, "`"+a.Name+"`") {
			t.Errorf("a reload takes %s, which README's list of what it takes omits", a.Name)
		}
	}
	for _, b := range rootSchema.Blocks {
		if b.Type != "provider" && !strings.Contains(taken, "`"+b.Type+" {") {
			t.Errorf("a reload takes the %s block, which README's list of what it takes omits", b.Type)
		}
	}
}
