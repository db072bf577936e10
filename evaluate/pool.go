package evaluate

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/train"
)

// Pool runs retrainings side by side: Workers goroutines, each with a
// device of its own holding its own copy of the data.
type Pool struct {
	// Workers is the number of retrainings at a time; zero means
	// GOMAXPROCS.
	Workers int `json:"workers"`

	// NewDevice returns the device of a new worker; nil means a
	// single-threaded CPU, device.NewCPU(1), so that the workers, not the
	// matrix products, share the cores.
	NewDevice func() (device.Device, error) `json:"-"`
}

// retraining is one retraining: the key of its outcome and the training
// points it leaves out.
type retraining struct {
	key     string
	exclude []int
}

// retrainSpec is what every retraining of a batch shares.
type retrainSpec struct {
	tr      *Trained
	scale   train.BatchScale
	observe []int // the test points whose outputs an Outcome keeps
}

// result is a worker's answer: an outcome or an error.
type result struct {
	out Outcome
	err error
}

// run carries out the retrainings that j does not hold yet, appending each
// outcome to j as it finishes, and reports progress(done, total) after
// each. It returns the first error, after the workers have stopped.
func (p Pool) run(ctx context.Context, spec retrainSpec, jobs []retraining,
	j *journal, progress func(done, total int)) error {
	var todo []retraining
	for _, r := range jobs {
		if _, ok := j.done[r.key]; !ok {
			todo = append(todo, r)
		}
	}
	done := len(jobs) - len(todo)
	report(progress, done, len(jobs))
	if len(todo) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := p.start(ctx, spec, todo)

	var first error
	for r := range results {
		if r.err == nil {
			r.err = j.add(r.out)
		}
		if r.err != nil {
			first = firstError(first, r.err)
			cancel()
			continue
		}
		done++
		report(progress, done, len(jobs))
	}
	if first == nil && done < len(jobs) {
		// Cancelled between retrainings: none failed, some never ran.
		first = ctx.Err()
	}
	return first
}

// firstError keeps the first error, preferring any to a cancellation that
// the first one caused.
func firstError(first, err error) error {
	if first == nil || errors.Is(first, context.Canceled) &&
		!errors.Is(err, context.Canceled) {
		return err
	}
	return first
}

func report(progress func(done, total int), done, total int) {
	if progress != nil {
		progress(done, total)
	}
}

// start feeds todo to the workers and returns their results, a channel
// that closes when they have all stopped.
func (p Pool) start(ctx context.Context, spec retrainSpec,
	todo []retraining) <-chan result {
	n := p.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	n = min(n, len(todo))
	queue := make(chan retraining)
	results := make(chan result)
	go func() {
		defer close(queue)
		for _, r := range todo {
			select {
			case queue <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { p.work(ctx, spec, queue, results) })
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	return results
}

// work is one worker: it sets up its device and retrainer, then retrains
// what queue sends until it closes.
func (p Pool) work(ctx context.Context, spec retrainSpec, queue <-chan retraining,
	results chan<- result) {
	w, err := p.newWorker(spec)
	if err != nil {
		results <- result{err: err}
		for range queue {
		}
		return
	}
	defer w.free()
	for r := range queue {
		out, err := w.retrain(ctx, r)
		results <- result{out: out, err: err}
	}
}

// worker is one worker's device, data and retrainer.
type worker struct {
	spec       retrainSpec
	dev        device.Device
	data, test *train.Data
	re         *train.Retrainer
}

func (p Pool) newWorker(spec retrainSpec) (*worker, error) {
	dev, err := p.device()
	if err != nil {
		return nil, fmt.Errorf("evaluate: worker device: %w", err)
	}
	w := &worker{spec: spec, dev: dev}
	if w.data, w.test, err = spec.tr.onDevice(dev); err != nil {
		dev.Close()
		return nil, err
	}
	if w.re, err = train.NewRetrainer(dev, w.data, spec.tr.Record.Config); err != nil {
		w.free()
		return nil, fmt.Errorf("evaluate: worker: %w", err)
	}
	return w, nil
}

func (p Pool) device() (device.Device, error) {
	if p.NewDevice == nil {
		return device.NewCPU(1), nil
	}
	return p.NewDevice()
}

func (w *worker) free() {
	if w.re != nil {
		w.re.Free()
	}
	w.data.X.Free()
	w.test.X.Free()
	w.dev.Close()
}

// retrain runs one retraining and measures its model.
func (w *worker) retrain(ctx context.Context, r retraining) (Outcome, error) {
	start := time.Now()
	plan, err := train.RecordPlan(w.spec.tr.Record, r.exclude, w.spec.scale)
	if err != nil {
		return Outcome{}, fmt.Errorf("evaluate: retraining %s: %w", r.key, err)
	}
	if err := w.re.Run(ctx, plan); err != nil {
		return Outcome{}, fmt.Errorf("evaluate: retraining %s: %w", r.key, err)
	}
	out, err := measure(w.re.Model(), w.test, w.spec.observe)
	if err != nil {
		return Outcome{}, fmt.Errorf("evaluate: retraining %s: %w", r.key, err)
	}
	out.Key, out.Seconds = r.key, time.Since(start).Seconds()
	return out, nil
}
