package sampler_test

// An independent float64 evaluation of the schedules and sampler equations,
// written from SPEC section 2 and diffusers' scheduler sources without
// sharing code with the package. The conformance tests compare the package
// against it step by step.

import (
	"math"
	"sort"

	"github.com/coop-diffusion/coop/latent"
)

// refCase is a sampler configuration in the reference's own terms.
type refCase struct {
	sampler      string // canonical name
	steps        int
	spacing      string
	offset       int
	karras       bool
	eta          float64
	clip         float64 // clip range for x0; 0 = off
	alphaToOne   bool
	origSteps    int // LCM
	betaSchedule string
}

const refT = 1000

// refAbarTable is prod(1 - beta) for SD's betas.
func refAbarTable(schedule string) []float64 {
	out := make([]float64, refT)
	acc := 1.0
	for i := 0; i < refT; i++ {
		frac := float64(i) / float64(refT-1)
		var beta float64
		switch schedule {
		case "linear":
			beta = 0.00085 + frac*(0.012-0.00085)
		default: // scaled_linear
			r := math.Sqrt(0.00085) + frac*(math.Sqrt(0.012)-math.Sqrt(0.00085))
			beta = r * r
		}
		acc *= 1 - beta
		out[i] = acc
	}
	return out
}

func refSigmaOf(abar float64) float64 { return math.Sqrt(1/abar - 1) }

// refInterp is numpy's interp on an evenly spaced grid 0..len-1.
func refInterp(x float64, ys []float64) float64 {
	if x <= 0 {
		return ys[0]
	}
	if x >= float64(len(ys)-1) {
		return ys[len(ys)-1]
	}
	i := math.Floor(x)
	f := x - i
	return ys[int(i)] + f*(ys[int(i)+1]-ys[int(i)])
}

// refSigmaToT is diffusers' _sigma_to_t: interpolate in log sigma.
func refSigmaToT(sigma float64, logSigmas []float64) float64 {
	ls := math.Log(math.Max(sigma, 1e-10))
	// largest index whose log sigma is <= ls, clipped to len-2
	idx := sort.Search(len(logSigmas), func(k int) bool { return logSigmas[k] > ls }) - 1
	if idx < 0 {
		idx = 0
	}
	if idx > len(logSigmas)-2 {
		idx = len(logSigmas) - 2
	}
	w := (logSigmas[idx] - ls) / (logSigmas[idx] - logSigmas[idx+1])
	w = math.Min(1, math.Max(0, w))
	return float64(idx) + w
}

func refKarras(smin, smax float64, n int) []float64 {
	out := make([]float64, n)
	lo, hi := math.Pow(smin, 1.0/7), math.Pow(smax, 1.0/7)
	for i := range out {
		ramp := 0.0
		if n > 1 {
			ramp = float64(i) / float64(n-1)
		}
		out[i] = math.Pow(hi+ramp*(lo-hi), 7)
	}
	return out
}

// refNpRound is numpy's round: half to even.
func refNpRound(v float64) float64 {
	f := math.Floor(v)
	switch d := v - f; {
	case d > 0.5:
		return f + 1
	case d < 0.5:
		return f
	}
	if math.Mod(f, 2) == 0 {
		return f
	}
	return f + 1
}

// refSpacing returns the DDIM/Euler timesteps of a spacing.
func refSpacing(spacing string, n, offset int) []float64 {
	var ts []float64
	switch spacing {
	case "leading":
		for k := n - 1; k >= 0; k-- {
			ts = append(ts, float64(k*(refT/n)+offset))
		}
	case "trailing":
		step := float64(refT) / float64(n)
		for k := 0; k < n; k++ { // np.arange(T, 0, -T/N)
			ts = append(ts, refNpRound(float64(refT)-float64(k)*step)-1)
		}
	case "linspace":
		for k := n - 1; k >= 0; k-- {
			if k == n-1 {
				ts = append(ts, refT-1)
				continue
			}
			ts = append(ts, float64(k)*(float64(refT-1)/float64(n-1))) // numpy: i*step
		}
	}
	return ts
}

// refPlan is everything a reference trajectory needs.
type refPlan struct {
	t          []float64 // what the model is told
	abar       []float64 // noise level the model sees at step i
	abarNext   []float64 // noise level after step i
	sigmas     []float64 // sigma-based samplers: n+1 values, the last 0
	initSigma  float64
	sigmaSpace bool // euler-family: state x = z * sqrt(sigma^2+1)
	noiseAt    []bool
	final      float64 // abar after the last step
}

