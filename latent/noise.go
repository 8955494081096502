package latent

import (
	"math"
	"runtime"
	"sync"
)

// Noise is a reproducible source of standard Gaussian values: element i of
// its draw depends only on (Seed, Stream, i). The generator (Philox4x32-10
// and a Box-Muller transform built from IEEE-754 basic operations only) is
// specified in the package documentation so that other implementations can
// reproduce it bit for bit.
type Noise struct {
	Seed   uint64
	Stream uint64
}

// NewStream returns the noise of the named stream under seed. Give every use
// of randomness its own name (for example "init" or
// "bridge/resolution/step12") so that uses never share values and adding one
// does not shift the others.
func NewStream(seed uint64, name string) Noise {
	return Noise{Seed: seed, Stream: StreamID(name)}
}

// StreamID is the 64-bit FNV-1a hash of name, the Stream that NewStream uses.
func StreamID(name string) uint64 {
	const (
		offsetBasis = 0xcbf29ce484222325
		prime       = 0x100000001b3
	)
	h := uint64(offsetBasis)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= prime
	}
	return h
}

// At returns element i of the draw.
func (n Noise) At(i uint64) float32 {
	z0, z1 := n.pair(i / 2)
	if i%2 == 0 {
		return z0
	}
	return z1
}

// Fill overwrites t with elements 0 to t.Len()-1 of the draw. Large tensors
// are split across goroutines; the values do not depend on the split. Fill
// allocates nothing (the first parallel fill of the process starts the
// worker goroutines once).
func (n Noise) Fill(t *Tensor) { n.FillSlice(t.Data, 0) }

// FillSlice overwrites dst with elements first to first+len(dst)-1 of the
// draw, so that a slice of a larger tensor can be filled as if the whole
// tensor had been.
func (n Noise) FillSlice(dst []float32, first uint64) {
	chunks := min(runtime.GOMAXPROCS(0), len(dst)/parallelFillMin, maxFillWorkers+1)
	if chunks <= 1 {
		n.fillRange(dst, first)
		return
	}
	startFillWorkers()
	done := fillDone.Get().(chan struct{})
	// Chunks are even-sized so that no pair is computed twice.
	// At most chunks of them, so that sent < cap(done).
	size := ((len(dst)+chunks-1)/chunks + 1) &^ 1
	sent := 0
	for lo := size; lo < len(dst); lo += size {
		hi := min(lo+size, len(dst))
		fillJobs <- fillJob{n: n, dst: dst[lo:hi], first: first + uint64(lo), done: done}
		sent++
	}
	n.fillRange(dst[:min(size, len(dst))], first)
	for range sent {
		<-done
	}
	fillDone.Put(done)
}

// parallelFillMin is the least number of elements worth a goroutine: about
// 0.1 ms of work for the AVX2 kernel and 0.6 ms for the Go code, far above
// the few microseconds that handing it over costs. A 512 px latent (16384
// values) stays on one goroutine.
const parallelFillMin = 1 << 15

// maxFillWorkers bounds the background goroutines that share large fills.
const maxFillWorkers = 63

type fillJob struct {
	n     Noise
	dst   []float32
	first uint64
	done  chan<- struct{}
}

var (
	fillWorkersOnce sync.Once
	fillJobs        chan fillJob
	// fillDone recycles completion channels so that a parallel fill does
	// not allocate; each has room for every job of one fill, so workers
	// never block on it.
	fillDone = sync.Pool{New: func() any { return make(chan struct{}, maxFillWorkers) }}
)

// startFillWorkers starts the goroutines that serve parallel fills. They
// live for the rest of the process, blocked on a channel when idle, which
// costs nothing; starting goroutines per fill would allocate.
func startFillWorkers() {
	fillWorkersOnce.Do(func() {
		workers := min(max(runtime.NumCPU(), runtime.GOMAXPROCS(0))-1, maxFillWorkers)
		workers = max(workers, 1)
		fillJobs = make(chan fillJob, maxFillWorkers)
		for range workers {
			go func() {
				for job := range fillJobs {
					job.n.fillRange(job.dst, job.first)
					job.done <- struct{}{}
				}
			}()
		}
	})
}

