// Package folder holds what the family loaders read from a model folder
// beside the graphs: components by role, the scheduler configuration, the
// model's time conversion and its native image size; and Loader, which
// makes a family's assembly function its adapters.Loader.
package folder
