package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/poolhost/poolhost/host/config"
)

// FuzzParse: whatever the file holds, Parse returns either a *config.Error listing the
// problems or a config whose required parts are present and whose defaults are applied;
// it never panics. The seeds are every file in testdata, good and bad. file() calls
// resolve against testdata, so they can only read fixtures.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.hcl")
	bad, _ := filepath.Glob("testdata/bad/*.hcl")
	for _, p := range append(seeds, bad...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`database_url = "sqlite:x"` + "\n" + `credentials_key = file("test.key")` + "\n" + `provider "a" { binary = "../../x" }`))
	f.Add([]byte("provider \"\" {}\nplugins { require_pin = true }\n"))
	path := filepath.Join("testdata", "fuzz.hcl")
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := config.Parse(path, src)
		if err != nil {
			var cerr *config.Error
			if !errors.As(err, &cerr) || cerr.Error() == "" {
				t.Fatalf("error %v (%T) is not a described *config.Error", err, err)
			}
			return
		}
		if cfg.DatabaseURL == "" || len(cfg.CredentialsKey.Bytes) != 32 || !filepath.IsAbs(cfg.PluginDir) {
			t.Fatalf("accepted config without its required parts: %+v", cfg)
		}
		for _, p := range cfg.Providers {
			if !filepath.IsAbs(p.Binary) || p.ID == "" {
				t.Fatalf("provider %q: binary %q", p.ID, p.Binary)
			}
			if cfg.Plugins.RequirePin && p.Enabled && p.SHA256 == "" {
				t.Fatalf("require_pin accepted unpinned provider %q", p.ID)
			}
		}
	})
}
