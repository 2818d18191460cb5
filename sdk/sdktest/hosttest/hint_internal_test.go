package hosttest

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoBinaryHintBuilds: the command the skip message suggests builds poolhost when run,
// as written, in a checkout — unlike a package path, which a plugin's module cannot
// resolve. It lists the package rather than building it, which is what `go build` needs.
func TestNoBinaryHintBuilds(t *testing.T) {
	m := regexp.MustCompile("`go build -o \\S+ (\\S+)`").FindStringSubmatch(noBinary)
	if m == nil {
		t.Fatalf("hint names no go build command: %s", noBinary)
	}
	root, _ := filepath.Abs("../../..")
	if !strings.HasPrefix(m[1], "./") {
		t.Fatalf("hint builds %s, which only resolves inside the host's module; name it relative to the checkout", m[1])
	}
	out, err := exec.Command("go", "list", "-C", root, m[1]).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s in the checkout: %v\n%s", m[1], err, out)
	}
	if !strings.Contains(noBinary, "make build") {
		t.Errorf("hint does not name make build: %s", noBinary)
	}
}
