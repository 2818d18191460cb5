//go:build linux

package pluginmgr

import (
	"fmt"
	"syscall"

	"github.com/poolhost/poolhost/host/pluginmgr/bundle"
)

// sysProcAttr puts the plugin in its own process group (a Ctrl-C at the host's terminal
// reaches the host only, which then stops plugins in order) and asks the kernel to
// SIGKILL it when the host dies, even by SIGKILL.
//
// Pdeathsig fires when the thread that forked the child exits, not the process; Go only
// retires threads that a goroutine left locked, which nothing in the host does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killProcess SIGKILLs a plugin that no longer answers; go-plugin's own Kill first
// waits for a graceful exit a hung plugin will never make.
func killProcess(pid int) {
	if pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// killGroup removes anything the plugin itself started.
func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// executedSHA256 hashes the file process pid is executing, through /proc/PID/exe: the
// very inode the kernel exec'd, whatever has happened to its path since.
func executedSHA256(pid int) (sum string, ok bool, err error) {
	sum, err = bundle.FileSHA256(fmt.Sprintf("/proc/%d/exe", pid))
	return sum, err == nil, err
}
