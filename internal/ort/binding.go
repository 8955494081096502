package ort

import (
	"context"
	"fmt"
	"sync"
	"unsafe"

	"github.com/coop-diffusion/coop/internal/onnx"
	"github.com/coop-diffusion/coop/latent"
)

// A run of a small graph inside ONNX Runtime takes a couple of
// microseconds, so what Run does around it matters: creating and releasing
// an OrtValue per input and output, run options, slices and maps on every
// call once took 2.7 µs and 30 allocations beside 2.2 µs inside ONNX
// Runtime (BenchmarkRunTiny). A binding set keeps all of it from one run
// to the next. The engine feeds a session the same buffers on every step,
// so a run usually finds every value already bound to the right memory and
// shape, rewrites only scalar inputs and float16 conversions, and costs
// about 0.4 µs and no allocation around ONNX Runtime's work.

// maxIdleBindings bounds the binding sets a session keeps between runs: as
// many as runs have been in flight at once, up to this many. More
// concurrent runs make and release their own.
const maxIdleBindings = 4

// slot binds one graph input or output to an OrtValue across runs: over
// the caller's memory when the element types agree (the value reads or
// writes the caller's slice directly), or over C memory the slot owns and
// Run converts into or out of.
type slot struct {
	value unsafe.Pointer // the OrtValue; nil when unbound
	shape []int64        // the shape value was created with

	// The caller's memory a direct value is bound to. Keeping the pointer
	// here keeps the memory reachable, and Go's collector does not move
	// heap objects, so it stays valid for as long as the value lives.
	caller unsafe.Pointer
	size   int // bytes the value covers

	owned    unsafe.Pointer // C memory of an owned value, kept across rebinding
	ownedCap int            // bytes of owned
}

// bound reports whether the slot's value already is a tensor of the given
// shape over the caller's memory at p (p == nil: over owned memory).
func bound[D int | int64](sl *slot, shape []D, p unsafe.Pointer) bool {
	if sl.value == nil || sl.caller != p || len(sl.shape) != len(shape) {
		return false
	}
	for k, d := range shape {
		if sl.shape[k] != int64(d) {
			return false
		}
	}
	return true
}

// bind makes the slot's value a tensor of elem and shape over the caller's
// memory at p, or over owned memory when p is nil, unless it already is.
// size is the number of bytes the tensor covers.
func bind[D int | int64](sl *slot, mem unsafe.Pointer, elem onnx.ElemType, shape []D, p unsafe.Pointer, size int) error {
	if bound(sl, shape, p) {
		return nil
	}
	sl.unbind()
	sl.shape = sl.shape[:0]
	for _, d := range shape {
		sl.shape = append(sl.shape, int64(d))
	}
	data := p
	if p == nil {
		if size > sl.ownedCap || sl.owned == nil {
			if sl.owned != nil {
				cFree(sl.owned)
				sl.owned, sl.ownedCap = nil, 0
			}
			buf, err := cAlloc(size)
			if err != nil {
				return err
			}
			sl.owned, sl.ownedCap = buf, size
		}
		data = sl.owned
	}
	typ, err := ortElemType(elem)
	if err != nil {
		return err
	}
	v, err := newTensorValue(mem, typ, sl.shape, data, size)
	if err != nil {
		return err
	}
	sl.value, sl.caller, sl.size = v, p, size
	return nil
}

// unbind releases the value, keeping owned memory for the next one.
func (sl *slot) unbind() {
	if sl.value != nil {
		releaseValue(sl.value)
	}
	sl.value, sl.caller, sl.size = nil, nil, 0
}

// release frees everything the slot holds.
func (sl *slot) release() {
	sl.unbind()
	if sl.owned != nil {
		cFree(sl.owned)
		sl.owned, sl.ownedCap = nil, 0
	}
}

