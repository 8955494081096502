package latent

import (
	"fmt"
	"math"

	"github.com/coop-diffusion/coop/internal/f32"
)

// The helpers below are the per-step arithmetic of samplers, fusion and
// bridges. None allocates. Where tensors are combined they must have the
// same shape, or the helper panics: shapes come from the engine, not from
// users. dst may be the same tensor as an input. Combinations are computed
// in float64 and rounded once to float32, which keeps cancellations such as
// x0 = (x - sqrt(1 - abar) eps) / sqrt(abar) at high noise accurate.

func mustMatch(op string, a, b *Tensor) {
	if !a.SameShape(b) {
		panic(fmt.Sprintf("latent.%s: shapes %v and %v differ", op, a.Shape, b.Shape))
	}
}

// Axpby sets dst = a*x + b*y element-wise.
func Axpby(dst *Tensor, a float64, x *Tensor, b float64, y *Tensor) {
	mustMatch("Axpby", dst, x)
	mustMatch("Axpby", dst, y)
	f32.AXPBY(dst.Data, a, x.Data, b, y.Data)
}

// Scale multiplies t by a in place.
func Scale(t *Tensor, a float64) { f32.Scale(t.Data, a, t.Data) }

// Add sets dst = x + y element-wise.
func Add(dst, x, y *Tensor) {
	mustMatch("Add", dst, x)
	mustMatch("Add", dst, y)
	d := dst.Data
	xs, ys := x.Data[:len(d)], y.Data[:len(d)]
	for i := range d {
		d[i] = xs[i] + ys[i]
	}
}

// Lerp sets dst = (1-w)*x + w*y element-wise, which gives x exactly at w = 0
// and y exactly at w = 1: the fusion of two predictions with weight w on y.
func Lerp(dst, x, y *Tensor, w float64) {
	mustMatch("Lerp", dst, x)
	mustMatch("Lerp", dst, y)
	f32.AXPBY(dst.Data, 1-w, x.Data, w, y.Data)
}

// Fill sets every element of t to v.
func Fill(t *Tensor, v float32) {
	for i := range t.Data {
		t.Data[i] = v
	}
}

// MeanStd returns the mean and the population standard deviation (divided
// by n, not n-1) of all elements, computed in float64 in two passes. An
// empty tensor gives NaN, NaN.
func MeanStd(t *Tensor) (mean, std float64) {
	if len(t.Data) == 0 {
		return math.NaN(), math.NaN()
	}
	sum := 0.0
	for _, v := range t.Data {
		sum += float64(v)
	}
	mean = sum / float64(len(t.Data))
	ss := 0.0
	for _, v := range t.Data {
		d := float64(v) - mean
		ss += d * d
	}
	return mean, math.Sqrt(ss / float64(len(t.Data)))
}

// PSNR returns the peak signal-to-noise ratio of b against a in decibels,
// 10 log10(peak² / MSE), with peak the width of the range the values live
// in: 1 for images in [0, 1], 2 for [-1, 1], 255 for 8-bit samples. Equal
// tensors give +Inf.
func PSNR(a, b *Tensor, peak float64) float64 {
	mustMatch("PSNR", a, b)
	if len(a.Data) == 0 {
		return math.NaN()
	}
	bs := b.Data[:len(a.Data)]
	ss := 0.0
	for i, v := range a.Data {
		d := float64(v) - float64(bs[i])
		ss += d * d
	}
	mse := ss / float64(len(a.Data))
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(peak*peak/mse)
}

// Lag1Autocorrelation measures how much neighbouring values of a rank-4
// NCHW tensor resemble each other, the signature of noise that is no longer
// white. For each (n, c) plane with mean m and variance v it takes the mean
// of (p - m)(q - m) over horizontally adjacent pairs (p, q), divided by v,
// and the same over vertically adjacent pairs; it returns the average of
// these coefficients over both directions and all planes. White noise gives
// about 0 (within about 1/sqrt(number of pairs)); white noise upsampled 2x
// bilinearly gives about 0.75; a checkerboard of ±1 gives -1. Planes of zero variance
// carry no information and are skipped; if all are, the result is NaN.
func Lag1Autocorrelation(t *Tensor) float64 {
	if len(t.Shape) != 4 {
		panic(fmt.Sprintf("latent.Lag1Autocorrelation: tensor %v is not rank 4", t))
	}
	h, w := t.H(), t.W()
	plane := h * w
	sum, count := 0.0, 0
	for p := range t.N() * t.C() {
		d := t.Data[p*plane : (p+1)*plane]
		m := 0.0
		for _, v := range d {
			m += float64(v)
		}
		m /= float64(plane)
		v := 0.0
		for _, x := range d {
			v += (float64(x) - m) * (float64(x) - m)
		}
		v /= float64(plane)
		if v == 0 {
			continue
		}
		if w > 1 {
			c := 0.0
			for y := range h {
				row := d[y*w : (y+1)*w]
				for x := 0; x+1 < w; x++ {
					c += (float64(row[x]) - m) * (float64(row[x+1]) - m)
				}
			}
			sum += c / float64(h*(w-1)) / v
			count++
		}
		if h > 1 {
			c := 0.0
			for y := 0; y+1 < h; y++ {
				row, next := d[y*w:(y+1)*w], d[(y+1)*w:(y+2)*w]
				for x := range row {
					c += (float64(row[x]) - m) * (float64(next[x]) - m)
				}
			}
			sum += c / float64((h-1)*w) / v
			count++
		}
	}
	if count == 0 {
		return math.NaN()
	}
	return sum / float64(count)
}
