package connect_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/connect"
	"github.com/poolhost/poolhost/host/poll"
	"github.com/poolhost/poolhost/sdk/judge"
)

// TestPLUGINSmdFigures keeps the limits PLUGINS.md gives provider teams the ones the
// host applies: each sentence names the constant it quotes.
func TestPLUGINSmdFigures(t *testing.T) {
	b, err := os.ReadFile("../../PLUGINS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(b)), " ")
	for _, want := range []string{
		fmt.Sprintf("over %d characters (`connect.MaxDisplayNameLen`) the host cuts a provider's name to %d and `…`", connect.MaxDisplayNameLen, connect.MaxDisplayNameLen-1),
		fmt.Sprintf("`DisplayName` (over %d characters: cut)", connect.MaxDisplayNameLen),
		fmt.Sprintf("at most %d (`judge.MaxCommandUpdatesPerCall`)", judge.MaxCommandUpdatesPerCall),
		fmt.Sprintf("more than %d updates (`judge.MaxCommandUpdatesPerCall`) is refused whole", judge.MaxCommandUpdatesPerCall),
		fmt.Sprintf("`TestSessions`, `CommandUpdates` (at most %d) |", judge.MaxCommandUpdatesPerCall),
		fmt.Sprintf("Keep it within `max_raw_payload_bytes` (%d KiB) and free of NUL bytes", judge.DefaultCaps.MaxRawPayloadBytes>>10),
		fmt.Sprintf("A set's keys and values together must stay within `max_raw_payload_bytes` (%d KiB)", judge.DefaultCaps.MaxRawPayloadBytes>>10),
		fmt.Sprintf("holds the next poll at least that long (up to %dh)", poll.MaxBackoff/time.Hour),
		fmt.Sprintf("a `Version` of at most %d bytes (`judge.MaxVersionBytes`)", judge.MaxVersionBytes),
		fmt.Sprintf("at most %d `Settings` (`judge.MaxSettings`,", judge.MaxSettings),
		fmt.Sprintf("%d `ConnectInputs` (`judge.MaxConnectInputs`)", judge.MaxConnectInputs),
		fmt.Sprintf("signature headers of at most %d bytes (`judge.MaxKeyBytes`), at most %d `Commands` and %d `SignatureHeaders`", judge.MaxKeyBytes, judge.MaxDeclaredCommands, judge.MaxSignatureHeaders),
		fmt.Sprintf("`Help` of at most %d bytes (`judge.MaxHelpBytes`) and `Default` of at most %d (`judge.MaxDefaultBytes`)", judge.MaxHelpBytes, judge.MaxDefaultBytes),
		fmt.Sprintf("is at most %d bytes (`judge.MaxAuthorizeURLBytes`), an absolute `https` URL", judge.MaxAuthorizeURLBytes),
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("PLUGINS.md does not say %q", want)
		}
	}
}
