package interposer

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU returns the CPU time the calling OS thread has used.
func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// loopCPU runs fn b.N times (as b.Loop does) on one locked OS thread and
// reports, besides the wall time, the thread's CPU time per call as
// cpu-ns/op: on a loaded machine wall time counts the time other processes
// hold the cores, CPU time only this work (ONNX Runtime with one intra-op
// thread runs on the calling thread too).
func loopCPU(b *testing.B, fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, ok := threadCPU()
	n := 0
	for b.Loop() {
		fn()
		n++
	}
	end, ok2 := threadCPU()
	if ok && ok2 && n > 0 {
		b.ReportMetric(float64(end-start)/float64(n), "cpu-ns/op")
	}
}
