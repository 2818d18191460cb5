//go:build !linux

package main

import "os"

// exchange swaps a and b with two renames: elsewhere than Linux there is no atomic
// exchange, so a launch between them finds no bundle and is retried.
func exchange(a, b string) error {
	old := a + ".old"
	if err := os.Rename(b, old); err != nil {
		return err
	}
	if err := os.Rename(a, b); err != nil {
		_ = os.Rename(old, b)
		return err
	}
	return os.Rename(old, a)
}
