package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
)

// Event reports the progress of training or replay.
type Event struct {
	Step, Steps int     // steps done, of all
	Epoch       int     // the epoch of the last step, from 0
	Loss        float64 // mean minibatch loss of the last step
}

// Progress receives an Event after every step. It must not keep the Event.
type Progress func(Event)

// StepInfo is what a hook of Replay or TrainHooked sees at step Step: the
// model at w_t, after the forward and backward passes over the step's
// batch and before the update. Model.Linears()[l].Input() and
// OutputGrad() hold each layer's activations and output gradients of the
// batch; the gradients are those of the batch's mean loss, so row i is
// 1/len(Batch) times the gradient of point Batch[i]'s own loss.
type StepInfo struct {
	Step  int
	Batch []int32
	LR    float64
	Model *MLP
}

// Hook is called by Replay and TrainHooked at each step they run; an
// error stops the run.
type Hook func(*StepInfo) error

// Run is the state of a training run: its record, and the model and
// optimizer at the last step reached. The caller frees it.
type Run struct {
	Record  *Record
	Model   *MLP
	Opt     *SGD
	Step    int // the step that Model holds the weights before
	Resumed int // the checkpoint the run resumed from, or -1 for a fresh run
}

// Free releases the model and optimizer.
func (r *Run) Free() {
	r.Model.Free()
	r.Opt.Free()
}

// ErrNotFinite is wrapped by the error training returns when the loss
// becomes NaN or infinite.
var ErrNotFinite = errors.New("train: loss is not finite")

// Train runs SGD on data as cfg says, recording the trajectory in dir. If
// dir already holds an unfinished record of the same config and data, the
// run resumes from its last checkpoint; a finished one is loaded as it is.
// A record of another run is an error, and so is a loss that stops being
// finite; the checkpoints written up to then stay valid.
func Train(ctx context.Context, dev device.Device, data *Data, cfg Config,
	dir string, progress Progress) (*Run, error) {
	return TrainHooked(ctx, dev, data, cfg, dir, nil, progress)
}

// TrainHooked is Train, calling hook, when not nil, at every step that it
// runs: from the first step for a new run, from the checkpoint it resumes
// from otherwise, and at none for a run that was already finished.
func TrainHooked(ctx context.Context, dev device.Device, data *Data, cfg Config,
	dir string, hook Hook, progress Progress) (*Run, error) {
	if err := checkRun(cfg, data); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: output folder: %w", err)
	}
	rec, from, err := startRecord(dir, cfg, data)
	if err != nil {
		return nil, err
	}
	run, err := newRun(dev, rec, from)
	if err != nil {
		return nil, err
	}
	if from == 0 && len(rec.Checkpoints) == 0 {
		if err := run.checkpoint(); err != nil {
			run.Free()
			return nil, err
		}
	} else {
		run.Resumed = from
	}
	if err := run.advance(ctx, data, rec.Steps, hook, progress, true); err != nil {
		run.Free()
		return nil, err
	}
	return run, nil
}

func checkRun(cfg Config, data *Data) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.BatchSize > data.N() {
		return fmt.Errorf("train: batch size %d is larger than the %d training points",
			cfg.BatchSize, data.N())
	}
	if d := data.X.Cols(); d != cfg.Sizes[0] {
		return fmt.Errorf("train: data points have %d values, the model takes %d",
			d, cfg.Sizes[0])
	}
	classes := cfg.Sizes[len(cfg.Sizes)-1]
	for i, y := range data.Y {
		if y < 0 || int(y) >= classes {
			return fmt.Errorf("train: label %d of point %d outside [0, %d)", y, i, classes)
		}
	}
	return nil
}

// startRecord opens the record in dir, or creates one, and returns the
// step to start from.
func startRecord(dir string, cfg Config, data *Data) (*Record, int, error) {
	if _, err := os.Stat(filepath.Join(dir, recordFile)); errors.Is(err, os.ErrNotExist) {
		rec, err := newRecord(dir, cfg, data)
		if err != nil {
			return nil, 0, err
		}
		if err := writeOrder(filepath.Join(dir, orderFile), rec.order); err != nil {
			return nil, 0, fmt.Errorf("train: %w", err)
		}
		return rec, 0, nil
	}

	rec, err := OpenRecord(dir)
	if err != nil {
		return nil, 0, err
	}
	if err := sameRun(rec, cfg, data); err != nil {
		return nil, 0, err
	}
	from, ok := rec.LastCheckpoint(rec.Steps)
	if !ok {
		return nil, 0, fmt.Errorf("train: %s: %w: no checkpoint", dir, ErrCorrupt)
	}
	return rec, from, nil
}

