// Package interposer carries clean latents from one latent space to another
// without leaving latent space: a fitted linear map that replaces the pixel
// bridge's decode, resize and encode.
//
// The pixel bridge of the fusion engine computes E_to(resize(D_from(x))) for
// every foreign prediction, two autoencoder passes per direction and step.
// An Interposer computes instead a linear map of x, in three steps:
//
//  1. Resample the source latent to the input phase grid (latent.Resizer,
//     antialiased when shrinking; skipped when the sizes agree).
//  2. For every pixel of the working grid, the coarser of the two latent
//     grids, read its features: the source samples of its block of input
//     phases (space-to-depth) in a Window x Window neighbourhood of working
//     pixels, edge clamped; multiply by the fitted matrix and add the bias,
//     which gives the target channels at each of its output phases.
//  3. Write the output phases as blocks (depth-to-space) and resample that
//     grid to the target's.
//
// Apply runs every step on the float32 kernels of internal/f32 (assembly
// with AVX2 and FMA where the processor has them) and allocates nothing
// after its first call for a pair of shapes: a carry costs 3 to 35 µs on the
// fixture zoo's grids, 0.1% to 3.3% of the pixel bridge it replaces
// (docs/PERFORMANCE.md, "Latent interposer").
//
// Between grids of equal size there are no phases and the map is a
// per-pixel affine map from source to target channels. Where one grid is
// finer, a coarse pixel covers several fine ones, and the phases let the map
// read or write their structure instead of averaging it away: between the
// f8 and f4 spaces of the fixture zoo that makes the map exact, and it adds
// 7 to 15 dB where Stable Cascade's stage C is involved (docs/PERFORMANCE.md,
// "Latent interposer"). Layout describes the geometry; Options.PerPixel
// turns the phases off.
//
// Fit learns the matrix by linear least squares (gonum) from calibration
// images: each image is encoded in the source space, and the pixel bridge's
// output for that latent (decode, resize in pixels, encode into the target
// space) is the target, so the map is fitted to exactly what it replaces.
// The ridge penalty is chosen by cross-validation over whole images, which
// keeps maps with many phases from overfitting a few images. Evaluate
// measures an interposer against the pixel bridge on other images.
//
// An interposer is saved as a small JSON file (see Save for the format)
// that a recipe names, and `coop interposer fit` writes.
package interposer
