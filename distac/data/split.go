package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Streams of the PCG generator, so that one seed drives independent random
// sequences for splitting, shuffling and augmenting.
const (
	streamSplit   = 0x5eed_5b11_7000_0001
	streamShuffle = 0x5eed_5b11_7000_0002
	streamAugment = 0x5eed_5b11_7000_0003
)

// newRand is the package's seeded generator: PCG keyed by (seed, stream).
func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// Split divides the set into a, holding round(fraction*N) images, and b, the
// rest. It is stratified when the set is labelled (each class is split in the
// same proportion, the rounding remainders going to the classes with the
// largest fractional share, ties to the lower label) and deterministic for a
// seed. Both parts keep the original order of their images. fraction is
// clamped to [0, 1] (NaN counts as 0).
func (s *Set) Split(fraction float64, seed uint64) (a, b *Set) {
	if !(fraction > 0) {
		fraction = 0
	}
	fraction = math.Min(fraction, 1)
	n := int(math.Round(fraction * float64(s.Len())))
	picked, rest := s.stratifiedPick(n, seed)
	return s.Subset(picked), s.Subset(rest)
}

// Take returns a seeded stratified sample of n images (a copy of all of them
// when n >= N, none when n <= 0), in their original order: the a of the
// Split that gives a n images.
func (s *Set) Take(n int, seed uint64) *Set {
	picked, _ := s.stratifiedPick(n, seed)
	return s.Subset(picked)
}

// stratifiedPick chooses n of the set's indices (clamped to [0, N]) and
// returns them and the others, both sorted ascending.
func (s *Set) stratifiedPick(n int, seed uint64) (picked, rest []int) {
	total := s.Len()
	n = max(0, min(n, total))
	rng := newRand(seed, streamSplit)
	if s.Labels == nil {
		perm := rng.Perm(total)
		picked, rest = perm[:n], perm[n:]
		sort.Ints(picked)
		sort.Ints(rest)
		return picked, rest
	}

	// Group indices by label (the keys sorted, so the order is the seed's alone).
	groups := map[int32][]int{}
	for i, l := range s.Labels {
		groups[l] = append(groups[l], i)
	}
	labels := make([]int32, 0, len(groups))
	for l := range groups {
		labels = append(labels, l)
	}
	slices.Sort(labels)

	// Largest-remainder quotas: class c gets floor(n*count_c/N), then the
	// n - sum leftover go one each to the largest remainders n*count_c mod N.
	quota := make([]int, len(labels))
	remainder := make([]int, len(labels))
	given := 0
	for k, l := range labels {
		c := len(groups[l])
		quota[k] = int(int64(n) * int64(c) / int64(total))
		remainder[k] = int(int64(n) * int64(c) % int64(total))
		given += quota[k]
	}
	order := make([]int, len(labels))
	for k := range order {
		order[k] = k
	}
	sort.SliceStable(order, func(i, j int) bool { return remainder[order[i]] > remainder[order[j]] })
	for k := 0; given < n; k++ {
		quota[order[k]]++
		given++
	}

	picked = make([]int, 0, n)
	rest = make([]int, 0, total-n)
	for k, l := range labels {
		idx := groups[l]
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		picked = append(picked, idx[:quota[k]]...)
		rest = append(rest, idx[quota[k]:]...)
	}
	sort.Ints(picked)
	sort.Ints(rest)
	return picked, rest
}
