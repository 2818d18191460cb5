package sdktest_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/poolhost/poolhost/sdk/sdktest"
)

// TestRunByHand: a plugin binary started from a shell (no handshake cookie) says in
// poolhost's words what it is — its provider id and version from Describe — and how to
// test and run it, on stderr, and exits 1 without printing anything on stdout.
func TestRunByHand(t *testing.T) {
	bin := sdktest.BuildBinary(t, "./testdata/envprobe")
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no cookie, as from a shell
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("run by hand: err = %v, want exit status 1\n%s", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing (stdout is the handshake channel)", stdout.String())
	}
	for _, want := range []string{
		`envprobe is the poolhost provider plugin "envprobe" (version 0.1.0, protocol 1).`,
		"the poolhost host starts it itself",
		"poolhost plugins test envprobe",
		"poolhost plugins check --config",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "This binary is a plugin") {
		t.Errorf("go-plugin's generic message is printed too:\n%s", stderr.String())
	}
}
