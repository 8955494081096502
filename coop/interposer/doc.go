// Package interposer carries clean latents from one latent space to another
// without leaving latent space: a fitted linear map that replaces the pixel
// bridge's decode, resize and encode.
//
// The pixel bridge of the fusion engine computes E_to(resize(D_from(x))) for
// every foreign prediction, two autoencoder passes per direction and step.
// An Interposer computes instead
//
//	y[o, p] = b[o] + sum over c, (dy, dx) of W[o, c, dy, dx] · r[c, p + (dy, dx)]
//
// where r is the source latent resampled to the target's latent grid (with a
// latent.Resizer, antialiased when shrinking; not at all when the grids
// agree) and (dy, dx) runs over a Window x Window neighbourhood, edge
// clamped. With the default Window of 1 this is a per-pixel affine map from
// the source channels to the target channels; resampling and a per-pixel
// affine map commute, so Apply does the mapping on whichever grid is
// smaller.
//
// Fit learns W and b by linear least squares (gonum) from calibration
// images: each image is encoded in the source space, and the pixel bridge's
// output for that latent (decode, resize in pixels, encode into the target
// space) is the target, so the map is fitted to exactly what it replaces.
// Evaluate measures an interposer against the pixel bridge on other images.
//
// An interposer is saved as a small JSON file (see Save for the format) that
// a recipe names, and `coop interposer fit` writes.
package interposer
