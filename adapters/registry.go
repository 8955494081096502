package adapters

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/coop-diffusion/coop/internal/modelfolder"
)

// Loader opens the model folders of one family. Family packages register
// one from their init function; Check and Load find it by family.
type Loader interface {
	// Check reads what the family needs from the folder's graph
	// signatures and configuration files, without loading weights, fills
	// in the rest of info (Name, Dir, Family and Detected are set) and
	// returns the first mismatch between a model and its role as an error
	// naming the model, the input and what was expected.
	Check(f *modelfolder.Folder, info *Info, opts LoadOptions) error
	// Load prepares the models Check described. info is a new Info with
	// Name, Dir, Family and Detected set, for the loader to fill as Check
	// does, so a loaded model never shares the Info a check returned. It
	// opens no ONNX Runtime session: each model's session opens on its
	// first use and is kept until Model.Close.
	Load(ctx context.Context, f *modelfolder.Folder, info *Info, opts LoadOptions) (*Model, error)
}

var registry = struct {
	sync.RWMutex
	loaders map[Family]Loader
}{loaders: map[Family]Loader{}}

// Register makes a loader available for family. It panics when the family
// already has one, since two packages claiming a family is a programming
// error.
func Register(family Family, l Loader) {
	registry.Lock()
	defer registry.Unlock()
	if family == "" || l == nil {
		panic("adapters.Register: empty family or nil loader")
	}
	if _, dup := registry.loaders[family]; dup {
		panic(fmt.Sprintf("adapters.Register: family %q registered twice", family))
	}
	registry.loaders[family] = l
}

// Families lists the registered families, sorted.
func Families() []Family {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]Family, 0, len(registry.loaders))
	for f := range registry.loaders {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func loaderFor(family Family) (Loader, error) {
	registry.RLock()
	l, ok := registry.loaders[family]
	registry.RUnlock()
	if ok {
		return l, nil
	}
	return nil, fmt.Errorf("no adapter for family %q (known: %v; a program must import the family's package, or adapters/all, to register it)", family, Families())
}