func buildRefPlan(rc refCase) refPlan {
	ac := refAbarTable(rc.betaSchedule)
	n := rc.steps
	var p refPlan
	p.initSigma = 1
	switch rc.sampler {
	case "ddim", "ddpm":
		final := 1.0
		if rc.sampler == "ddim" && !rc.alphaToOne {
			final = ac[0]
		}
		for _, tf := range refSpacing(rc.spacing, n, rc.offset) {
			t := int(refNpRound(tf))
			prev := t - refT/n
			ap := final
			if prev >= 0 {
				ap = ac[prev]
			}
			p.t = append(p.t, float64(t))
			p.abar = append(p.abar, ac[t])
			p.abarNext = append(p.abarNext, ap)
			stoch := (rc.sampler == "ddim" && rc.eta > 0) || (rc.sampler == "ddpm" && t > 0)
			p.noiseAt = append(p.noiseAt, stoch)
		}
	case "euler", "euler_a":
		sig := make([]float64, refT)
		logs := make([]float64, refT)
		for i, a := range ac {
			sig[i] = refSigmaOf(a)
			logs[i] = math.Log(sig[i])
		}
		p.t = refSpacing(rc.spacing, n, rc.offset)
		for _, t := range p.t {
			p.sigmas = append(p.sigmas, refInterp(t, sig))
		}
		if rc.karras {
			p.sigmas = refKarras(p.sigmas[n-1], p.sigmas[0], n)
			for i, s := range p.sigmas {
				p.t[i] = refSigmaToT(s, logs)
			}
		}
		p.sigmas = append(p.sigmas, 0)
		p.sigmaSpace = true
		maxSigma := p.sigmas[0]
		p.initSigma = maxSigma
		if rc.spacing == "leading" {
			p.initSigma = math.Sqrt(maxSigma*maxSigma + 1)
		}
		for i := 0; i < n; i++ {
			p.noiseAt = append(p.noiseAt, rc.sampler == "euler_a" && p.sigmas[i+1] > 0)
		}
	case "dpmpp_2m", "dpmpp_2m_karras":
		sig := make([]float64, refT)
		logs := make([]float64, refT)
		for i, a := range ac {
			sig[i] = refSigmaOf(a)
			logs[i] = math.Log(sig[i])
		}
		switch rc.spacing {
		case "linspace":
			for k := n; k >= 1; k-- {
				p.t = append(p.t, refNpRound(float64(k)*(float64(refT-1)/float64(n))))
			}
		case "leading":
			r := refT / (n + 1)
			for k := n; k >= 1; k-- {
				p.t = append(p.t, float64(k*r+rc.offset))
			}
		case "trailing":
			p.t = refSpacing("trailing", n, 0)
		}
		if rc.karras || rc.sampler == "dpmpp_2m_karras" {
			p.sigmas = refKarras(sig[0], sig[refT-1], n)
			for i, s := range p.sigmas {
				p.t[i] = refNpRound(refSigmaToT(s, logs))
			}
		} else {
			for _, t := range p.t {
				p.sigmas = append(p.sigmas, refInterp(t, sig))
			}
		}
		p.sigmas = append(p.sigmas, 0)
		p.noiseAt = make([]bool, n)
	case "lcm":
		k := refT / rc.origSteps
		var origin []int
		for j := rc.origSteps; j >= 1; j-- {
			origin = append(origin, j*k-1)
		}
		for i := 0; i < n; i++ {
			idx := int(math.Floor(float64(i) * float64(len(origin)) / float64(n)))
			p.t = append(p.t, float64(origin[idx]))
		}
		for i := range p.t {
			p.noiseAt = append(p.noiseAt, i < n-1)
		}
	case "ddpm_wuerstchen":
		cosine := func(r float64) float64 {
			const s = 0.008
			v := math.Cos((r+s)/(1+s)*math.Pi/2) / math.Cos(s/(1+s)*math.Pi/2)
			return math.Min(0.9999, math.Max(1e-4, v*v))
		}
		for i := 0; i < n; i++ {
			r := 1 - float64(i)/float64(n)
			rn := 1 - float64(i+1)/float64(n)
			p.t = append(p.t, r)
			p.abar = append(p.abar, cosine(r))
			p.abarNext = append(p.abarNext, cosine(rn))
			p.noiseAt = append(p.noiseAt, i < n-1)
		}
	}
	if p.sigmas != nil {
		for i := 0; i < n; i++ {
			p.abar = append(p.abar, 1/(1+p.sigmas[i]*p.sigmas[i]))
			p.abarNext = append(p.abarNext, 1/(1+p.sigmas[i+1]*p.sigmas[i+1]))
		}
	}
	if rc.sampler == "lcm" {
		for i, t := range p.t {
			p.abar = append(p.abar, ac[int(t)])
			if i+1 < n {
				p.abarNext = append(p.abarNext, ac[int(p.t[i+1])])
			} else {
				p.abarNext = append(p.abarNext, 1)
			}
		}
	}
	p.final = p.abarNext[n-1]
	return p
}

