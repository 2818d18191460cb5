package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/poolhost/poolhost/sdk/sdktest"
	"github.com/poolhost/poolhost/sdk/signature"
)

// `poolhost plugins fixtures sign DIR` writes the signed deliveries of a conformance
// fixture directory from raw bodies, so a team writing a plugin in Node.js or Python
// records fixtures without Go: the same layout sdktest.LoadFixtures and `plugins test`
// read, signed as the host's own tests sign theirs.
func init() {
	registerGroup("plugins fixtures", "write conformance fixtures for `plugins test`", "", "")
	register("plugins fixtures", func() *cobra.Command {
		c := &cobra.Command{
			Use:   "sign [flags] DIR",
			Short: "sign a fixture directory's raw bodies into webhooks/{valid,tampered,wrong_secret,stale}",
			Long: `sign reads every file in DIR/bodies (a delivery's raw body, as your provider sends
it) and writes, for each, the signed deliveries the conformance checks need:
webhooks/valid/NAME.json (must be accepted), webhooks/tampered/NAME.json (the body
changed after signing), webhooks/wrong_secret/NAME.json (signed with another secret)
and, for schemes with a timestamp, webhooks/stale/NAME.json (received an hour late).
Files in DIR/bodies/account are signed with a fresh per-account secret instead and
written with "account_secret" set: deliveries to an account's own URL.

The provider-level secret is DIR/configure.json's secrets[--secret-key], as the plugin
is configured with it. Each delivery is signed as of --at (default: now) and received
one second later: give your bodies measurement times just before it, or the checks
report readings the host would drop as too_old. Existing files of the same names are
overwritten; nothing else is touched.`,
			Example: `  poolhost plugins fixtures sign testdata/conformance
  poolhost plugins fixtures sign testdata/conformance --scheme hex-hmac --header X-Acme-Signature --prefix sha256=`,
			Args: cobra.ExactArgs(1),
		}
		o := signOptions{}
		c.Flags().StringVar(&o.secretKey, "secret-key", "webhook_secret", "the key of configure.json's secrets holding the provider-level secret")
		c.Flags().StringVar(&o.scheme, "scheme", "standard-webhooks", "standard-webhooks (webhook-id, webhook-timestamp, webhook-signature) or hex-hmac (one header, hex HMAC-SHA256 of the body)")
		c.Flags().StringVar(&o.header, "header", "X-Signature", "hex-hmac: the header the signature goes in")
		c.Flags().StringVar(&o.prefix, "prefix", "", `hex-hmac: the signature's prefix, e.g. "sha256="`)
		at := c.Flags().String("at", "", "sign as of this RFC 3339 time (default: now)")
		c.RunE = run(func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			o.at = time.Now().UTC().Truncate(time.Second)
			if *at != "" {
				t, err := time.Parse(time.RFC3339, *at)
				if err != nil {
					fmt.Fprintf(stderr, "poolhost plugins fixtures sign: --at: %v\n", err)
					return 2
				}
				o.at = t.UTC()
			}
			return runFixturesSign(args[0], o, stdout, stderr)
		})
		return c
	})
}

type signOptions struct {
	secretKey, scheme, header, prefix string
	at                                time.Time
}

// otherSecret signs the wrong_secret fixtures: a valid secret that is not the plugin's.
const otherSecret = "whsec_c2RrdGVzdC1vdGhlci1zZWNyZXQtMDAwMDAwMDA="

func runFixturesSign(dir string, o signOptions, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "poolhost plugins fixtures sign: %v\n", err)
		return 1
	}
	b, err := os.ReadFile(filepath.Join(dir, "configure.json"))
	if err != nil {
		return fail(fmt.Errorf("%w (it gives the plugin its secret: {\"secrets\": {%q: \"whsec_…\"}})", err, o.secretKey))
	}
	var cfg struct {
		Secrets map[string]string `json:"secrets"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fail(fmt.Errorf("configure.json: %w", err))
	}
	secret := cfg.Secrets[o.secretKey]
	if secret == "" {
		return fail(fmt.Errorf("configure.json has no secrets.%s to sign with", o.secretKey))
	}
	signer := func(secret string) (func(id string, body []byte) (http.Header, error), bool) {
		switch o.scheme {
		case "standard-webhooks":
			return func(id string, body []byte) (http.Header, error) {
				s, err := signature.NewStandardWebhooks(secret)
				if err != nil {
					return nil, err
				}
				return s.Headers(id, o.at, body), nil
			}, true
		case "hex-hmac":
			return func(_ string, body []byte) (http.Header, error) {
				s, err := signature.NewHexHMAC(secret, o.header, o.prefix)
				if err != nil {
					return nil, err
				}
				return http.Header{http.CanonicalHeaderKey(o.header): {s.Sign(body)}}, nil
			}, false
		}
		return nil, false
	}
	if f, _ := signer(secret); f == nil {
		return fail(fmt.Errorf("--scheme %q: want standard-webhooks or hex-hmac", o.scheme))
	}
	accountSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte(rand.Text()))
	written := 0
	for _, set := range []struct {
		sub, secret string
		account     bool
	}{{"bodies", secret, false}, {filepath.Join("bodies", "account"), accountSecret, true}} {
		entries, err := os.ReadDir(filepath.Join(dir, set.sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fail(err)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			body, err := os.ReadFile(filepath.Join(dir, set.sub, e.Name()))
			if err != nil {
				return fail(err)
			}
			name := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
			if set.account {
				name = "account_" + name
			}
			sign, timed := signer(set.secret)
			good, err := sign("msg_"+name, body)
			if err != nil {
				return fail(fmt.Errorf("sign %s: %w", e.Name(), err))
			}
			other, _ := signer(otherSecret)
			bad, err := other("msg_"+name, body)
			if err != nil {
				return fail(err)
			}
			acct := ""
			if set.account {
				acct = set.secret
			}
			received := o.at.Add(time.Second)
			out := map[string]sdktest.Webhook{
				"valid":        {Headers: good, Body: body, ReceivedAt: received, AccountSecret: acct},
				"tampered":     {Headers: good, Body: tamper(body), ReceivedAt: received, AccountSecret: acct},
				"wrong_secret": {Headers: bad, Body: body, ReceivedAt: received, AccountSecret: acct},
			}
			if timed {
				out["stale"] = sdktest.Webhook{Headers: good, Body: body, ReceivedAt: o.at.Add(time.Hour), AccountSecret: acct}
			}
			for sub, w := range out {
				if err := sdktest.WriteWebhook(filepath.Join(dir, "webhooks", sub, name+".json"), w); err != nil {
					return fail(err)
				}
				written++
			}
		}
	}
	if written == 0 {
		return fail(fmt.Errorf("no bodies in %s: put each delivery's raw body in a file there", filepath.Join(dir, "bodies")))
	}
	fmt.Fprintf(stdout, "wrote %d fixture(s) in %s, signed as of %s\n", written, filepath.Join(dir, "webhooks"), o.at.Format(time.RFC3339))
	return 0
}

// tamper changes a body the way an attacker would: a digit, so the values differ and a
// JSON body still parses; a body without digits gets a byte appended.
func tamper(body []byte) []byte {
	out := bytes.Clone(body)
	for i, c := range out {
		if c >= '0' && c <= '9' {
			out[i] = '0' + (c-'0'+1)%10
			return out
		}
	}
	return append(out, ' ')
}
