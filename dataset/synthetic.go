package dataset

import (
	"fmt"
	"math/rand/v2"
)

// blobStream is the second word of the PCG seed in Blobs; see noiseStream.
const blobStream = 0x626c6f6273000000 // "blobs"

// Blobs returns a synthetic classification set of n points in d dimensions
// drawn around classes Gaussian centres:
//
//	μ_c ~ N(0, I_d)                  for each class c
//	x_i = μ_{y_i} + spread·z_i,      z_i ~ N(0, I_d)
//
// The labels are balanced (class sizes differ by at most one) and in random
// order. Small spread (0.1) gives well-separated classes, spread near 1
// overlapping ones. The draws come from math/rand/v2 with the source
// rand.NewPCG(seed, blobStream), so a seed always gives the same set. The
// features are not scaled to [0, 1]. Shape is [d].
//
// Blobs is for tests that must run without fetched data. It panics if n < 0,
// d < 1, classes < 1 or spread < 0.
func Blobs(n, d, classes int, spread float64, seed uint64) *Set {
	if n < 0 || d < 1 || classes < 1 || !(spread >= 0) {
		panic(fmt.Sprintf("dataset: Blobs(n=%d, d=%d, classes=%d, "+
			"spread=%v): need n ≥ 0, d ≥ 1, classes ≥ 1, spread ≥ 0",
			n, d, classes, spread))
	}
	rng := rand.New(rand.NewPCG(seed, blobStream))

	centres := make([]float64, classes*d)
	for i := range centres {
		centres[i] = rng.NormFloat64()
	}

	s := &Set{
		X:       make([]float32, n*d),
		Y:       make([]int32, n),
		N:       n,
		D:       d,
		Classes: classes,
		Shape:   []int{d},
	}
	for i := range s.Y {
		s.Y[i] = int32(i % classes)
	}
	rng.Shuffle(n, func(i, j int) { s.Y[i], s.Y[j] = s.Y[j], s.Y[i] })

	for i, c := range s.Y {
		mu := centres[int(c)*d : (int(c)+1)*d]
		for j, m := range mu {
			s.X[i*d+j] = float32(m + spread*rng.NormFloat64())
		}
	}
	return s
}
