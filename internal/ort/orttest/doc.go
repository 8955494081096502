// Package orttest gives tests of any package the ONNX Runtime library to
// run models with. It fails the test, rather than skipping it, when no
// library is found: a missing runtime must not turn the suite green. CI runs
// `coop setup` before the tests; on a workstation run it once by hand.
package orttest
