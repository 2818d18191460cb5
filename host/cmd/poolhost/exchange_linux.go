package main

import "golang.org/x/sys/unix"

// exchange swaps a and b in one step (renameat2 RENAME_EXCHANGE): a host launching the
// plugin sees the old bundle or the new one, never none.
func exchange(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}
