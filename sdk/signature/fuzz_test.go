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

// FuzzHexHMACHeader: a GitHub-style header is accepted only when one of its values is
// the prefix and the hex HMAC of the body; anything else is a rejection, never a panic.
func FuzzHexHMACHeader(f *testing.F) {
	v, err := signature.GitHub("It's a Secret to Everybody")
	if err != nil {
		f.Fatal(err)
	}
	body := []byte("Hello, World!")
	f.Add(v.Sign(body), "", body)
	f.Add(strings.ToUpper(v.Sign(body)), "sha256=zz", body)
	f.Add("sha256=", "sha256", []byte{})
	f.Add("", "", []byte(nil))
	f.Add("sha1=abc", v.Sign(body), body)
	f.Fuzz(func(t *testing.T, first, second string, body []byte) {
		h := http.Header{}
		h.Add(v.Header(), first)
		h.Add(v.Header(), second)
		err := v.Verify(h, body)
		if err != nil {
			if !sdk.IsKind(err, sdk.KindRejected) {
				t.Fatalf("error %q is not a rejection", err)
			}
			return
		}
		want := v.Sign(body)
		if !strings.EqualFold(strings.TrimSpace(first), want) && !strings.EqualFold(strings.TrimSpace(second), want) {
			t.Fatalf("accepted %q / %q for a body signed %q", first, second, want)
		}
	})
}

// FuzzSharedSecretHeader: "Authorization: Bearer <secret>" is accepted only for the
// secret itself.
func FuzzSharedSecretHeader(f *testing.F) {
	const secret = "s3cret-token"
	v, err := signature.Bearer(secret)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Bearer " + secret)
	f.Add("bearer    " + secret)
	f.Add("Bearer")
	f.Add("Basic " + secret)
	f.Add(secret)
	f.Add("")
	f.Fuzz(func(t *testing.T, value string) {
		h := http.Header{}
		h.Set("Authorization", value)
		err := v.Verify(h, nil)
		if err != nil {
			if !sdk.IsKind(err, sdk.KindRejected) {
				t.Fatalf("error %q is not a rejection", err)
			}
			return
		}
		name, rest, _ := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
		if !strings.EqualFold(name, "Bearer") || strings.TrimLeft(rest, " ") != secret {
			t.Fatalf("accepted %q", value)
		}
	})
}
