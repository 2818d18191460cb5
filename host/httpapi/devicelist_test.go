package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/poolhost/poolhost/examples/provider-template/acmetest"
)

// TestAccountDevicesPaged: GET /v1/accounts/{id}/devices is paged (limit, cursor,
// nextCursor) as the API's other lists that grow. It was one answer of all the account's
// devices: up to 10,000, each with up to 64 KiB of the provider's metadata — an upstream
// adding devices and metadata over discoveries made it hundreds of megabytes (5.3 MB
// after five discoveries of the built host, and growing). 100 a page by default, at
// most 1000.
func TestAccountDevicesPaged(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		e := newEnv(t, dbURL, envOpts{})
		owner := e.newUser("owner", false)
		acct := e.connectTemplate(owner)
		e.acme.SetPageLimit(1000)
		ds := make([]acmetest.Device, 250)
		for i := range ds {
			ds[i] = acmetest.Device{ID: fmt.Sprintf("dev-%03d", i), Name: "probe", Model: "AcmeProbe"}
		}
		e.acme.SetDevices(ds...)
		e.must(http.StatusOK, req{method: "POST", path: fmt.Sprintf("/v1/accounts/%d/discover", acct.ID), token: owner.Token})

		type page struct {
			Devices    []device `json:"devices"`
			NextCursor string   `json:"nextCursor"`
		}
		list := func(query string) page {
			t.Helper()
			var p page
			e.must(http.StatusOK, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices%s", acct.ID, query), token: owner.Token}).json(t, &p)
			return p
		}
		seen := map[string]bool{}
		var sizes []int
		for p, query := (page{}), ""; ; query = "?cursor=" + url.QueryEscape(p.NextCursor) {
			p = list(query)
			sizes = append(sizes, len(p.Devices))
			for _, d := range p.Devices {
				if seen[d.ProviderDeviceID] {
					t.Fatalf("%s listed twice", d.ProviderDeviceID)
				}
				seen[d.ProviderDeviceID] = true
			}
			if p.NextCursor == "" {
				break
			}
		}
		if fmt.Sprint(sizes) != "[100 100 50]" || len(seen) != 250 {
			t.Fatalf("pages of %v (%d devices), want [100 100 50]", sizes, len(seen))
		}
		if p := list("?limit=1000"); len(p.Devices) != 250 || p.NextCursor != "" {
			t.Fatalf("limit=1000: %d devices, next %q", len(p.Devices), p.NextCursor)
		}
		for _, bad := range []string{"?limit=1001", "?limit=0", "?cursor=nope"} {
			e.must(http.StatusBadRequest, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices%s", acct.ID, bad), token: owner.Token})
		}
		// Another user's cursor is no key to the account.
		other := e.newUser("other", false)
		e.must(http.StatusNotFound, req{method: "GET", path: fmt.Sprintf("/v1/accounts/%d/devices?cursor=%s", acct.ID, url.QueryEscape(list("").NextCursor)), token: other.Token})
	})
}
