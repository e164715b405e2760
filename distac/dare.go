package distac

import "hash/fnv"

// DARE's random mask is a counter-based stream: element i of tensor name in
// task t is kept iff u_i >= p, where u_i is the i-th output of SplitMix64
// seeded with dareKey(seed, t, name), as a 53-bit fraction in [0, 1). Any
// element's decision is computable on its own, so chunks and workers agree.

const golden64 = 0x9E3779B97F4A7C15

// mix64 is SplitMix64's output function.
func mix64(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// dareKey seeds the stream of one task's tensor: FNV-1a of the name, mixed
// with the task index and the user's seed.
func dareKey(seed uint64, task int, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return mix64(seed + golden64*mix64(h.Sum64()+golden64*uint64(task+1)))
}

// dareKeep reports whether element i survives a drop rate of p.
func dareKeep(key, i uint64, p float64) bool {
	u := float64(mix64(key+golden64*(i+1))>>11) / (1 << 53)
	return u >= p
}