// gaussData is data N(mu_c, s_c^2) per channel; its exact epsilon
// prediction at noise level a is E[eps | z] = sqrt(1-a) (z - sqrt(a) mu) /
// (a s^2 + 1 - a), because z = sqrt(a) x0 + sqrt(1-a) eps is jointly
// Gaussian with eps, with Cov(eps, z) = sqrt(1-a) and Var z = a s^2 + 1 - a.
type gaussData struct{ mu, s []float64 }

func (g gaussData) eps(c int, z, a float64) float64 {
	return math.Sqrt(1-a) * (z - math.Sqrt(a)*g.mu[c]) / (a*g.s[c]*g.s[c] + 1 - a)
}

// refRun runs the reference sampler over steps start..end-1, from the
// state whose VP latent is zStart; chanOf maps an element to its channel
// and noise supplies step i's noise. It calls visit (if not nil) after
// every step with the state in the sampler's own space, and returns the
// VP latent after the last step.
func refRun(rc refCase, p refPlan, g gaussData, start, end int, zStart []float64, chanOf func(int) int,
	noise func(step int, dst []float64), visit func(step int, x []float64)) []float64 {
	n := len(p.t)
	x := append([]float64(nil), zStart...)
	if p.sigmaSpace {
		s := p.sigmas[start]
		for j := range x {
			x[j] *= math.Sqrt(s*s + 1)
		}
	}
	e := make([]float64, len(x))
	nz := make([]float64, len(x))
	var prevX0 []float64 // DPM++ history
	lowerOrderNums := 0
	for i := start; i < end; i++ {
		a := p.abar[i]
		// the model sees the VP latent
		for j := range x {
			z := x[j]
			if p.sigmaSpace {
				z = x[j] / math.Sqrt(p.sigmas[i]*p.sigmas[i]+1)
			}
			e[j] = g.eps(chanOf(j), z, a)
		}
		if p.noiseAt[i] {
			noise(i, nz)
		}
		switch rc.sampler {
		case "ddim":
			ap := p.abarNext[i]
			variance := (1 - ap) / (1 - a) * (1 - a/ap)
			std := rc.eta * math.Sqrt(variance)
			for j := range x {
				x0 := (x[j] - math.Sqrt(1-a)*e[j]) / math.Sqrt(a)
				ej := e[j]
				if rc.clip > 0 {
					x0 = math.Max(-rc.clip, math.Min(rc.clip, x0))
					ej = (x[j] - math.Sqrt(a)*x0) / math.Sqrt(1-a)
				}
				dir := math.Sqrt(math.Max(0, 1-ap-std*std)) * ej
				x[j] = math.Sqrt(ap)*x0 + dir
				if p.noiseAt[i] {
					x[j] += std * nz[j]
				}
			}
		case "ddpm":
			ap := p.abarNext[i]
			curAlpha := a / ap
			curBeta := 1 - curAlpha
			for j := range x {
				x0 := (x[j] - math.Sqrt(1-a)*e[j]) / math.Sqrt(a)
				if rc.clip > 0 {
					x0 = math.Max(-rc.clip, math.Min(rc.clip, x0))
				}
				predCoeff := math.Sqrt(ap) * curBeta / (1 - a)
				curCoeff := math.Sqrt(curAlpha) * (1 - ap) / (1 - a)
				x[j] = predCoeff*x0 + curCoeff*x[j]
				if p.noiseAt[i] {
					v := math.Max((1-ap)/(1-a)*curBeta, 1e-20)
					x[j] += math.Sqrt(v) * nz[j]
				}
			}
		case "euler":
			s, sn := p.sigmas[i], p.sigmas[i+1]
			for j := range x {
				x0 := x[j] - s*e[j]
				d := (x[j] - x0) / s
				x[j] += d * (sn - s)
			}
		case "euler_a":
			from, to := p.sigmas[i], p.sigmas[i+1]
			up := math.Sqrt(to * to * (from*from - to*to) / (from * from))
			down := math.Sqrt(to*to - up*up)
			for j := range x {
				x0 := x[j] - from*e[j]
				d := (x[j] - x0) / from
				x[j] += d * (down - from)
				if p.noiseAt[i] {
					x[j] += nz[j] * up
				}
			}
		case "dpmpp_2m", "dpmpp_2m_karras":
			alphaSigma := func(sg float64) (float64, float64) {
				al := 1 / math.Sqrt(sg*sg+1)
				return al, sg * al
			}
			as0, ss0 := alphaSigma(p.sigmas[i])
			m0 := make([]float64, len(x))
			for j := range x {
				m0[j] = (x[j] - ss0*e[j]) / as0
			}
			lowerFinal := i == n-1 // final sigma is zero
			at, st := alphaSigma(p.sigmas[i+1])
			if lowerOrderNums < 1 || lowerFinal {
				for j := range x {
					if p.sigmas[i+1] == 0 {
						x[j] = m0[j]
						continue
					}
					h := (math.Log(at) - math.Log(st)) - (math.Log(as0) - math.Log(ss0))
					x[j] = (st/ss0)*x[j] - at*(math.Exp(-h)-1)*m0[j]
				}
			} else {
				as1, ss1 := alphaSigma(p.sigmas[i-1])
				lt := math.Log(at) - math.Log(st)
				l0 := math.Log(as0) - math.Log(ss0)
				l1 := math.Log(as1) - math.Log(ss1)
				h, h0 := lt-l0, l0-l1
				r0 := h0 / h
				for j := range x {
					d0 := m0[j]
					d1 := (m0[j] - prevX0[j]) / r0
					x[j] = (st/ss0)*x[j] - at*(math.Exp(-h)-1)*d0 - 0.5*at*(math.Exp(-h)-1)*d1
				}
			}
			prevX0 = m0
			if lowerOrderNums < 2 {
				lowerOrderNums++
			}
		case "lcm":
			ap := p.abarNext[i]
			u := p.t[i] * 10
			cSkip := 0.25 / (u*u + 0.25)
			cOut := u / math.Sqrt(u*u+0.25)
			for j := range x {
				x0 := (x[j] - math.Sqrt(1-a)*e[j]) / math.Sqrt(a)
				if rc.clip > 0 {
					x0 = math.Max(-rc.clip, math.Min(rc.clip, x0))
				}
				den := cOut*x0 + cSkip*x[j]
				if i != n-1 {
					x[j] = math.Sqrt(ap)*den + math.Sqrt(1-ap)*nz[j]
				} else {
					x[j] = den
				}
			}
		case "ddpm_wuerstchen":
			ap := p.abarNext[i]
			alpha := a / ap
			for j := range x {
				mu := math.Sqrt(1/alpha) * (x[j] - (1-alpha)*e[j]/math.Sqrt(1-a))
				std := math.Sqrt((1 - alpha) * (1 - ap) / (1 - a))
				x[j] = mu
				if p.noiseAt[i] {
					x[j] += std * nz[j]
				}
			}
		default:
			panic("reference: no equations for " + rc.sampler)
		}
		if visit != nil {
			visit(i, x)
		}
	}
	if p.sigmaSpace {
		s := p.sigmas[end]
		for j := range x {
			x[j] /= math.Sqrt(s*s + 1)
		}
	}
	return x
}

// refNoise draws step i's noise the way the package documents it: elements
// i*2^40 onwards of the trajectory's stream.
func refNoise(src latent.Noise) func(step int, dst []float64) {
	var buf []float32
	return func(step int, dst []float64) {
		if len(buf) != len(dst) {
			buf = make([]float32, len(dst))
		}
		src.FillSlice(buf, uint64(step)<<40)
		for j, v := range buf {
			dst[j] = float64(v)
		}
	}
}
