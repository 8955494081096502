// Package adapterstest helps test model adapters: a small generation loop
// (Sample, Generate) that drives a loaded model the way the engine does,
// and conformance suites (TestDenoiser, TestAutoencoder, TestTextEncoder)
// that every implementation of the adapters interfaces must pass, in the
// style of gonum's testgraph.
package adapterstest
