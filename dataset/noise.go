package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// noiseStream is the second word of the PCG seed in FlipLabels. A constant
// of its own keeps the noise independent of other streams that a caller
// seeds with the same number (the minibatch order, say).
const noiseStream = 0x6e6f6973652d666c // "noise-fl"

// FlipLabels returns a copy of the labels y in which exactly round(rate·n)
// of the n labels, chosen uniformly without replacement, are each replaced
// by a class drawn uniformly from the classes−1 other classes; y itself is
// left alone. flipped lists the indices changed, in increasing order.
//
// The draws come from math/rand/v2 with the source rand.NewPCG(seed,
// noiseStream), so a seed always flips the same labels the same way. It
// returns an error if rate is outside [0, 1), if classes < 2, or if a label
// lies outside [0, classes).
func FlipLabels(y []int32, classes int, rate float64,
	seed uint64) (noisy []int32, flipped []int, err error) {
	if !(rate >= 0 && rate < 1) {
		return nil, nil, fmt.Errorf("dataset: flip labels: rate %v "+
			"outside [0, 1)", rate)
	}
	if classes < 2 {
		return nil, nil, fmt.Errorf("dataset: flip labels: %d classes, "+
			"need at least 2 to flip between", classes)
	}
	if err := checkLabels(y, classes); err != nil {
		return nil, nil, err
	}

	rng := rand.New(rand.NewPCG(seed, noiseStream))
	flipped = sample(rng, len(y), int(math.Round(rate*float64(len(y)))))
	noisy = slices.Clone(y)
	for _, i := range flipped {
		c := int32(rng.IntN(classes - 1))
		if c >= y[i] {
			c++ // skip the true class
		}
		noisy[i] = c
	}
	return noisy, flipped, nil
}

// checkLabels returns an error naming the first label outside [0, classes).
func checkLabels(y []int32, classes int) error {
	for i, c := range y {
		if c < 0 || int(c) >= classes {
			return fmt.Errorf("%w: flip labels: label %d of example %d, "+
				"want [0, %d)", ErrLabel, c, i, classes)
		}
	}
	return nil
}

// sample returns k of the indices 0…n−1, chosen uniformly without
// replacement by a partial Fisher–Yates shuffle, in increasing order.
func sample(rng *rand.Rand, n, k int) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := range k {
		j := i + rng.IntN(n-i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	chosen := perm[:k:k]
	slices.Sort(chosen)
	return chosen
}
