package signature_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/signature"
)

// FuzzStandardWebhooksHeaders throws arbitrary header values at the parser. Whatever the
// input, it must not panic, every failure must be a rejection, and success must mean the
// header really carried the correct v1 signature for a timestamp inside the window.
func FuzzStandardWebhooksHeaders(f *testing.F) {
	f.Add(vectorMsgID, strconv.Itoa(vectorTimestamp), vectorSignature, []byte(vectorPayload))
	f.Add(vectorMsgID, strconv.Itoa(vectorTimestamp), vectorWrongSignature+" "+vectorSignature, []byte(vectorPayload))
	f.Add(vectorMsgID, strconv.Itoa(vectorTimestamp), "v1,", []byte(vectorPayload))
	f.Add(vectorMsgID, "-1", "v1,,, v2 ,v1", []byte{})
	f.Add("", "", "", []byte(nil))
	f.Add("id", "99999999999999999999999", "v1,AAAA\tv1,BBBB", []byte("x"))

	v, err := signature.NewStandardWebhooks(vectorSecret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		err := v.VerifyAt(h, body, vectorTime)
		if err != nil {
			if !sdk.IsKind(err, sdk.KindRejected) {
				t.Fatalf("error %q is not a rejection", err)
			}
			return
		}
		n, perr := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
		if perr != nil {
			t.Fatalf("accepted unparsable timestamp %q", ts)
		}
		sent := time.Unix(n, 0)
		if d := sent.Sub(vectorTime); d > signature.DefaultTolerance || d < -signature.DefaultTolerance {
			t.Fatalf("accepted timestamp %d outside the window", n)
		}
		want := v.Sign(h.Get("webhook-id"), sent, body)
		found := false
		for _, entry := range strings.Fields(h.Get("webhook-signature")) {
			if entry == want {
				found = true
			}
		}
		if !found {
			t.Fatalf("accepted signature header %q without %q", sig, want)
		}
	})
}
