package ort

import "testing"

// Sessions keep their idle threads from spinning unless Spin is set: the
// spinning keys are 0 by default and left to ONNX Runtime with Spin.
func TestSpinning(t *testing.T) {
	path, _, err := Locate("")
	if err != nil {
		t.Fatalf("tests need ONNX Runtime: %v", err)
	}
	if err := Init(path); err != nil {
		t.Fatal(err)
	}
	for _, spin := range []bool{false, true} {
		so, err := SessionOptions{IntraOpThreads: 2, Spin: spin}.build()
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{configIntraOpSpinning, configInterOpSpinning} {
			has, err := so.HasSessionConfigEntry(key)
			if err != nil {
				t.Fatal(err)
			}
			var value string
			if has {
				if value, err = so.GetSessionConfigEntry(key); err != nil {
					t.Fatal(err)
				}
			}
			if spin && has {
				t.Errorf("Spin: %s = %q, want ONNX Runtime's default", key, value)
			}
			if !spin && value != "0" {
				t.Errorf("without Spin: %s = %q (set %t), want 0", key, value, has)
			}
		}
		so.Destroy()
	}
}
