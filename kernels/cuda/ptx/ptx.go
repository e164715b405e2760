// Package ptx embeds the PTX of the CUDA kernels (kernels/cuda/*.cu), one
// module per op family and architecture, written by scripts/ptx.sh with
// Debian's clang and committed; scripts/test.sh fails when it is stale.
// The CUDA driver JIT-compiles it for the GPU it finds at run time. None of
// it has ever run on a GPU.
package ptx

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed sm_80/*.ptx sm_90a/*.ptx
var files embed.FS

// Archs are the PTX targets, in the order the loader prefers them: sm_90a
// (Hopper's wgmma and TMA; loads only on compute capability 9.0) and sm_80
// (any GPU of compute capability 8.0 or newer).
var Archs = []string{"sm_90a", "sm_80"}

// Module is one op family's PTX.
type Module struct {
	Name string // the family, the .cu file's base name
	PTX  []byte // the text, without a terminating NUL
}

// Modules returns the modules of arch, sorted by name.
func Modules(arch string) ([]Module, error) {
	names, err := fs.Glob(files, arch+"/*.ptx")
	if err != nil || len(names) == 0 {
		return nil, fmt.Errorf("ptx: no modules for %q", arch)
	}
	sort.Strings(names)
	out := make([]Module, 0, len(names))
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("ptx: %w", err)
		}
		out = append(out, Module{Name: strings.TrimSuffix(path.Base(n), ".ptx"), PTX: b})
	}
	return out, nil
}
