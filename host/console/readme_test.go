package console

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEListsEveryPage: each page the console's navigation links to has its bullet
// (`- **Name**`) in the README's "Operators' console" section, so an operator reading it
// learns of every page there is.
func TestREADMEListsEveryPage(t *testing.T) {
	layout, err := os.ReadFile(filepath.Join("templates", "layout.html"))
	if err != nil {
		t.Fatal(err)
	}
	nav, _, _ := strings.Cut(string(layout), "</nav>")
	_, nav, _ = strings.Cut(nav, "<nav>")
	pages := regexp.MustCompile(`<a href="/ui/[^"]*"[^>]*>([^<]+)</a>`).FindAllStringSubmatch(nav, -1)
	if len(pages) < 5 {
		t.Fatalf("found %d pages in layout.html's <nav>; the test reads it wrong", len(pages))
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Operators' console (`/ui/`)\n")
	if !ok {
		t.Fatal("README.md has no Operators' console section")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	for _, p := range pages {
		if !strings.Contains(section, "\n- **"+p[1]+"**") {
			t.Errorf("the console links to %q, which README's Operators' console section has no bullet (- **%s**) for", p[1], p[1])
		}
	}
}
