// Package graphs holds the execution plan compiled from a recipe: stages,
// the steps of the shared schedule each one runs, its participants with
// their weights, windows and controls, and how the trajectory enters each
// stage. The engine (package coop) runs a Plan; `coop plan` prints one.
// A Plan refers to models by their recipe names only, so it can be built,
// checked and counted from signatures alone, before any weights load.
package graphs
