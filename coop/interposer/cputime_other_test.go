//go:build !linux

package interposer

import "testing"

// loopCPU runs fn b.N times; CPU time is reported on Linux only.
func loopCPU(b *testing.B, fn func()) {
	for b.Loop() {
		fn()
	}
}