// fillRange writes elements first.. of the draw into dst.
func (n Noise) fillRange(dst []float32, first uint64) {
	i := 0
	if first%2 == 1 && len(dst) > 0 {
		_, dst[0] = n.pair(first / 2)
		i = 1
	}
	j := (first + uint64(i)) / 2
	if useNoiseAsm {
		// The kernel writes whole blocks of pairs; the rest is done below.
		done := n.fillPairsAsm(dst[i:], j)
		i += 2 * done
		j += uint64(done)
	}
	for ; i+1 < len(dst); i += 2 {
		dst[i], dst[i+1] = n.pair(j)
		j++
	}
	if i < len(dst) {
		dst[i], _ = n.pair(j)
	}
}

// pair returns the two Gaussian values of pair index j.
func (n Noise) pair(j uint64) (z0, z1 float32) {
	x0, x1, x2, x3 := philox4x32x10(
		uint32(j), uint32(j>>32), uint32(n.Stream), uint32(n.Stream>>32),
		uint32(n.Seed), uint32(n.Seed>>32))
	m1 := (uint64(x1)<<32 | uint64(x0)) >> 11
	m2 := (uint64(x3)<<32 | uint64(x2)) >> 11
	return gaussianPair(m1, m2)
}

// Philox4x32 constants: the round multipliers and the Weyl key increments.
const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// philox4x32x10 is the Philox4x32 bijection with ten rounds applied to the
// counter (c0, c1, c2, c3) under the key (k0, k1). The rounds are written
// out: a loop costs more than the rounds themselves.
func philox4x32x10(c0, c1, c2, c3, k0, k1 uint32) (uint32, uint32, uint32, uint32) {
	c0, c1, c2, c3 = philoxRound(c0, c1, c2, c3, k0, k1)
	k0, k1 = k0+philoxW0, k1+philoxW1
	c0, c1, c2, c3 = philoxRound(c0, c1, c2, c3, k0, k1)
	k0, k1 = k0+philoxW0, k1+philoxW1
	c0, c1, c2, c3 = philoxRound(c0, c1, c2, c3, k0, k1)
	k0, k1 = k0+philoxW0, k1+philoxW1
	c0, c1, c2, c3 = philoxRound(c0, c1, c2, c3, k0, k1)
	k0, k1 = k0+philoxW0, k1+philoxW1
	c0, c1, c2, c3 = philoxRound(c0, c1, c2, c3, k0, k1)
	k0, k1 = k0+philoxW0, k1+philoxW1
	c0, c1, c2, c3 = philoxRound(c0, c1, c2, c3, k0, k1)
	k0, k1 = k0+philoxW0, k1+philoxW1
	c0, c1, c2, c3 = philoxRound(c0, c1, c2, c3, k0, k1)
	k0, k1 = k0+philoxW0, k1+philoxW1
	c0, c1, c2, c3 = philoxRound(c0, c1, c2, c3, k0, k1)
	k0, k1 = k0+philoxW0, k1+philoxW1
	c0, c1, c2, c3 = philoxRound(c0, c1, c2, c3, k0, k1)
	k0, k1 = k0+philoxW0, k1+philoxW1
	return philoxRound(c0, c1, c2, c3, k0, k1)
}

// philoxRound is one round of Philox4x32 under the round key (k0, k1).
func philoxRound(c0, c1, c2, c3, k0, k1 uint32) (uint32, uint32, uint32, uint32) {
	p0 := uint64(philoxM0) * uint64(c0)
	p1 := uint64(philoxM1) * uint64(c2)
	return uint32(p1>>32) ^ c1 ^ k0, uint32(p1), uint32(p0>>32) ^ c3 ^ k1, uint32(p0)
}

// gaussianPair is the Box-Muller transform of the 53-bit integers m1 (the
// radius) and m2 (the angle), exactly as the package documentation
// specifies.
func gaussianPair(m1, m2 uint64) (float32, float32) {
	x, y := gaussianPair64(m1, m2)
	return float32(x), float32(y)
}