// bindings is one binding set: the OrtValues of every input and output,
// the run options and the argument block of OrtApi::Run, and the scratch
// state of resolving shapes. One run uses it at a time.
type bindings struct {
	args *runArgs
	in   []slot // by input position
	out  []slot // by output position
	res  *resolver
	outT []*latent.Tensor // the caller's output tensors by position, during a run

	cancel canceller
}

func (s *Session) newBindings() (*bindings, error) {
	ro, err := newRunOptions()
	if err != nil {
		return nil, err
	}
	args, err := newRunArgs(s.raw, ro, s.inNames, len(s.sig.Inputs), s.outNames, len(s.sig.Outputs))
	if err != nil {
		releaseRunOptions(ro)
		return nil, err
	}
	return &bindings{
		args:   args,
		in:     make([]slot, len(s.sig.Inputs)),
		out:    make([]slot, len(s.sig.Outputs)),
		res:    newResolver(s),
		outT:   make([]*latent.Tensor, len(s.sig.Outputs)),
		cancel: canceller{ro: ro},
	}, nil
}

// release frees the binding set's values, run options and C memory.
func (b *bindings) release() {
	for i := range b.in {
		b.in[i].release()
	}
	for i := range b.out {
		b.out[i].release()
	}
	b.cancel.release()
	b.args.free()
}

// takeBindings returns an idle binding set, or a new one when all are in
// use.
func (s *Session) takeBindings() (*bindings, error) {
	s.idleMu.Lock()
	if n := len(s.idle); n > 0 {
		b := s.idle[n-1]
		s.idle[n-1] = nil
		s.idle = s.idle[:n-1]
		s.idleMu.Unlock()
		return b, nil
	}
	s.idleMu.Unlock()
	return s.newBindings()
}

// putBindings gives back a binding set after a run.
func (s *Session) putBindings(b *bindings) {
	b.res.clear()
	clear(b.outT)
	s.idleMu.Lock()
	if len(s.idle) < maxIdleBindings && !b.cancel.broken {
		s.idle = append(s.idle, b)
		b = nil
	}
	s.idleMu.Unlock()
	if b != nil {
		b.release()
	}
}

// releaseBindings frees the idle binding sets; Close calls it with no run
// in progress.
func (s *Session) releaseBindings() {
	s.idleMu.Lock()
	idle := s.idle
	s.idle = nil
	s.idleMu.Unlock()
	for _, b := range idle {
		b.release()
	}
}

// bindInputs binds every input to its value for this run, resolved in
// b.res.
func (s *Session) bindInputs(b *bindings) error {
	for i := range s.sig.Inputs {
		info := &s.sig.Inputs[i]
		in := &b.res.given[i]
		shape := b.res.shapes[i]
		n := numElements(shape)
		var p unsafe.Pointer // the caller's memory, when the value can use it
		switch {
		case n == 0:
		case info.ElemType == onnx.Float32 && in.kind == floatInput:
			p = unsafe.Pointer(unsafe.SliceData(in.floats))
		case info.ElemType == onnx.Int64 && in.kind == intInput:
			p = unsafe.Pointer(unsafe.SliceData(in.ints))
		}
		sl := &b.in[i]
		err := bind(sl, s.mem, info.ElemType, shape, p, n*elemSize(info.ElemType))
		if err == nil && p == nil {
			err = fill(sl.owned, info.ElemType, n, in)
		}
		if err != nil {
			b.args.in[i] = 0
			return fmt.Errorf("model %s: input %q: %w", s.path, info.Name, err)
		}
		b.args.in[i] = uintptr(sl.value)
	}
	return nil
}

