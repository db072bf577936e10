package dataset

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestBlobs(t *testing.T) {
	cases := []struct {
		n, d, classes int
		spread        float64
		seed          uint64
	}{
		{0, 2, 3, 0.1, 1},
		{1, 1, 1, 0, 2},
		{100, 2, 3, 0.1, 3},
		{1001, 20, 10, 0.3, 4},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("n=%d,d=%d,k=%d", tc.n, tc.d, tc.classes)
		t.Run(name, func(t *testing.T) {
			s := Blobs(tc.n, tc.d, tc.classes, tc.spread, tc.seed)
			if s.N != tc.n || s.D != tc.d || s.Classes != tc.classes ||
				len(s.X) != tc.n*tc.d || len(s.Y) != tc.n ||
				!slices.Equal(s.Shape, []int{tc.d}) {
				t.Fatalf("got N %d, D %d, Classes %d, len X %d, len Y %d, "+
					"Shape %v", s.N, s.D, s.Classes, len(s.X), len(s.Y),
					s.Shape)
			}
			checkBalanced(t, s)
			again := Blobs(tc.n, tc.d, tc.classes, tc.spread, tc.seed)
			if !slices.Equal(s.X, again.X) || !slices.Equal(s.Y, again.Y) {
				t.Errorf("the same seed gave two different sets")
			}
		})
	}
}

func checkBalanced(t *testing.T, s *Set) {
	t.Helper()
	count := make([]int, s.Classes)
	for _, c := range s.Y {
		if c < 0 || int(c) >= s.Classes {
			t.Fatalf("label %d outside [0, %d)", c, s.Classes)
		}
		count[c]++
	}
	if s.N > 0 && slices.Max(count)-slices.Min(count) > 1 {
		t.Errorf("class sizes %v differ by more than one", count)
	}
}

// minSeparatedAccuracy is what nearest-centroid classification must reach
// on well-separated blobs (spread 0.05 around centres about √(2d) = 4.5
// apart in d = 10): it errs only if noise of 0.05·√10 ≈ 0.16 crosses half
// that distance.
const minSeparatedAccuracy = 0.999

func TestBlobsSeparable(t *testing.T) {
	s := Blobs(2000, 10, 5, 0.05, 9)
	means := classMeans(s)
	correct := 0
	for i := range s.N {
		if nearest(s.Row(i), means, s.D) == int(s.Y[i]) {
			correct++
		}
	}
	if acc := float64(correct) / float64(s.N); acc < minSeparatedAccuracy {
		t.Errorf("nearest-centroid accuracy %.4f, want ≥ %v", acc,
			minSeparatedAccuracy)
	}
}

func classMeans(s *Set) []float64 {
	means := make([]float64, s.Classes*s.D)
	count := make([]float64, s.Classes)
	for i, c := range s.Y {
		count[c]++
		for j, v := range s.Row(i) {
			means[int(c)*s.D+j] += float64(v)
		}
	}
	for k := range means {
		means[k] /= count[k/s.D]
	}
	return means
}

func nearest(x []float32, means []float64, d int) int {
	best, bestDist := -1, math.Inf(1)
	for c := range len(means) / d {
		dist := 0.0
		for j, v := range x {
			diff := float64(v) - means[c*d+j]
			dist += diff * diff
		}
		if dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

func TestBlobsPanics(t *testing.T) {
	cases := []struct {
		n, d, classes int
		spread        float64
	}{
		{-1, 2, 2, 1}, {1, 0, 2, 1}, {1, 2, 0, 1}, {1, 2, 2, -1},
		{1, 2, 2, math.NaN()},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%d,%d,%d,%v", tc.n, tc.d, tc.classes, tc.spread)
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Blobs did not panic")
				}
			}()
			Blobs(tc.n, tc.d, tc.classes, tc.spread, 1)
		})
	}
}
