// Package latent holds the tensors that flow through the engine (latents,
// images, embeddings), the description of each model family's latent space,
// conversion between images and tensors, pixel-space resizing, reproducible
// Gaussian noise and the small allocation-free arithmetic that samplers,
// fusion and bridges run every step.
//
// # Tensor layout
//
// A Tensor is a dense row-major float32 array. Latents and images are rank 4
// in NCHW order (batch, channels, height, width). Images are [N, 3, H, W]
// with RGB channels; the package's own image functions produce values in
// [0, 1] (see FromImage), and a Space says whether its autoencoder wants
// [0, 1] or [-1, 1] (see Space.PixelsToModel). Functions that write into a
// tensor never reallocate it, so buffers can be reused across steps; the hot
// ones (Resizer.Resize, Noise.Fill, the arithmetic helpers) allocate nothing.
// A shape mismatch between tensors the caller built is a programming error
// and panics, as in gonum; anything that comes from a user (file names,
// sizes, configuration values) is reported as an error naming the culprit.
//
// # Latent spaces
//
// A Space names the channel count, downsampling factor and scaling of one
// autoencoder family. Raw encoder output z becomes a diffusion latent by
//
//	latent = (z - shift) * scale                  (ShiftFactor, ScalingFactor)
//	latent = (z - mean[c]) * scale / std[c]       (LatentsMean, LatentsStd, SDXL style)
//
// and a latent goes back to decoder input by the inverse,
//
//	z = latent / scale + shift
//	z = latent * std[c] / scale + mean[c]
//
// which is what diffusers does around its VAE calls. Stable Cascade's stage A
// multiplies latents by 0.3764 before decoding, so in this convention its
// ScalingFactor is 1/0.3764.
//
// # Resizing
//
// Resize and Resizer resample NCHW tensors with separable Bilinear, Bicubic
// (Catmull-Rom, a = -0.5, as PIL and torch's antialiased bicubic) or Lanczos3
// kernels, with pixel centres aligned (align_corners=false). When shrinking,
// the kernel is widened by the scale factor so that every source pixel
// contributes (antialiasing, as PIL does); kernels cut by the image border are
// renormalised to sum to one, as in PIL and golang.org/x/image/draw.
//
// # Noise generator
//
// Noise draws standard Gaussian values that depend only on (Seed, Stream,
// index), never on scheduling, GOMAXPROCS or architecture, so a seed gives the
// same image everywhere. Another implementation reproduces the bits as
// follows.
//
// Element i of the draw of Noise{Seed, Stream} comes from the pair index
// j = i / 2 (integer division); even i take the first value of the pair, odd i
// the second.
//
// 1. Philox4x32-10 (Salmon et al. 2011, as in Random123) with key
// (k0, k1) = (low 32 bits of Seed, high 32 bits of Seed) and counter
// (c0, c1, c2, c3) = (low and high 32 bits of j, low and high 32 bits of
// Stream). A round maps the counter to
// (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0)) with
// M0 = 0xD2511F53, M1 = 0xCD9E8D57 and hi/lo the halves of the 64-bit
// product; ten rounds are applied and after each of the first nine the key is
// bumped by (0x9E3779B9, 0xBB67AE85) modulo 2^32. The output words are
// (x0, x1, x2, x3).
//
// 2. Two 53-bit integers: m1 = (x1<<32 | x0) >> 11 and m2 = (x3<<32 | x2) >> 11.
//
// 3. Radius: u1 = (m1 + 1) * 2^-53, in (0, 1], exactly. L = ln(u1) computed as
// follows: write u1 = f * 2^e with f in [0.5, 1) (exact, frexp); if
// f < 0x1.6a09e667f3bcdp-1 (the float64 nearest sqrt(1/2)) then f = 2f and
// e = e - 1; s = (f - 1) / (f + 1); z = s*s;
// p = c11, then p = p*z + c_k for k = 10 down to 0, with c_k the float64
// nearest 1/(2k+1); L = e*ln2 + (2*s)*p, where ln2 is the float64 nearest ln 2.
// r = sqrt(-2 * L).
//
// 4. Angle: the quadrant q = (m2 + 2^50) >> 51 (0 to 4) and the remainder
// t = (m2 - q*2^51) * 2^-51 in [-0.5, 0.5), both exact, so that the angle
// 2*pi*m2*2^-53 equals q*pi/2 + a with a = t * (pi/2) (pi/2 the float64
// nearest). sin a and cos a by Taylor polynomials in w = a*a:
// sin a = a + a*(w*S) with S = s8, then S = S*w + s_k for k = 7 down to 1,
// s_k the float64 nearest (-1)^k/(2k+1)!; cos a = 1 + w*C with C = c9, then
// C = C*w + c_k for k = 8 down to 1, c_k the float64 nearest (-1)^k/(2k)!.
// Then (cos, sin) of the full angle is (cos a, sin a), (-sin a, cos a),
// (-cos a, -sin a) or (sin a, -cos a) for q mod 4 = 0, 1, 2, 3.
//
// 5. The pair is (float32(r * cos), float32(r * sin)), each rounded to
// nearest even.
//
// Every operation above is an IEEE-754 double operation rounded to nearest
// (each product is rounded before it is added: the Go code forces this with
// explicit float64 conversions, which forbid fused multiply-add), or exact
// integer and bit manipulation. The package does not use math.Log, math.Sin
// or math.Cos for this: math.Log is assembly on amd64 and s390x and Go code
// elsewhere, and the compiler may fuse multiply-adds inside the pure Go
// versions on arm64, ppc64le and s390x, so their last bit can differ between
// machines. math.Sqrt is IEEE-754 correctly rounded everywhere. The results
// agree with math.Log, math.Sin and math.Cos to within a few units in the
// last place of a float64, far below float32 resolution.
//
// Streams separate the uses of randomness: NewStream(seed, name) sets Stream
// to StreamID(name), the 64-bit FNV-1a hash of the name's bytes (offset basis
// 0xcbf29ce484222325, prime 0x100000001b3), so that for example the initial
// noise and the re-noising of a resolution bridge at step 12 never share
// values.
//
// Only the noise is promised bit-identical across architectures. The other
// arithmetic in this package is deterministic on one machine (no dependence
// on scheduling), but may differ in the last bit between architectures where
// the compiler fuses multiply-adds.
package latent
