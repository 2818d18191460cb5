package sdk_test

import (
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk"
)

func TestDescriptionCheck(t *testing.T) {
	good := sdk.Description{ID: "acme", Version: "0.1.0", ProtocolVersion: sdk.ProtocolVersion,
		Capabilities: sdk.Capabilities{Connect: sdk.ConnectAPIKey, SignatureHeaders: []string{"X-Acme-Signature"}}}
	if err := good.Check(); err != nil {
		t.Fatalf("good description: %v", err)
	}
	for name, tc := range map[string]struct {
		edit func(*sdk.Description)
		want string
	}{
		"id":         {func(d *sdk.Description) { d.ID = "Acme" }, `id "Acme" is not a provider id`},
		"version":    {func(d *sdk.Description) { d.Version = "" }, "version is empty"},
		"protocol":   {func(d *sdk.Description) { d.ProtocolVersion = 2 }, "plugin speaks protocol 2, host speaks 1: set Description.ProtocolVersion to sdk.ProtocolVersion"},
		"connect":    {func(d *sdk.Description) { d.Capabilities.Connect = "oauth" }, `unknown connect kind "oauth" (want oauth2, api_key, webhook_secret or none)`},
		"poll":       {func(d *sdk.Description) { d.Capabilities.MinPollInterval = -1 }, "negative min poll interval"},
		"header":     {func(d *sdk.Description) { d.Capabilities.SignatureHeaders = []string{"X Sig"} }, `signature header "X Sig" is not a header name`},
		"empty kind": {func(d *sdk.Description) { d.Capabilities.Connect = "" }, `unknown connect kind ""`},
		"write without accounts": {func(d *sdk.Description) {
			d.Capabilities.Connect, d.Capabilities.Write, d.Capabilities.Commands = sdk.ConnectNone, true, []string{"pump.set"}
		}, "capabilities declare commands (write) with connect kind none"},
		"commands without accounts": {func(d *sdk.Description) {
			d.Capabilities.Connect, d.Capabilities.Commands = sdk.ConnectNone, []string{"pump.set"}
		}, "capabilities declare commands (write) with connect kind none"},
	} {
		t.Run(name, func(t *testing.T) {
			d := good
			tc.edit(&d)
			if err := d.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check: %v; want %q", err, tc.want)
			}
		})
	}
}

func TestDescriptionCheckConfig(t *testing.T) {
	d := sdk.Description{Settings: []sdk.Option{
		{Key: "base_url", Type: sdk.OptionURL, Required: true},
		{Key: "page_size", Type: sdk.OptionInt, Default: "50"},
		{Key: "field_map.*"},
		{Key: "api_secret", Secret: true, Required: true},
	}}
	ok := map[string]string{"base_url": "https://x.example", "field_map.app1": "a:ph"}
	if err := d.CheckConfig(ok, map[string]string{"api_secret": "s"}); err != nil {
		t.Fatalf("good block: %v", err)
	}
	for name, tc := range map[string]struct {
		settings, secrets map[string]string
		want              string
	}{
		"typo":            {map[string]string{"base_url": "https://x.example", "base_ulr": "x"}, map[string]string{"api_secret": "s"}, `settings key "base_ulr" is not one the plugin declares; did you mean "base_url"?`},
		"far off":         {map[string]string{"base_url": "https://x.example", "zzzzzzzz": "x"}, map[string]string{"api_secret": "s"}, `settings key "zzzzzzzz" is not one the plugin declares (declared: base_url, field_map.*, page_size)`},
		"secret inline":   {map[string]string{"base_url": "https://x.example", "api_secret": "s"}, nil, `"api_secret" is a secret: move it to secrets {}`},
		"setting secret":  {ok, map[string]string{"api_secret": "s", "page_size": "3"}, `"page_size" is a setting, not a secret: move it to settings {}`},
		"type":            {map[string]string{"base_url": "ftp://x"}, map[string]string{"api_secret": "s"}, `settings "base_url": "ftp://x" is not an absolute http or https URL`},
		"required":        {nil, map[string]string{"api_secret": "s"}, `plugin requires setting "base_url", missing from config`},
		"required secret": {ok, nil, `plugin requires secret "api_secret", missing from config`},
	} {
		t.Run(name, func(t *testing.T) {
			if err := d.CheckConfig(tc.settings, tc.secrets); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckConfig: %v; want %q", err, tc.want)
			}
		})
	}
	legacy := sdk.Description{RequiredSettings: []string{"region"}, RequiredSecrets: []string{"token"}}
	if err := legacy.CheckConfig(map[string]string{"anything": "x"}, nil); err == nil ||
		!strings.Contains(err.Error(), `plugin requires setting "region"`) || !strings.Contains(err.Error(), `plugin requires secret "token"`) {
		t.Errorf("undeclared plugin's Required lists: %v", err)
	}
}
