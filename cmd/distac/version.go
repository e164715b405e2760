package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/distac/distac/ffi"
)

// versionText is what --version prints: the module version (or "devel" for
// a build from a checkout), the commit it was built from (with "+dirty" for
// uncommitted changes), the Go toolchain and the C kernels' ABI version, and
// whether this binary has the C kernels (a build without cgo has only the
// reference backend).
func versionText() string {
	version, commit := "devel", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			version = v
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if dirty {
			commit += "+dirty"
		}
	}
	kernels := "C kernels built in"
	if !ffi.KernelsBuilt() {
		kernels = "no C kernels (built without cgo: reference backend only)"
	}
	return fmt.Sprintf("distac %s (commit %s, %s, %s/%s, kernel ABI %d, %s)", version, commit, runtime.Version(),
		runtime.GOOS, runtime.GOARCH, ffi.KernelsABI, kernels)
}
