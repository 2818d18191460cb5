package sdk_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPLUGINSmdNamesEveryPackage: PLUGINS.md's compatibility promise names every Go
// package of the SDK module a plugin imports, or says it is not part of the API. It left
// out sdk/command (command.PumpSet, Params), sdk/judge (sdktest.Fixtures.Caps is a
// judge.Caps) and sdk/sdktest/hosttest, which its own guide has plugins use.
func TestPLUGINSmdNamesEveryPackage(t *testing.T) {
	b, err := os.ReadFile("../PLUGINS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "**The Go API follows semantic versioning**")
	if i < 0 {
		t.Fatal("PLUGINS.md has no compatibility promise")
	}
	promise, _, _ := strings.Cut(doc[i:], "\n- **New checks")
	promise = strings.Join(strings.Fields(promise), " ")
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		switch d.Name() {
		case "testdata", "node", "proto", "internal":
			return filepath.SkipDir
		}
		gos, _ := filepath.Glob(filepath.Join(path, "*.go"))
		nonTest := 0
		for _, g := range gos {
			if !strings.HasSuffix(g, "_test.go") {
				nonTest++
			}
		}
		if nonTest == 0 {
			return nil
		}
		name := "sdk"
		if path != "." {
			name = "sdk/" + filepath.ToSlash(path)
		}
		if !strings.Contains(promise, "`"+name+"`") {
			t.Errorf("PLUGINS.md's compatibility promise does not name package %s (nor say it is not part of the API)", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
