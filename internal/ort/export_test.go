package ort

// LiveValues returns the number of OrtValues the package has bound and not
// released yet, for the tests of package ort_test.
func LiveValues() int64 { return liveValues.Load() }

// IdleBindings returns the number of binding sets s keeps between runs.
func IdleBindings(s *Session) int {
	s.idleMu.Lock()
	defer s.idleMu.Unlock()
	return len(s.idle)
}
