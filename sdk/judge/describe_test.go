package judge_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk"
	"github.com/poolhost/poolhost/sdk/judge"
)

func TestCheckDescription(t *testing.T) {
	ok := func() sdk.Description {
		return sdk.Description{ID: "acme", Version: "1.2.3", ProtocolVersion: sdk.ProtocolVersion,
			Capabilities:  sdk.Capabilities{Connect: sdk.ConnectAPIKey, Commands: []string{"pump.set"}, SignatureHeaders: []string{"X-Acme-Signature"}},
			Settings:      []sdk.Option{{Key: "base_url", Type: sdk.OptionURL, Default: "https://api.acme.example", Help: "The API root."}},
			ConnectInputs: []sdk.Option{{Key: "api_key", Secret: true, Required: true, Help: "Your key, from the Acme app."}},
		}
	}
	opts := func(n int) []sdk.Option {
		out := make([]sdk.Option, n)
		for i := range out {
			out[i] = sdk.Option{Key: fmt.Sprintf("k%d", i)}
		}
		return out
	}
	keys := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("k%d", i)
		}
		return out
	}
	for _, c := range []struct {
		name, cap, says string
		edit            func(*sdk.Description)
	}{
		{"within", "", "", func(*sdk.Description) {}},
		{"at every cap", "", "", func(d *sdk.Description) {
			d.Version = strings.Repeat("v", judge.MaxVersionBytes)
			d.Settings = opts(judge.MaxSettings)
			d.Settings[0].Help = strings.Repeat("h", judge.MaxHelpBytes)
			d.Settings[0].Default = strings.Repeat("d", judge.MaxDefaultBytes)
			d.Settings[1].Key = strings.Repeat("k", judge.MaxKeyBytes)
			d.ConnectInputs = opts(judge.MaxConnectInputs)
			d.RequiredSettings, d.RequiredSecrets = keys(judge.MaxSettings), keys(judge.MaxSettings)
			d.Capabilities.Commands, d.Capabilities.SignatureHeaders = keys(judge.MaxDeclaredCommands), keys(judge.MaxSignatureHeaders)
		}},
		{"version", "version", "version is 65 bytes, over 64 (judge.MaxVersionBytes)", func(d *sdk.Description) { d.Version = strings.Repeat("v", 65) }},
		{"version with an escape", "version", "control character", func(d *sdk.Description) { d.Version = "1.0\x1b[2J" }},
		{"version not UTF-8", judge.CapUTF8, "not valid UTF-8", func(d *sdk.Description) { d.Version = "1.0\xff" }},
		{"settings", "settings", "declares 65 settings, over 64 (judge.MaxSettings)", func(d *sdk.Description) { d.Settings = opts(65) }},
		{"required settings", "required_settings", "over 64 (judge.MaxSettings)", func(d *sdk.Description) { d.RequiredSettings = keys(65) }},
		{"required secrets", "required_secrets", "over 64 (judge.MaxSettings)", func(d *sdk.Description) { d.RequiredSecrets = keys(65) }},
		{"connect inputs", "connect_inputs", "declares 17 connect inputs, over 16 (judge.MaxConnectInputs)", func(d *sdk.Description) { d.ConnectInputs = opts(17) }},
		{"commands", "commands", "over 64 (judge.MaxDeclaredCommands)", func(d *sdk.Description) { d.Capabilities.Commands = keys(65) }},
		{"signature headers", "signature_headers", "over 16 (judge.MaxSignatureHeaders)", func(d *sdk.Description) { d.Capabilities.SignatureHeaders = keys(17) }},
		{"key", "key", "setting key is 65 bytes, over 64 (judge.MaxKeyBytes)", func(d *sdk.Description) { d.Settings[0].Key = strings.Repeat("k", 65) }},
		{"required key", "key", "required secret is 100000 bytes", func(d *sdk.Description) { d.RequiredSecrets = []string{strings.Repeat("k", 100000)} }},
		{"help", "help", `connect input "api_key" help is 513 bytes, over 512 (judge.MaxHelpBytes)`, func(d *sdk.Description) { d.ConnectInputs[0].Help = strings.Repeat("h", 513) }},
		{"help with a newline", "help", "control character", func(d *sdk.Description) { d.Settings[0].Help = "line one\nline two" }},
		{"default", "default", `setting "base_url" default is 1025 bytes, over 1024 (judge.MaxDefaultBytes)`, func(d *sdk.Description) { d.Settings[0].Default = strings.Repeat("d", 1025) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := ok()
			c.edit(&d)
			err := judge.CheckDescription(d)
			if got := judge.CapOf(err); got != c.cap || (err == nil) != (c.cap == "") {
				t.Fatalf("cap %q (%v), want %q", got, err, c.cap)
			}
			if err != nil && !strings.Contains(err.Error(), c.says) {
				t.Errorf("%v, want it to say %q", err, c.says)
			}
			if err != nil && sdk.KindOf(err) != sdk.KindPermanent {
				t.Errorf("kind %v, want permanent", sdk.KindOf(err))
			}
		})
	}
}

func TestCheckAuthorizeURL(t *testing.T) {
	long := "https://auth.acme.example/authorize?state=" + strings.Repeat("s", judge.MaxAuthorizeURLBytes)
	for _, c := range []struct {
		url, cap string
	}{
		{"https://auth.acme.example/oauth2/authorize?client_id=c&state=s", ""},
		{"http://127.0.0.1:41234/oauth/authorize?state=s", ""},
		{"http://localhost:8080/authorize", ""},
		{"http://[::1]:8080/authorize", ""},
		{long[:judge.MaxAuthorizeURLBytes], ""},
		{long, "authorize_url"},
		{"http://auth.acme.example/authorize", "authorize_url"},
		{"javascript:alert(1)", "authorize_url"},
		{"data:text/html,<script>alert(1)</script>", "authorize_url"},
		{"/relative/authorize", "authorize_url"},
		{"//auth.acme.example/authorize", "authorize_url"},
		{"https://auth.acme.example@evil.example/authorize", "authorize_url"},
		{"https://auth.acme.example/\x00", "authorize_url"},
		{"https://auth.acme.example/\xff", judge.CapUTF8},
		{"ftp://auth.acme.example/", "authorize_url"},
	} {
		err := judge.CheckAuthorizeURL(c.url)
		if got := judge.CapOf(err); got != c.cap || (err == nil) != (c.cap == "") {
			t.Errorf("%.60q: cap %q (%v), want %q", c.url, got, err, c.cap)
		}
	}
}
