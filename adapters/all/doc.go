// Package all registers every model family coop knows; the CLI imports it
// for its side effects.
package all
