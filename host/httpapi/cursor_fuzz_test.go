package httpapi_test

import (
	"errors"
	"testing"
	"time"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/httpapi"
	"github.com/poolhost/poolhost/host/pools"
)

// FuzzDecodeCursor: a cursor is whatever a client sends back. Anything that is not one
// the API issued is EINVALID (a 400), never a panic, and a cursor that decodes encodes
// back to one that decodes to the same position. Both position shapes the API pages
// with are tried: readings (time and id) and audit/failures (an id).
func FuzzDecodeCursor(f *testing.F) {
	f.Add(httpapi.EncodeCursor(pools.ReadingPos{RecordedAt: time.Date(2026, 11, 28, 10, 0, 0, 5, time.UTC), ID: 42}))
	f.Add(httpapi.EncodeCursor(struct {
		B int64 `json:"b"`
	}{B: 7}))
	f.Add("")
	f.Add("e30")                    // {}
	f.Add("eyJ4IjoxfQ")             // {"x":1}: unknown field
	f.Add("eyJ0IjoiMCIsImkiOi0xfQ") // {"t":"0","i":-1}
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, c string) {
		var pos pools.ReadingPos
		check := func(err error) bool {
			if err == nil {
				return true
			}
			var he *host.Error
			if !errors.As(err, &he) || he.Code != host.EINVALID {
				t.Fatalf("DecodeCursor(%q) = %v, want EINVALID", c, err)
			}
			return false
		}
		if check(httpapi.DecodeCursor(c, &pos)) {
			var back pools.ReadingPos
			if err := httpapi.DecodeCursor(httpapi.EncodeCursor(pos), &back); err != nil || !back.RecordedAt.Equal(pos.RecordedAt) || back.ID != pos.ID {
				t.Fatalf("round trip of %+v: %+v, %v", pos, back, err)
			}
		}
		var id struct {
			B int64 `json:"b"`
		}
		check(httpapi.DecodeCursor(c, &id))
	})
}
