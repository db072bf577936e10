package influence

import (
	"math"
	"slices"
	"testing"
)

func TestDetection(t *testing.T) {
	scores := []float64{0.9, -3, 0.1, -1, 2, -2, 0.5, 0, 1, 3}
	flipped := []int{1, 5, 3}
	rank := Rank(scores, Ascending)
	if want := []int{1, 5, 3, 7, 2, 6, 0, 8, 4, 9}; !slices.Equal(rank, want) {
		t.Fatalf("Rank = %v, want %v", rank, want)
	}
	got, err := Detection(rank, flipped, []float64{0.1, 0.2, 0.3, 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1.0 / 3, 2.0 / 3, 1, 1}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("Detection = %v, want %v", got, want)
			break
		}
	}
	if auc := DetectionAUC(rank, flipped); math.Abs(auc-(1+2+3*8)/30.0) > 1e-12 {
		t.Errorf("DetectionAUC = %v, want %v", auc, (1+2+3*8)/30.0)
	}
	if roc := DetectionROC(rank, flipped); roc != 1 {
		t.Errorf("DetectionROC of a perfect ranking = %v, want 1", roc)
	}
	// Clean, flipped, clean, flipped: of the four (flipped, clean) pairs,
	// point 1 comes before point 2 only.
	if roc := DetectionROC([]int{0, 1, 2, 3}, []int{1, 3}); roc != 0.25 {
		t.Errorf("DetectionROC = %v, want 0.25", roc)
	}
	if _, err := Detection(rank, nil, []float64{0.1}); err == nil {
		t.Error("Detection with no flipped points: no error")
	}
	if _, err := Detection(rank, flipped, []float64{1.5}); err == nil {
		t.Error("Detection at fraction 1.5: no error")
	}
}

// TestDetectionROCRandom checks that a random order scores about 0.5 and
// that the two areas agree as DetectionROC's documentation says.
func TestDetectionROCRandom(t *testing.T) {
	const n, r = 20000, 0.1
	flipped := make([]int, 0, int(r*n))
	for i := 0; i < n; i += int(1 / r) {
		flipped = append(flipped, i)
	}
	rank := Rank(RandomScores(n, 3), Descending)
	roc, auc := DetectionROC(rank, flipped), DetectionAUC(rank, flipped)
	if math.Abs(roc-0.5) > 0.02 {
		t.Errorf("DetectionROC of a random order = %v, want 0.5 ± 0.02", roc)
	}
	if want := (1-r)*roc + r/2; math.Abs(auc-want) > 1e-3 {
		t.Errorf("DetectionAUC = %v, want (1−r)·ROC + r/2 = %v", auc, want)
	}
}

func TestRankDescendingAndRandom(t *testing.T) {
	if got := Rank([]float64{1, 3, 2}, Descending); !slices.Equal(got, []int{1, 2, 0}) {
		t.Errorf("Rank descending = %v", got)
	}
	a, b := RandomScores(100, 7), RandomScores(100, 7)
	if !slices.Equal(a, b) {
		t.Error("RandomScores differs for one seed")
	}
	if slices.Equal(a, RandomScores(100, 8)) {
		t.Error("RandomScores equal for two seeds")
	}
}
