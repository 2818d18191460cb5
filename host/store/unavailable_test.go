package store_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/poolhost/poolhost/host"
	"github.com/poolhost/poolhost/host/store"
)

// Only a database that cannot be reached is "unavailable": an error that already carries
// a code (a body cut by read_timeout is a net.Error, and a 400) keeps it.
func TestUnavailableClassifiesOnlyUnreachableDatabases(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"dial refused", fmt.Errorf("authenticate token: %w", dial), host.EUNAVAILABLE},
		{"connection reset", fmt.Errorf("list pools: %w", syscall.ECONNRESET), host.EUNAVAILABLE},
		{"body read timeout, already a 400", host.Wrap(host.EINVALID, timeout, "could not read the request body"), host.EINVALID},
		{"not found", store.ErrNotFound, host.ENOTFOUND},
		{"a bug", errors.New("scan: converting NULL"), host.EINTERNAL},
	}
	for _, tt := range tests {
		if got := host.ErrorCode(store.Unavailable(tt.err)); got != tt.want {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.want)
		}
	}
}
