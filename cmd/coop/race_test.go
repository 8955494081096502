//go:build race

package main

import "image/png"

// Under the race detector compress/flate runs about ten times slower than
// without, and encoding PNGs would take a third of the CLI tests' time.
// The level changes neither the pixels nor the embedded recipe, which is
// what the tests check, so they use the fastest.
func init() {
	imageCompression = png.BestSpeed
	sheetCompression = png.BestSpeed
}