// sameRun reports why rec cannot be continued as the run of cfg on data.
func sameRun(rec *Record, cfg Config, data *Data) error {
	a, _ := json.Marshal(rec.Config)
	b, _ := json.Marshal(cfg)
	if !bytes.Equal(a, b) {
		return fmt.Errorf("train: %s holds the trajectory of another run:\n"+
			" recorded %s\n requested %s\nuse another output folder", rec.dir, a, b)
	}
	if rec.Data != data.Fingerprint {
		return fmt.Errorf("train: %s holds a trajectory of other data: the points or "+
			"their labels differ (%s, not %s); use another output folder",
			rec.dir, rec.Data, data.Fingerprint)
	}
	return nil
}

// newRun builds the model and optimizer and loads checkpoint from, if the
// record has it.
func newRun(dev device.Device, rec *Record, from int) (*Run, error) {
	cfg := rec.Config
	model, err := NewMLP(dev, cfg.Sizes, cfg.BatchSize, cfg.Seed)
	if err != nil {
		return nil, err
	}
	opt, err := NewSGD(model.Params(), cfg.Momentum, cfg.WeightDecay)
	if err != nil {
		model.Free()
		return nil, err
	}
	run := &Run{Record: rec, Model: model, Opt: opt, Step: from, Resumed: -1}
	if len(rec.Checkpoints) == 0 {
		return run, nil
	}
	if err := run.load(from); err != nil {
		run.Free()
		return nil, err
	}
	return run, nil
}

// load sets the model and momentum to checkpoint step.
func (r *Run) load(step int) error {
	path := checkpointPath(r.Record.dir, step)
	ts, err := readCheckpoint(path, step)
	if err != nil {
		return err
	}
	params := r.Model.Params()
	if len(ts) != 2*len(params) {
		return fmt.Errorf("train: %s: %w: %d tensors for %d parameters",
			path, ErrCorrupt, len(ts), len(params))
	}
	if err := r.Model.SetWeights(ts[:len(params)]); err != nil {
		return fmt.Errorf("train: %s: %w", path, err)
	}
	for i, v := range r.Opt.Velocity() {
		if len(ts[len(params)+i]) != v.Len() {
			return fmt.Errorf("train: %s: %w: momentum sizes", path, ErrCorrupt)
		}
		if err := v.CopyFrom(ts[len(params)+i]); err != nil {
			return err
		}
	}
	r.Step = step
	return nil
}

