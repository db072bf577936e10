package evaluate

import (
	"fmt"
	"math"
	"slices"

	"github.com/optraj/optraj/dataset"
	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/train"
)

// Trained is the run under evaluation: its trajectory record, its training
// and test sets in host memory (the training labels as trained, flipped
// ones included), and the same sets on Dev, the device that scores.
type Trained struct {
	Record    *train.Record
	Train     *dataset.Set
	Test      *dataset.Set
	Dev       device.Device
	TrainData *train.Data // Train on Dev
	TestData  *train.Data // Test on Dev
}

// check reports a Trained whose parts do not belong together.
func (tr *Trained) check() error {
	if tr.Record == nil || tr.Train == nil || tr.Test == nil ||
		tr.TrainData == nil || tr.TestData == nil || tr.Dev == nil {
		return fmt.Errorf("evaluate: incomplete run under evaluation")
	}
	if !tr.Record.Complete {
		return fmt.Errorf("evaluate: %s: the run is unfinished", tr.Record.Dir())
	}
	if tr.TrainData.Fingerprint != tr.Record.Data {
		return fmt.Errorf("evaluate: training data %s, the record was trained on %s",
			tr.TrainData.Fingerprint, tr.Record.Data)
	}
	if tr.Train.N != tr.TrainData.N() || tr.Test.N != tr.TestData.N() {
		return fmt.Errorf("evaluate: host sets of %d and %d points, device sets "+
			"of %d and %d", tr.Train.N, tr.Test.N, tr.TrainData.N(), tr.TestData.N())
	}
	return nil
}

// N returns the number of training points.
func (tr *Trained) N() int { return tr.Train.N }

// onDevice copies the training and test sets to dev.
func (tr *Trained) onDevice(dev device.Device) (data, test *train.Data, err error) {
	s, t := tr.Train, tr.Test
	data, err = train.NewData(dev, s.X, s.Y, s.D, s.Classes)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: training data: %w", err)
	}
	test, err = train.NewData(dev, t.X, t.Y, t.D, t.Classes)
	if err != nil {
		data.X.Free()
		return nil, nil, fmt.Errorf("evaluate: test data: %w", err)
	}
	return data, test, nil
}

// Outcome is what one retrained model measures on the test set.
type Outcome struct {
	Key      string    `json:"key"`           // which retraining
	TestLoss float64   `json:"test_loss"`     // mean over the test set
	TestAcc  float64   `json:"test_accuracy"` // share classified right
	Losses   []float64 `json:"losses"`        // at the observed test points
	Margins  []float64 `json:"margins"`       // correct-class margins there
	Seconds  float64   `json:"seconds"`       // wall time of the retraining
}

// measure runs model over test and returns the mean loss, the accuracy,
// and the loss and correct-class margin of each test point in observe.
func measure(model *train.MLP, test *train.Data, observe []int) (Outcome, error) {
	o := Outcome{Losses: make([]float64, len(observe)),
		Margins: make([]float64, len(observe))}
	at := map[int][]int{}
	for k, j := range observe {
		at[j] = append(at[j], k)
	}
	classes, n := model.Classes(), test.N()
	correct := 0
	for lo := 0; lo < n; lo += model.MaxRows {
		hi := min(lo+model.MaxRows, n)
		loss, z, err := forward(model, test, lo, hi)
		if err != nil {
			return o, err
		}
		for r := range hi - lo {
			i, zr := lo+r, z[r*classes:(r+1)*classes]
			o.TestLoss += float64(loss[r])
			m := margin(zr, int(test.Y[i]))
			if m > 0 {
				correct++
			}
			for _, k := range at[i] {
				o.Losses[k], o.Margins[k] = float64(loss[r]), m
			}
		}
	}
	o.TestLoss /= float64(n)
	o.TestAcc = float64(correct) / float64(n)
	return o, nil
}

// forward returns the losses and logits of test rows [lo, hi) in host
// memory.
func forward(model *train.MLP, test *train.Data, lo, hi int) ([]float32, []float32, error) {
	l, z := model.Loss(test.X.RowSlice(lo, hi), test.Y[lo:hi], false, 1)
	loss, err := l.Host()
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: test losses: %w", err)
	}
	logits, err := z.Host()
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: test logits: %w", err)
	}
	return loss, logits, nil
}

// margin returns z_y − max_{c≠y} z_c.
func margin(z []float32, y int) float64 {
	best := math.Inf(-1)
	for c, v := range z {
		if c != y {
			best = max(best, float64(v))
		}
	}
	return float64(z[y]) - best
}

// observed returns the test points whose outputs the retrainings keep:
// the LDS test points, then the LOO test point if it is not among them.
func observed(ldsPoints []int, looPoint int) []int {
	out := slices.Clone(ldsPoints)
	if looPoint >= 0 && !slices.Contains(out, looPoint) {
		out = append(out, looPoint)
	}
	return out
}
