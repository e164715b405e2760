package ffi

// DARE's random mask is a counter-based stream, so any entry's decision is
// computable on its own and chunks, workers and backends agree: position i
// of the stream keyed by key is kept iff u_i >= p, where u_i is the top 53
// bits of SplitMix64's output for the counter key + golden64*(i+1), as a
// fraction in [0, 1). The caller derives key from what the mask must depend
// on (the merge: its seed, the task and the tensor's name).

const golden64 = 0x9E3779B97F4A7C15

// Mix64 is SplitMix64's output function.
func Mix64(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// DareKeep reports whether position i of the stream keyed by key survives a
// drop rate of p. It is the definition every backend's DareDrop follows.
func DareKeep(key, i uint64, p float64) bool {
	u := float64(Mix64(key+golden64*(i+1))>>11) / (1 << 53)
	return u >= p
}

// dareDrop zeroes x[i] unless DareKeep(key, first+i, p): the host backends' DareDrop.
func dareDrop(x []float32, key, first uint64, p float64) {
	for i := range x {
		if !DareKeep(key, first+uint64(i), p) {
			x[i] = 0
		}
	}
}