// bindOutputs binds the outputs the caller asked for (b.outT) to their
// values and leaves the others to ONNX Runtime, which allocates them.
func (s *Session) bindOutputs(b *bindings) error {
	for j := range s.sig.Outputs {
		info := &s.sig.Outputs[j]
		t := b.outT[j]
		if t == nil {
			// Nobody reads it: ONNX Runtime allocates it, of whatever
			// type and shape, and Run releases it.
			b.args.ortAllocates[j] = 1
			continue
		}
		b.args.ortAllocates[j] = 0
		if _, err := ortElemType(info.ElemType); err != nil {
			b.args.out[j] = 0
			return fmt.Errorf("model %s: output %q: %w", s.path, info.Name, err)
		}
		n := len(t.Data)
		var p unsafe.Pointer
		if n > 0 && info.ElemType == onnx.Float32 && !b.aliasesInput(t.Data) {
			// Same type: ONNX Runtime writes the caller's slice directly.
			p = unsafe.Pointer(unsafe.SliceData(t.Data))
		}
		sl := &b.out[j]
		if err := bind(sl, s.mem, info.ElemType, t.Shape, p, n*elemSize(info.ElemType)); err != nil {
			b.args.out[j] = 0
			return fmt.Errorf("model %s: output %q: %w", s.path, info.Name, err)
		}
		b.args.out[j] = uintptr(sl.value)
	}
	return nil
}

// aliasesInput reports whether an output's memory overlaps an input value
// bound to the caller's memory, as when a caller updates a latent in
// place. ONNX Runtime reads inputs and writes outputs in the caller's
// memory, so such an output must go through a separate buffer.
func (b *bindings) aliasesInput(data []float32) bool {
	a0 := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	a1 := a0 + uintptr(len(data))*4
	for i := range b.in {
		sl := &b.in[i]
		if sl.caller == nil {
			continue
		}
		b0 := uintptr(sl.caller)
		if a0 < b0+uintptr(sl.size) && b0 < a1 {
			return true
		}
	}
	return false
}

// copyOutputs moves the outputs written to owned memory into the caller's
// tensors.
func (s *Session) copyOutputs(b *bindings) {
	for j, t := range b.outT {
		if sl := &b.out[j]; t != nil && sl.caller == nil {
			unfill(t.Data, s.sig.Outputs[j].ElemType, sl.owned)
		}
	}
}

// canceller terminates a binding set's run when the run's context is
// done. Its callback stays registered on a context from run to run (the
// engine runs every step under one context), so a run with the same
// context as the last registers nothing.
type canceller struct {
	mu         sync.Mutex
	ro         unsafe.Pointer  // OrtRunOptions of the binding set
	running    <-chan struct{} // Done of the context of the run in progress; nil between runs
	terminated bool            // ro's terminate flag is set
	watched    <-chan struct{} // Done of the context the callback is registered on
	stop       func() bool     // unregisters the callback
	broken     bool            // the terminate flag could not be cleared: discard ro
}

// start marks a run under ctx as begun. It returns false when ctx is
// already done: the run must not start (the callback may have fired
// before the run was marked, and would not stop it).
func (c *canceller) start(ctx context.Context) bool {
	done := ctx.Done()
	if done == nil {
		return true // never cancelled: nothing to watch
	}
	if done != c.watched {
		if c.stop != nil {
			c.stop()
		}
		c.watched = done
		c.stop = context.AfterFunc(ctx, func() { c.fire(done) })
	}
	c.mu.Lock()
	c.running = done
	c.mu.Unlock()
	return ctx.Err() == nil
}

// fire is the callback of the context whose Done is done.
func (c *canceller) fire(done <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running == done && c.running != nil && !c.terminated {
		// An error leaves the run to finish; there is nothing better to do
		// with it in a callback.
		if setTerminate(c.ro, true) == nil {
			c.terminated = true
		}
	}
}

// finish marks the run as over and readies the run options for the next.
func (c *canceller) finish() {
	if c.watched == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running = nil
	if c.terminated {
		if setTerminate(c.ro, false) != nil {
			c.broken = true // the binding set is released instead of reused
		}
		c.terminated = false
	}
}

// release unregisters the callback and frees the run options.
func (c *canceller) release() {
	if c.stop != nil {
		c.stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running = nil
	releaseRunOptions(c.ro)
	c.ro = nil
}
