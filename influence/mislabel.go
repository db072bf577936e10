package influence

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Order says which end of a score list to inspect first.
type Order int

const (
	// Ascending inspects the lowest scores first: the most harmful
	// points under HyDRA's sign convention.
	Ascending Order = iota
	// Descending inspects the highest scores first: the largest
	// self-relevance, self-influence or loss.
	Descending
)

// Rank returns the indices of scores in the order of inspection. Ties keep
// the order of the indices, so a ranking is reproducible.
func Rank(scores []float64, o Order) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		if o == Descending {
			return cmp.Compare(scores[b], scores[a])
		}
		return cmp.Compare(scores[a], scores[b])
	})
	return idx
}

// Detection returns, for each fraction f of the training set inspected in
// the order of rank, the fraction of the flipped points found among the
// first round(f·N). It returns an error if there are no flipped points or
// a fraction is outside [0, 1].
func Detection(rank []int, flipped []int, fractions []float64) ([]float64, error) {
	if len(flipped) == 0 {
		return nil, fmt.Errorf("influence: detection with no flipped labels")
	}
	isFlipped := make([]bool, len(rank))
	for _, i := range flipped {
		isFlipped[i] = true
	}
	found := make([]int, len(rank)+1) // found[k]: flipped among the first k
	for k, i := range rank {
		found[k+1] = found[k]
		if isFlipped[i] {
			found[k+1]++
		}
	}
	out := make([]float64, len(fractions))
	for j, f := range fractions {
		if !(f >= 0 && f <= 1) {
			return nil, fmt.Errorf("influence: inspected fraction %v outside [0, 1]", f)
		}
		k := int(f*float64(len(rank)) + 0.5)
		out[j] = float64(found[k]) / float64(len(flipped))
	}
	return out, nil
}

// DetectionAUC returns the area under the curve of the fraction of flipped
// points found against the fraction inspected, over the whole ranking:
// about 0.5 for a random order, and at most 1 − r/2, with r the share of
// the points flipped, when every flipped point comes first. DetectionROC
// is the same ranking's area under the ROC curve, which reaches 1.
func DetectionAUC(rank []int, flipped []int) float64 {
	isFlipped := make([]bool, len(rank))
	for _, i := range flipped {
		isFlipped[i] = true
	}
	var area, found float64
	for _, i := range rank {
		if isFlipped[i] {
			found++
		}
		area += found
	}
	return area / (float64(len(rank)) * float64(len(flipped)))
}

// DetectionROC returns the area under the ROC curve of the ranking: the
// share of (flipped, clean) pairs in which the flipped point comes first.
// It is 1 when every flipped point comes first and about 0.5 for a random
// order, whatever the share flipped; with r that share, DetectionAUC is
// (1 − r)·DetectionROC + r/2 up to a term of order 1/N. It returns NaN
// when no point or every point is flipped.
func DetectionROC(rank []int, flipped []int) float64 {
	isFlipped := make([]bool, len(rank))
	for _, i := range flipped {
		isFlipped[i] = true
	}
	var pairs, clean float64 // pairs: (flipped, clean) pairs in order
	for _, i := range rank {
		if isFlipped[i] {
			continue
		}
		clean++
	}
	nClean := clean
	for _, i := range rank {
		if isFlipped[i] {
			pairs += clean
		} else {
			clean--
		}
	}
	nFlipped := float64(len(rank)) - nClean
	return pairs / (nFlipped * nClean)
}

// RandomScores returns n scores drawn uniformly from [0, 1) with a PCG
// generator seeded by seed: the random-order baseline.
func RandomScores(n int, seed uint64) []float64 {
	const stream = 0x72616e646f6d // "random"
	rng := rand.New(rand.NewPCG(seed, stream))
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.Float64()
	}
	return s
}