// gaussianPair64 is gaussianPair before the final rounding to float32:
// r*cos and r*sin. The tests compare the assembly kernel with it, where a
// wrong last bit is not hidden by that rounding.
func gaussianPair64(m1, m2 uint64) (float64, float64) {
	u1 := float64(m1+1) * 0x1p-53
	r := math.Sqrt(-2 * detLog(u1))

	q := (m2 + 1<<50) >> 51
	t := float64(int64(m2)-int64(q<<51)) * 0x1p-51
	sin, cos := detSinCos(float64(t * (math.Pi / 2)))
	switch q & 3 {
	case 1:
		sin, cos = cos, -sin
	case 2:
		sin, cos = -sin, -cos
	case 3:
		sin, cos = -cos, sin
	}
	return float64(r * cos), float64(r * sin)
}

// The polynomial coefficients of detLog and detSinCos, each the float64
// nearest the exact value; the assembly kernels read the same ones.
var (
	// lnCoeffs[k] = 1/(2k+1), the series of atanh.
	lnCoeffs = [12]float64{1, 1.0 / 3, 1.0 / 5, 1.0 / 7, 1.0 / 9, 1.0 / 11,
		1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23}
	// sinCoeffs[k-1] = (-1)^k/(2k+1)! for k = 1 to 8.
	sinCoeffs = [8]float64{-1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880,
		-1.0 / 39916800, 1.0 / 6227020800, -1.0 / 1307674368000, 1.0 / 355687428096000}
	// cosCoeffs[k-1] = (-1)^k/(2k)! for k = 1 to 9.
	cosCoeffs = [9]float64{-1.0 / 2, 1.0 / 24, -1.0 / 720, 1.0 / 40320,
		-1.0 / 3628800, 1.0 / 479001600, -1.0 / 87178291200, 1.0 / 20922789888000,
		-1.0 / 6402373705728000}
)

// detLog is the natural logarithm of x in (0, 1] computed only with
// correctly rounded operations in a fixed order, so that every machine gets
// the same bits (see the package documentation). It is accurate to a few
// units in the last place.
func detLog(x float64) float64 {
	f, e := math.Frexp(x)
	if f < math.Sqrt2/2 {
		f *= 2
		e--
	}
	// ln f = 2 atanh(s) = 2 s (1 + s²/3 + s⁴/5 + ...), |s| <= 0.1716, so
	// twelve terms leave a truncation error below 1e-18.
	s := (f - 1) / (f + 1)
	z := float64(s * s)
	p := lnCoeffs[11]
	p = float64(p*z) + lnCoeffs[10]
	p = float64(p*z) + lnCoeffs[9]
	p = float64(p*z) + lnCoeffs[8]
	p = float64(p*z) + lnCoeffs[7]
	p = float64(p*z) + lnCoeffs[6]
	p = float64(p*z) + lnCoeffs[5]
	p = float64(p*z) + lnCoeffs[4]
	p = float64(p*z) + lnCoeffs[3]
	p = float64(p*z) + lnCoeffs[2]
	p = float64(p*z) + lnCoeffs[1]
	p = float64(p*z) + lnCoeffs[0]
	return float64(float64(e)*math.Ln2) + float64((2*s)*p)
}

// detSinCos returns sin a and cos a for |a| <= pi/4 by Taylor polynomials
// evaluated with correctly rounded operations in a fixed order. The first
// omitted terms are below 2e-18.
func detSinCos(a float64) (sin, cos float64) {
	w := float64(a * a)
	s := sinCoeffs[7]
	s = float64(s*w) + sinCoeffs[6]
	s = float64(s*w) + sinCoeffs[5]
	s = float64(s*w) + sinCoeffs[4]
	s = float64(s*w) + sinCoeffs[3]
	s = float64(s*w) + sinCoeffs[2]
	s = float64(s*w) + sinCoeffs[1]
	s = float64(s*w) + sinCoeffs[0]
	sin = a + float64(a*float64(w*s))

	c := cosCoeffs[8]
	c = float64(c*w) + cosCoeffs[7]
	c = float64(c*w) + cosCoeffs[6]
	c = float64(c*w) + cosCoeffs[5]
	c = float64(c*w) + cosCoeffs[4]
	c = float64(c*w) + cosCoeffs[3]
	c = float64(c*w) + cosCoeffs[2]
	c = float64(c*w) + cosCoeffs[1]
	c = float64(c*w) + cosCoeffs[0]
	cos = 1 + float64(w*c)
	return sin, cos
}
