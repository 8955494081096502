// Package demo holds the recipes `coop demo` runs: SPEC's six use cases
// (plain generation, a time-decoupled handoff, A/B blending with a sweep
// of the fusion weight, multi-control generation, single-pass
// super-resolution and Stable Cascade) written for the fixture zoo, the
// small self-written models that stand in for real weights.
//
// # Layout
//
// The recipes expect to lie in one directory DIR next to the zoo:
//
//	DIR/1-plain.yaml ... DIR/6-cascade.yaml    written by Write
//	DIR/zoo/sd15, DIR/zoo/sdxl, ...            the fixture folders (coop fixtures --out DIR/zoo)
//	DIR/zoo/controls/KEYWORD.png               control images: the grey version of the zoo
//	                                           photo with that keyword (grass.png, ...)
//
// Model paths read zoo/FOLDER, control images zoo/controls/KEYWORD.png;
// ZooFolders and ControlImages list exactly what the recipes use, so the
// demo can write those and nothing else.
package demo
