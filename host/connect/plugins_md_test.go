package connect_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/host/connect"
)

// TestPLUGINSmdDisplayNameLimit keeps PLUGINS.md's account display name limit, which
// provider teams read, the one the host applies.
func TestPLUGINSmdDisplayNameLimit(t *testing.T) {
	b, err := os.ReadFile("../../PLUGINS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(b)), " ")
	for _, want := range []string{
		fmt.Sprintf("over %d characters (`connect.MaxDisplayNameLen`) the host cuts a provider's name to %d and `…`", connect.MaxDisplayNameLen, connect.MaxDisplayNameLen-1),
		fmt.Sprintf("`DisplayName` (over %d characters: cut)", connect.MaxDisplayNameLen),
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("PLUGINS.md does not say %q", want)
		}
	}
}
