package dataset

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// labelsFor returns n seeded labels in [0, classes).
func labelsFor(n, classes int, seed uint64) []int32 {
	rng := rand.New(rand.NewPCG(seed, 3))
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(rng.IntN(classes))
	}
	return y
}

func TestFlipLabels(t *testing.T) {
	cases := []struct {
		name    string
		n       int
		classes int
		rate    float64
		seed    uint64
		want    int // round(rate·n)
	}{
		{"none", 100, 10, 0, 1, 0},
		{"empty", 0, 10, 0.5, 1, 0},
		{"mnist-like", 60000, 10, 0.2, 2, 12000},
		{"round half up", 10, 10, 0.25, 3, 3},
		{"round down", 7, 3, 0.2, 4, 1},
		{"binary", 1000, 2, 0.4, 5, 400},
		{"almost all", 50, 4, 0.999, 6, 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			y := labelsFor(tc.n, tc.classes, tc.seed)
			orig := slices.Clone(y)
			noisy, flipped, err := FlipLabels(y, tc.classes, tc.rate, tc.seed)
			if err != nil {
				t.Fatalf("FlipLabels: %v", err)
			}
			if !slices.Equal(y, orig) {
				t.Fatalf("FlipLabels modified its input")
			}
			if len(flipped) != tc.want {
				t.Errorf("flipped %d labels, want %d", len(flipped), tc.want)
			}
			checkFlips(t, y, noisy, flipped, tc.classes)
		})
	}
}

// checkFlips checks that flipped is strictly increasing and that noisy
// differs from y, within [0, classes), exactly there.
func checkFlips(t *testing.T, y, noisy []int32, flipped []int, classes int) {
	t.Helper()
	if len(noisy) != len(y) {
		t.Fatalf("len(noisy) %d, want %d", len(noisy), len(y))
	}
	isFlipped := make([]bool, len(y))
	for k, i := range flipped {
		if k > 0 && i <= flipped[k-1] {
			t.Fatalf("flipped not strictly increasing at %d: %v", k,
				flipped[k-1:k+1])
		}
		isFlipped[i] = true
	}
	for i := range y {
		if noisy[i] < 0 || int(noisy[i]) >= classes {
			t.Fatalf("noisy[%d] = %d outside [0, %d)", i, noisy[i], classes)
		}
		if (noisy[i] != y[i]) != isFlipped[i] {
			t.Fatalf("example %d: %d → %d, listed as flipped: %v",
				i, y[i], noisy[i], isFlipped[i])
		}
	}
}

func TestFlipLabelsDeterministic(t *testing.T) {
	y := labelsFor(5000, 10, 7)
	a, fa, errA := FlipLabels(y, 10, 0.3, 42)
	b, fb, errB := FlipLabels(y, 10, 0.3, 42)
	c, fc, errC := FlipLabels(y, 10, 0.3, 43)
	if err := errors.Join(errA, errB, errC); err != nil {
		t.Fatalf("FlipLabels: %v", err)
	}
	if !slices.Equal(a, b) || !slices.Equal(fa, fb) {
		t.Errorf("seed 42 gave two different results")
	}
	if slices.Equal(a, c) || slices.Equal(fa, fc) {
		t.Errorf("seeds 42 and 43 gave the same result")
	}
}

// flipSigmas bounds how far, in standard deviations, the count of each
// class among the new labels may stray from its expectation; at 5σ a
// correct sampler fails about once in 10⁶ seeds.
const flipSigmas = 5

// TestFlipLabelsUniform checks that new labels are spread evenly over the
// other classes and that every example is about equally likely to flip.
func TestFlipLabelsUniform(t *testing.T) {
	const n, classes, rate, trials = 900, 10, 0.5, 200
	y := make([]int32, n) // every label 0, so new labels are 1…9
	classCount := make([]int, classes)
	exampleCount := make([]int, n)
	for seed := range uint64(trials) {
		noisy, flipped, err := FlipLabels(y, classes, rate, seed)
		if err != nil {
			t.Fatalf("FlipLabels: %v", err)
		}
		for _, i := range flipped {
			classCount[noisy[i]]++
			exampleCount[i]++
		}
	}

	flips := float64(n * rate * trials)
	p := 1.0 / (classes - 1)
	checkCount(t, "class 0", classCount[0], 0, 0)
	for c := 1; c < classes; c++ {
		checkCount(t, "class", classCount[c], flips*p,
			math.Sqrt(flips*p*(1-p)))
	}
	// Each example flips in a trial with probability rate. The extremes
	// of 900 such counts lie near ±3.2σ, so their span is about 6.5σ;
	// allow 2·flipSigmas σ.
	sd := math.Sqrt(trials * rate * (1 - rate))
	lo, hi := slices.Min(exampleCount), slices.Max(exampleCount)
	if float64(hi-lo) > 2*flipSigmas*sd {
		t.Errorf("per-example flip counts span [%d, %d], want a span "+
			"under %.0f around %v", lo, hi, 2*flipSigmas*sd, trials*rate)
	}
}

func checkCount(t *testing.T, what string, got int, want, sd float64) {
	t.Helper()
	if math.Abs(float64(got)-want) > flipSigmas*sd {
		t.Errorf("%s: %d new labels, want %.0f ± %.0f", what, got, want,
			flipSigmas*sd)
	}
}

func TestFlipLabelsErrors(t *testing.T) {
	y := labelsFor(20, 10, 1)
	cases := []struct {
		name    string
		y       []int32
		classes int
		rate    float64
		part    string
	}{
		{"negative rate", y, 10, -0.1, "rate -0.1"},
		{"rate one", y, 10, 1, "rate 1"},
		{"rate above one", y, 10, 1.5, "rate 1.5"},
		{"NaN rate", y, 10, math.NaN(), "rate NaN"},
		{"infinite rate", y, 10, math.Inf(1), "rate +Inf"},
		{"one class", make([]int32, 5), 1, 0.5, "1 classes"},
		{"label too big", []int32{0, 3}, 3, 0.5, "label 3 of example 1"},
		{"negative label", []int32{-1}, 3, 0.5, "label -1 of example 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := FlipLabels(tc.y, tc.classes, tc.rate, 1)
			if err == nil || !strings.Contains(err.Error(), tc.part) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.part)
			}
		})
	}
}
