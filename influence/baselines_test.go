package influence

import (
	"context"
	"math"
	"testing"

	"github.com/optraj/optraj/train"
)

// refDots returns, at the flat weights w, GradDot's scores in float64:
// ⟨∇L_test, ∇ℓᵢ⟩, ⟨∇ℓⱼ, ∇ℓᵢ⟩ (N×J) and ‖∇ℓᵢ‖², with the
// norms of the test gradients.
func refDots(ref refMLP, w, xs []float64, data *train.Data, xt []float64,
	test *train.Data) (sc *Scores, testSq float64, pointSq []float64) {
	mean, pts, self := refObjectives(ref, w, xs, data, xt, test)
	sc = &Scores{}
	for _, g := range self {
		sc.TestLoss = append(sc.TestLoss, dot(mean, g))
		for _, p := range pts {
			sc.Points = append(sc.Points, dot(p, g))
		}
		sc.Self = append(sc.Self, dot(g, g))
	}
	for _, p := range pts {
		pointSq = append(pointSq, dot(p, p))
	}
	return sc, dot(mean, mean), pointSq
}

// weightsAt returns the flat weights of checkpoint c of rec.
func weightsAt(t *testing.T, data *train.Data, rec *train.Record, c int) []float64 {
	t.Helper()
	run, err := train.Replay(context.Background(), data.X.Device(), data, rec, c, c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Free()
	return flatWeights(t, run.Model)
}

func scoreCases(prefix string, got, want *Scores) []scoreCase {
	return []scoreCase{
		{prefix + "test loss", got.TestLoss, want.TestLoss},
		{prefix + "test points", got.Points, want.Points},
		{prefix + "self", got.Self, want.Self},
	}
}

func TestTracInCPMatchesBruteForce(t *testing.T) {
	dev, data, test, rec := tinyRun(t)
	obj := allObjectives(test)
	got, err := TracInCP(context.Background(), dev, rec, data, obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := refMLP{rec.Config.Sizes}
	xs, xt := hostData(t, data), hostData(t, test)
	var want *Scores
	for _, c := range rec.Checkpoints {
		sc, _, _ := refDots(ref, weightsAt(t, data, rec, c), xs, data, xt, test)
		want = addScores(want, sc, rec.LR[min(c, rec.Steps-1)])
	}
	t.Logf("%d checkpoints: %v", len(rec.Checkpoints), rec.Checkpoints)
	checkScores(t, bruteTol, scoreCases("", got, want))
}

func TestGradDotAndCosine(t *testing.T) {
	dev, data, test, rec := tinyRun(t)
	obj := allObjectives(test)
	dots, err := GradDot(dev, rec, data, obj)
	if err != nil {
		t.Fatal(err)
	}
	cos, err := GradCosine(dev, rec, data, obj)
	if err != nil {
		t.Fatal(err)
	}
	ref := refMLP{rec.Config.Sizes}
	xs, xt := hostData(t, data), hostData(t, test)
	want, tt, pp := refDots(ref, weightsAt(t, data, rec, rec.Steps), xs, data, xt, test)
	checkScores(t, bruteTol, scoreCases("dot, ", dots, want))

	wantCos := &Scores{}
	j := test.N()
	for i, d := range want.TestLoss {
		wantCos.TestLoss = append(wantCos.TestLoss, d/math.Sqrt(tt*want.Self[i]))
		for k := range j {
			wantCos.Points = append(wantCos.Points,
				want.Points[i*j+k]/math.Sqrt(pp[k]*want.Self[i]))
		}
	}
	checkScores(t, bruteTol, []scoreCase{
		{"cosine, test loss", cos.TestLoss, wantCos.TestLoss},
		{"cosine, test points", cos.Points, wantCos.Points},
	})
	if cos.Self != nil {
		t.Errorf("cosine self set")
	}
}

func TestTrainingLoss(t *testing.T) {
	dev, data, _, rec := tinyRun(t)
	got, err := TrainingLoss(dev, rec, data)
	if err != nil {
		t.Fatal(err)
	}
	ref := refMLP{rec.Config.Sizes}
	w, xs, d := weightsAt(t, data, rec, rec.Steps), hostData(t, data), data.X.Cols()
	var want []float64
	for i := range data.N() {
		l, _ := ref.grad(w, xs[i*d:(i+1)*d], data.Y[i:i+1], nil)
		want = append(want, l)
	}
	checkScores(t, bruteTol, []scoreCase{{"training loss", got, want}})

}
