package train

import (
	"context"
	"fmt"
	"math"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
)

// Retraining without some points. Attribution is judged by training again
// with training points left out (leave-one-out, datamodels) and comparing
// the change that a method predicted with the one that happened. For the
// comparison to isolate the left-out points, everything else must stay as
// it was: the initial weights, the learning rates and the minibatch order.
// A Plan is such an explicit order; RecordPlan derives it from a recorded
// run, and a Retrainer runs plans one after another, reusing its model and
// optimizer, without hooks, checkpoints or a record on disk.

// BatchScale says how a step weighs the losses of the points left in a
// batch after some were excluded.
type BatchScale int

const (
	// KeepScale keeps the factor 1/B_t of the batch as recorded, B_t
	// points: the step's loss is (1/B_t)·Σ_{j ∈ B_t, j kept} ℓⱼ. Leaving
	// point i out is then exactly giving it the weight 1 + εᵢ with
	// εᵢ = −1 in every batch it was in, the perturbation whose first-order
	// effect HyDRA's hypergradient describes.
	KeepScale BatchScale = iota

	// Renormalize averages over the points that remain: the step's loss
	// is the mean loss of the kept points, as training on the reduced data
	// with the same batches would have it. The other points of the batch
	// gain weight B_t/(B_t − 1), a perturbation of its own.
	Renormalize
)

func (s BatchScale) String() string {
	switch s {
	case KeepScale:
		return "keep"
	case Renormalize:
		return "renormalize"
	}
	return fmt.Sprintf("BatchScale(%d)", int(s))
}

// MarshalText writes the scale's name.
func (s BatchScale) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Plan is an explicit schedule of SGD steps: step t trains on the points
// Batches[t] (indices into the training data), with the loss
//
//	Scales[t]·Σ_{j ∈ Batches[t]} ℓⱼ
//
// and learning rate LR[t]. A step with an empty batch still applies the
// momentum and the weight decay.
type Plan struct {
	Batches [][]int32
	Scales  []float32
	LR      []float64
}

// Steps returns the number of steps of the plan.
func (p *Plan) Steps() int { return len(p.Batches) }

// check reports the first thing that keeps p from running on n points with
// batches of up to maxRows.
func (p *Plan) check(n, maxRows int) error {
	if len(p.Scales) != len(p.Batches) || len(p.LR) != len(p.Batches) {
		return fmt.Errorf("train: plan of %d batches, %d scales, %d rates",
			len(p.Batches), len(p.Scales), len(p.LR))
	}
	for t, b := range p.Batches {
		if len(b) > maxRows {
			return fmt.Errorf("train: plan step %d: batch of %d points, "+
				"the model takes %d", t, len(b), maxRows)
		}
		for _, i := range b {
			if i < 0 || int(i) >= n {
				return fmt.Errorf("train: plan step %d: point %d outside [0, %d)",
					t, i, n)
			}
		}
	}
	return nil
}

// RecordPlan returns the plan of the run of rec with the points of exclude
// taken out of every batch they were in; the other points keep their
// batches and places, and scale says how the shortened batches are
// weighed. With no points excluded it is the recorded run itself. It
// returns an error for a point outside [0, N).
func RecordPlan(rec *Record, exclude []int, scale BatchScale) (*Plan, error) {
	out := make([]bool, rec.N)
	for _, i := range exclude {
		if i < 0 || i >= rec.N {
			return nil, fmt.Errorf("train: excluded point %d outside [0, %d)", i, rec.N)
		}
		out[i] = true
	}
	p := &Plan{
		Batches: make([][]int32, rec.Steps),
		Scales:  make([]float32, rec.Steps),
		LR:      rec.LR,
	}
	kept := make([]int32, 0, len(rec.order))
	for t := range rec.Steps {
		all := rec.Batch(t)
		lo := len(kept)
		for _, i := range all {
			if !out[i] {
				kept = append(kept, i)
			}
		}
		p.Batches[t] = kept[lo:len(kept):len(kept)]
		p.Scales[t] = batchScale(len(all), len(p.Batches[t]), scale)
	}
	return p, nil
}

// batchScale returns the loss factor of a batch recorded with size points
// of which kept remain. The recorded run's own steps use 1/float32(rows),
// and so does this, so that a plan without exclusions repeats them bit for
// bit.
func batchScale(size, kept int, scale BatchScale) float32 {
	if scale == Renormalize {
		size = kept
	}
	if size == 0 {
		return 0
	}
	return 1 / float32(size)
}

