package merge

import (
	"hash/fnv"

	"github.com/distac/distac/ffi"
)

// dareKey keys DARE's mask stream (ffi.DareKeep) for one task's tensor:
// FNV-1a of the name, mixed with the task index and the user's seed, so the
// masks of two tasks, two tensors or two seeds are unrelated.
func dareKey(seed uint64, task int, name string) uint64 {
	const golden64 = 0x9E3779B97F4A7C15 // 2^64 / phi, SplitMix64's increment
	h := fnv.New64a()
	h.Write([]byte(name))
	return ffi.Mix64(seed + golden64*ffi.Mix64(h.Sum64()+golden64*uint64(task+1)))
}