// checkpoint saves the weights and momentum before step r.Step, then
// lists the checkpoint in the record.
func (r *Run) checkpoint() error {
	ts, err := r.Model.Weights()
	if err != nil {
		return err
	}
	for _, v := range r.Opt.Velocity() {
		h, err := v.Host()
		if err != nil {
			return err
		}
		ts = append(ts, h)
	}
	rec := r.Record
	if err := writeCheckpoint(checkpointPath(rec.dir, r.Step), r.Step, ts); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if i, found := slices.BinarySearch(rec.Checkpoints, r.Step); !found {
		rec.Checkpoints = slices.Insert(rec.Checkpoints, i, r.Step)
	}
	rec.Complete = r.Step == rec.Steps
	if err := rec.save(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// advance runs steps r.Step, …, to−1. With save set it writes checkpoints
// as the config says, and one at the step where ctx is cancelled.
func (r *Run) advance(ctx context.Context, data *Data, to int, hook Hook,
	progress Progress, save bool) error {
	s, err := newStepper(r, data)
	if err != nil {
		return err
	}
	defer s.free()
	every := r.Record.checkpointEvery()
	for r.Step < to {
		if err := ctx.Err(); err != nil {
			if save && r.Step > 0 {
				if cerr := r.checkpoint(); cerr != nil {
					return errors.Join(err, cerr)
				}
			}
			return fmt.Errorf("train: stopped at step %d: %w", r.Step, err)
		}
		loss, err := s.step(hook)
		if err != nil {
			return err
		}
		if save && (r.Step%every == 0 || r.Step == r.Record.Steps) {
			if err := r.checkpoint(); err != nil {
				return err
			}
		}
		if progress != nil {
			progress(Event{Step: r.Step, Steps: to,
				Epoch: (r.Step - 1) / r.Record.StepsPerEpoch, Loss: loss})
		}
	}
	return nil
}

// stepper runs single steps of a run.
type stepper struct {
	run  *Run
	data *Data
	xb   *tensor.Tensor // batch inputs, BatchSize×D
	yb   []int32
	loss []float32
}

func newStepper(r *Run, data *Data) (*stepper, error) {
	if data.Fingerprint != r.Record.Data || data.N() != r.Record.N {
		return nil, fmt.Errorf("train: data %s does not match the record's %s",
			data.Fingerprint, r.Record.Data)
	}
	b := r.Record.Config.BatchSize
	xb, err := tensor.New(data.X.Device(), b, data.X.Cols())
	if err != nil {
		return nil, fmt.Errorf("train: batch workspace: %w", err)
	}
	return &stepper{run: r, data: data, xb: xb,
		yb: make([]int32, b), loss: make([]float32, b)}, nil
}

func (s *stepper) free() { s.xb.Free() }

// step runs step r.Step: forward, backward, the hook, the update. It
// returns the batch's mean loss.
func (s *stepper) step(hook Hook) (float64, error) {
	r := s.run
	t := r.Step
	idx := r.Record.Batch(t)
	rows := len(idx)
	xb, yb := s.xb.RowSlice(0, rows), s.yb[:rows]
	xb.GatherRows(s.data.X, idx)
	for i, j := range idx {
		yb[i] = s.data.Y[j]
	}

	loss, _ := r.Model.Loss(xb, yb, true, 1/float32(rows))
	r.Model.Backward(rows)
	if err := r.Model.Device().CopyOut(s.loss[:rows], loss.Buffer()); err != nil {
		return 0, fmt.Errorf("train: step %d: %w", t, err)
	}
	mean := 0.0
	for _, v := range s.loss[:rows] {
		mean += float64(v)
	}
	mean /= float64(rows)
	if math.IsNaN(mean) || math.IsInf(mean, 0) {
		last, _ := r.Record.LastCheckpoint(t)
		return 0, fmt.Errorf("%w at step %d (epoch %d, loss %g); "+
			"lower the learning rate; the last good checkpoint is step %d in %s",
			ErrNotFinite, t, t/r.Record.StepsPerEpoch, mean, last, r.Record.dir)
	}

	if hook != nil {
		info := StepInfo{Step: t, Batch: idx, LR: r.Record.LR[t], Model: r.Model}
		if err := hook(&info); err != nil {
			return 0, err
		}
	}
	r.Opt.Step(r.Model.Params(), r.Record.LR[t])
	r.Step++
	return mean, nil
}

// Replay rebuilds the run of rec from checkpoint from and runs it up to
// step to, calling hook at every step. On the device that recorded it, the
// weights it reaches are bit for bit those of the recorded run. It writes
// nothing.
func Replay(ctx context.Context, dev device.Device, data *Data, rec *Record,
	from, to int, hook Hook, progress Progress) (*Run, error) {
	if from < 0 || to < from || to > rec.Steps {
		return nil, fmt.Errorf("train: replay of steps [%d, %d) in a run of %d",
			from, to, rec.Steps)
	}
	if _, found := slices.BinarySearch(rec.Checkpoints, from); !found {
		return nil, fmt.Errorf("train: replay from step %d: no checkpoint there (have %v)",
			from, rec.Checkpoints)
	}
	run, err := newRun(dev, rec, from)
	if err != nil {
		return nil, err
	}
	if err := run.advance(ctx, data, to, hook, progress, false); err != nil {
		run.Free()
		return nil, err
	}
	return run, nil
}

// LoadFinal returns the run of rec at its final checkpoint.
func LoadFinal(dev device.Device, rec *Record) (*Run, error) {
	if !rec.Complete {
		return nil, fmt.Errorf("train: %s: the run is unfinished; train again to resume it",
			rec.dir)
	}
	return newRun(dev, rec, rec.Steps)
}

// LoadFinalModel returns the model of rec at its final weights, built for
// batches of up to maxRows rows: passes over whole data sets run faster
// in batches larger than the training batch.
func LoadFinalModel(dev device.Device, rec *Record, maxRows int) (*MLP, error) {
	if !rec.Complete {
		return nil, fmt.Errorf("train: %s: the run is unfinished; train again to resume it",
			rec.dir)
	}
	path := checkpointPath(rec.dir, rec.Steps)
	ts, err := readCheckpoint(path, rec.Steps)
	if err != nil {
		return nil, err
	}
	m, err := NewMLP(dev, rec.Config.Sizes, maxRows, rec.Config.Seed)
	if err != nil {
		return nil, err
	}
	if len(ts) < len(m.Params()) {
		m.Free()
		return nil, fmt.Errorf("train: %s: %w: %d tensors", path, ErrCorrupt, len(ts))
	}
	if err := m.SetWeights(ts[:len(m.Params())]); err != nil {
		m.Free()
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	return m, nil
}

// Evaluate returns the mean loss and the accuracy of model on the n×D
// inputs x with labels y, working in batches of model.MaxRows.
func Evaluate(model *MLP, x *tensor.Tensor, y []int32) (loss, acc float64, err error) {
	n, classes := x.Rows(), model.Classes()
	host := make([]float32, model.MaxRows*classes)
	lhost := make([]float32, model.MaxRows)
	correct := 0
	for lo := 0; lo < n; lo += model.MaxRows {
		hi := min(lo+model.MaxRows, n)
		l, z := model.Loss(x.RowSlice(lo, hi), y[lo:hi], false, 1)
		if err := z.Device().CopyOut(host[:(hi-lo)*classes], z.Buffer()); err != nil {
			return 0, 0, err
		}
		if err := z.Device().CopyOut(lhost[:hi-lo], l.Buffer()); err != nil {
			return 0, 0, err
		}
		for i := range hi - lo {
			loss += float64(lhost[i])
			if argmax(host[i*classes:(i+1)*classes]) == int(y[lo+i]) {
				correct++
			}
		}
	}
	return loss / float64(n), float64(correct) / float64(n), nil
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