// Retrainer trains a model of one Config from its initial weights along
// plans, one run after another, reusing the model, optimizer and batch
// workspace. It writes nothing to disk and calls no hooks. A Retrainer,
// like its device, is for one goroutine at a time.
type Retrainer struct {
	cfg   Config
	data  *Data
	model *MLP
	opt   *SGD
	init  [][]float32 // the initial weights, drawn from cfg.Seed
	xb    *tensor.Tensor
	yb    []int32
}

// NewRetrainer returns a Retrainer for runs of cfg on data, with the
// model's initial weights drawn from cfg.Seed as Train draws them. data
// must be on dev.
func NewRetrainer(dev device.Device, data *Data, cfg Config) (*Retrainer, error) {
	if err := checkRun(cfg, data); err != nil {
		return nil, err
	}
	model, err := NewMLP(dev, cfg.Sizes, cfg.BatchSize, cfg.Seed)
	if err != nil {
		return nil, err
	}
	r := &Retrainer{cfg: cfg, data: data, model: model,
		yb: make([]int32, cfg.BatchSize)}
	if err := r.alloc(dev); err != nil {
		r.Free()
		return nil, err
	}
	return r, nil
}

// alloc makes the optimizer and the batch workspace and keeps the initial
// weights.
func (r *Retrainer) alloc(dev device.Device) error {
	var err error
	if r.opt, err = NewSGD(r.model.Params(), r.cfg.Momentum, r.cfg.WeightDecay); err != nil {
		return err
	}
	if r.init, err = r.model.Weights(); err != nil {
		return fmt.Errorf("train: initial weights: %w", err)
	}
	r.xb, err = tensor.New(dev, r.cfg.BatchSize, r.data.X.Cols())
	if err != nil {
		return fmt.Errorf("train: batch workspace: %w", err)
	}
	return nil
}

// Free releases the model, the optimizer and the workspace.
func (r *Retrainer) Free() {
	if r.model != nil {
		r.model.Free()
	}
	if r.opt != nil {
		r.opt.Free()
	}
	if r.xb != nil {
		r.xb.Free()
	}
}

// Model returns the model, which holds the weights that the last Run
// reached. It stays valid, and changes, with the next Run.
func (r *Retrainer) Model() *MLP { return r.model }

// Run resets the model to its initial weights and the momentum to zero and
// trains along plan. It returns an error if the plan does not fit the data
// or the model, if ctx is cancelled, or, wrapping ErrNotFinite, if the
// final weights are not finite.
func (r *Retrainer) Run(ctx context.Context, plan *Plan) error {
	if err := plan.check(r.data.N(), r.cfg.BatchSize); err != nil {
		return err
	}
	if err := r.reset(); err != nil {
		return err
	}
	for t, b := range plan.Batches {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("train: retraining stopped at step %d: %w", t, err)
		}
		r.step(b, plan.Scales[t], plan.LR[t])
	}
	return r.checkFinite(plan.Steps())
}

// reset sets the initial weights and zero momentum.
func (r *Retrainer) reset() error {
	if err := r.model.SetWeights(r.init); err != nil {
		return err
	}
	for _, v := range r.opt.Velocity() {
		v.Fill(0)
	}
	return nil
}

// step runs one SGD step on the points idx with loss factor s.
func (r *Retrainer) step(idx []int32, s float32, eta float64) {
	rows := len(idx)
	if rows == 0 {
		for _, p := range r.model.Params() {
			p.Grad.Fill(0)
		}
		r.opt.Step(r.model.Params(), eta)
		return
	}
	xb, yb := r.xb.RowSlice(0, rows), r.yb[:rows]
	xb.GatherRows(r.data.X, idx)
	for k, j := range idx {
		yb[k] = r.data.Y[j]
	}
	r.model.Loss(xb, yb, true, s)
	r.model.Backward(rows)
	r.opt.Step(r.model.Params(), eta)
}

// checkFinite returns an error wrapping ErrNotFinite if a weight is NaN or
// infinite after steps steps.
func (r *Retrainer) checkFinite(steps int) error {
	w, err := r.model.Weights()
	if err != nil {
		return fmt.Errorf("train: retrained weights: %w", err)
	}
	for l, ws := range w {
		for _, v := range ws {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%w: parameter %s after %d retraining steps; "+
					"lower the learning rate", ErrNotFinite,
					r.model.Params()[l].Name, steps)
			}
		}
	}
	return nil
}
