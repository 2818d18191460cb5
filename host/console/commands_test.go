package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host/store"
)

// TestCommandsPage: operators see recent commands, who requested them by email, and the
// unknown ones on their own tab.
func TestCommandsPage(t *testing.T) {
	e := newEnv(t, "http://x")
	ctx := context.Background()
	u, err := e.st.CreateUser(ctx, "owner@example.com", false)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := e.st.CreatePool(ctx, "P", u.ID)
	a, _, err := e.st.UpsertAccount(ctx, store.NewAccount{UserID: u.ID, Provider: "acme", ExternalAccountID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := e.st.UpsertDevices(ctx, a.ID, []store.NewDevice{{ProviderDeviceID: "relay-9"}})
	mk := func() store.Command {
		c, _, err := e.st.CreateCommand(ctx, store.NewCommand{PoolID: p.ID, DeviceID: ds[0].ID, AccountID: a.ID, Provider: "acme",
			ProviderDeviceID: "relay-9", Command: "pump.set", Params: store.Details{"on": true}, RequestedBy: u.ID, ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	lost := mk()
	if got, err := e.st.ClaimCommands(ctx, "w", 1, time.Microsecond, 0); err != nil || len(got) != 1 {
		t.Fatalf("claim = %v %v", got, err)
	}
	time.Sleep(time.Millisecond)
	if got, err := e.st.RescueCommands(ctx); err != nil || len(got) != 1 {
		t.Fatalf("rescue = %v %v", got, err)
	}
	queued := mk()

	cookie := e.signIn(t, e.admin).Cookies()[0]
	page := func(query string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/ui/commands"+query, nil)
		req.AddCookie(cookie)
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := page("")
	if code != 200 || !strings.Contains(body, "command-"+lost.PublicID) || !strings.Contains(body, "command-"+queued.PublicID) {
		t.Fatalf("recent: %d\n%s", code, body)
	}
	if want := fmt.Sprintf(`data-field="requested-by" title="user:%d">owner@example.com<`, u.ID); !strings.Contains(body, want) {
		t.Errorf("who requested a command is not shown by email: want %s in\n%s", want, body)
	}
	code, body = page("?view=unknown")
	if code != 200 || !strings.Contains(body, "command-"+lost.PublicID) || strings.Contains(body, "command-"+queued.PublicID) {
		t.Fatalf("unknown tab: %d\n%s", code, body)
	}
	if code, _ := page("?view=bogus"); code != http.StatusBadRequest {
		t.Fatalf("bogus view: %d", code)
	}
}
