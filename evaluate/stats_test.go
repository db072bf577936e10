package evaluate

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
)

// corrTol bounds the error of the correlations against values worked out
// by hand; they differ by float64 rounding only.
const corrTol = 1e-12

func TestRanks(t *testing.T) {
	got := ranks([]float64{3, 1, 2, 2, 5, 1})
	want := []float64{5, 1.5, 3.5, 3.5, 6, 1.5}
	if !slices.Equal(got, want) {
		t.Errorf("ranks = %v, want %v", got, want)
	}
}

func TestCorrelations(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5}
	tests := []struct {
		name              string
		y                 []float64
		pearson, spearman float64
	}{
		{"linear", []float64{2, 4, 6, 8, 10}, 1, 1},
		{"reversed", []float64{5, 4, 3, 2, 1}, -1, -1},
		{"monotone", []float64{1, 8, 27, 64, 125}, 0.9431175138077005, 1},
		// Spearman of x with ranks 2,1,3,5,4: 1 − 6·Σd²/(n(n²−1)) = 0.8.
		{"swaps", []float64{20, 10, 30, 50, 40}, 0.8, 0.8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p := Pearson(x, tc.y); math.Abs(p-tc.pearson) > corrTol {
				t.Errorf("Pearson = %v, want %v", p, tc.pearson)
			}
			if s := Spearman(x, tc.y); math.Abs(s-tc.spearman) > corrTol {
				t.Errorf("Spearman = %v, want %v", s, tc.spearman)
			}
		})
	}
	if p := Pearson(x, []float64{1, 1, 1, 1, 1}); !math.IsNaN(p) {
		t.Errorf("Pearson of a constant = %v, want NaN", p)
	}
	if s := Spearman(x[:1], x[:1]); !math.IsNaN(s) {
		t.Errorf("Spearman of one value = %v, want NaN", s)
	}
}

func TestNumberJSON(t *testing.T) {
	b, err := json.Marshal([]Number{0.5, Number(math.NaN()), Number(math.Inf(1))})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "[0.5,null,null]" {
		t.Errorf("marshalled %s", b)
	}
}
