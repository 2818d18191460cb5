//go:build !linux

package pluginmgr

import (
	"os"
	"syscall"
)

// sysProcAttr: without Pdeathsig, only the host's orderly shutdown stops plugins.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func killProcess(pid int) {
	if pid <= 0 {
		return
	}
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func killGroup(int) {}

// executedSHA256: other platforms offer no portable way to read the executed file, so
// the pre-exec hash and go-plugin's SecureConfig check are all there is.
func executedSHA256(int) (string, bool, error) { return "", false, nil }
