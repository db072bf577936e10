package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/optraj/optraj/dataset"
	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/influence"
	"github.com/optraj/optraj/train"
)

var (
	mnistDir = flag.String("mnist", filepath.Join("..", "data", "mnist"),
		"folder with the MNIST IDX files (scripts/fetch-mnist.sh)")
	peerPython = flag.String("peer-python", "/usr/bin/python3",
		"the Python that runs the peers; it must import torch")
	peerEpochs = flag.Int("peer-epochs", 5,
		"epochs that each run of the PyTorch peer trains and times")
	deviceName = flag.String("device", "cpu",
		"where our side runs: cpu, cuda (a build with -tags cuda) or auto")
)

// peerScript is the PyTorch peer, relative to this package's folder,
// where `go test` runs.
const peerScript = "peers/torch_mlp.py"

// hydraTrainRuns is the number of one-epoch trainings whose median
// BenchmarkFirstOrderHyDRA divides the scoring time by: enough for the
// median to shrug off one run slowed by a neighbour on a 2-core machine.
const hydraTrainRuns = 3

// benchConfig returns the run that every benchmark here trains, ours and
// the peers' alike. The learning rate is one at which both reach about
// 95% test accuracy after one epoch.
func benchConfig(epochs int) train.Config {
	return train.Config{
		Sizes: []int{784, 128, 10}, Epochs: epochs, BatchSize: 128,
		LearningRate: 0.05, Schedule: train.Constant,
		Momentum: 0.9, WeightDecay: 5e-4, Seed: 1,
	}
}

// threads is the number of cores that both engines use: GOMAXPROCS,
// which `go test -cpu` sets.
func threads() int { return runtime.GOMAXPROCS(0) }

// openDevice opens the device of -device for our side, a CPU using
// threads() cores by default, and closes it when b ends.
func openDevice(b *testing.B) device.Device {
	b.Helper()
	var dev device.Device
	if *deviceName == "cpu" {
		dev = device.NewCPU(threads())
	} else {
		var err error
		if dev, _, err = device.Open(*deviceName); err != nil {
			b.Fatalf("-device %s: %v", *deviceName, err)
		}
	}
	b.Cleanup(func() { dev.Close() })
	return dev
}

// flopPerEpoch counts the floating-point operations of the matrix
// products that one epoch over n points must do, 2 per multiply-add: for
// each layer of in×out weights, the forward product and the weight
// gradient, and the input gradient for every layer but the first (the
// data need none).
//
//	flop = 2n·(2·Σₗ inₗ·outₗ + Σ_{l>0} inₗ·outₗ)
func flopPerEpoch(sizes []int, n int) float64 {
	total := 0.0
	for l := 0; l+1 < len(sizes); l++ {
		mac := float64(n) * float64(sizes[l]*sizes[l+1])
		total += 4 * mac
		if l > 0 {
			total += 2 * mac
		}
	}
	return total
}

// mnist caches the MNIST sets across benchmarks: reading them takes
// about a second.
var mnist struct {
	once        sync.Once
	train, test *dataset.Set
	err         error
}

// mnistData returns the MNIST training and test sets on dev. It skips b
// when the files are missing.
func mnistData(b *testing.B, dev device.Device) (data, test *train.Data) {
	b.Helper()
	mnist.once.Do(func() {
		mnist.train, mnist.test, mnist.err = dataset.LoadMNIST(*mnistDir)
	})
	if errors.Is(mnist.err, fs.ErrNotExist) {
		b.Skipf("MNIST is not in %s; run scripts/fetch-mnist.sh: %v",
			*mnistDir, mnist.err)
	}
	if mnist.err != nil {
		b.Fatal(mnist.err)
	}
	return toData(b, dev, mnist.train), toData(b, dev, mnist.test)
}

func toData(b *testing.B, dev device.Device, s *dataset.Set) *train.Data {
	b.Helper()
	d, err := train.NewData(dev, s.X, s.Y, s.D, s.Classes)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// median returns the median of xs, which must not be empty.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	m := len(s) / 2
	if len(s)%2 == 0 {
		return (s[m-1] + s[m]) / 2
	}
	return s[m]
}

// BenchmarkTrainEpoch times train.Train of one epoch of the MLP over
// MNIST, trajectory record and checkpoints included, and reports the
// median and fastest seconds per epoch, the GFLOP/s of the median (see
// flopPerEpoch) and the test accuracy after the epoch.
func BenchmarkTrainEpoch(b *testing.B) {
	dev := openDevice(b)
	data, test := mnistData(b, dev)
	cfg := benchConfig(1)
	base := b.TempDir()

	var times []float64
	var run *train.Run
	for b.Loop() {
		if run != nil {
			run.Free()
		}
		dir := filepath.Join(base, strconv.Itoa(len(times)))
		start := time.Now()
		var err error
		run, err = train.Train(context.Background(), dev, data, cfg, dir, nil)
		times = append(times, time.Since(start).Seconds())
		if err != nil {
			b.Fatal(err)
		}
	}
	defer run.Free()

	_, acc, err := train.Evaluate(run.Model, test.X, test.Y)
	if err != nil {
		b.Fatal(err)
	}
	reportEpochs(b, times, flopPerEpoch(cfg.Sizes, data.N()), acc)
}

// reportEpochs reports per-epoch times, the GFLOP/s of their median, and
// the test accuracy after the first epoch.
func reportEpochs(b *testing.B, times []float64, flop, acc float64) {
	med := median(times)
	b.ReportMetric(med, "s/epoch")
	b.ReportMetric(slices.Min(times), "min-s/epoch")
	b.ReportMetric(flop/med/1e9, "GFLOP/s")
	b.ReportMetric(acc, "test-acc")
}

// BenchmarkFirstOrderHyDRA times influence.FirstOrder scoring all 60,000
// training points against the mean test loss and against their own loss
// (TracIn and the final loss come with it), over the trajectory of one
// epoch. It reports the median scoring time, the median time of training
// that epoch measured here, and their ratio.
func BenchmarkFirstOrderHyDRA(b *testing.B) {
	dev := openDevice(b)
	data, test := mnistData(b, dev)
	rec, trainS := trainTimed(b, dev, data, benchConfig(1), hydraTrainRuns)
	obj := influence.Objectives{Test: test, TestLoss: true, Self: true}

	var times []float64
	var scores *influence.Scores
	for b.Loop() {
		start := time.Now()
		var err error
		scores, err = influence.FirstOrder(context.Background(), dev, rec,
			data, obj, nil)
		times = append(times, time.Since(start).Seconds())
		if err != nil {
			b.Fatal(err)
		}
	}
	checkFinite(b, scores.TestLoss, scores.Self)

	med := median(times)
	b.ReportMetric(med, "score-s")
	b.ReportMetric(trainS, "train-s")
	b.ReportMetric(med/trainS, "score/train")
}

// BenchmarkFirstOrderHyDRALogged times what optraj attribute does when it
// trains the run itself: training one epoch with an influence.StepLog
// attached, then influence.FirstOrderLogged scoring all 60,000 points
// from the log, against the objectives of BenchmarkFirstOrderHyDRA. It
// reports the median time of each, their ratio and the log's size.
func BenchmarkFirstOrderHyDRALogged(b *testing.B) {
	dev := openDevice(b)
	data, test := mnistData(b, dev)
	cfg := benchConfig(1)
	obj := influence.Objectives{Test: test, TestLoss: true, Self: true}
	base := b.TempDir()

	var trainS, scoreS []float64
	var scores *influence.Scores
	for b.Loop() {
		log := influence.NewStepLog(dev, cfg.Epochs, data.N())
		start := time.Now()
		run, err := train.TrainHooked(context.Background(), dev, data, cfg,
			filepath.Join(base, strconv.Itoa(len(trainS))), log.Hook, nil)
		trainS = append(trainS, time.Since(start).Seconds())
		if err != nil {
			b.Fatal(err)
		}
		run.Free()

		start = time.Now()
		scores, err = influence.FirstOrderLogged(context.Background(), dev,
			run.Record, data, obj, log, nil)
		scoreS = append(scoreS, time.Since(start).Seconds())
		log.Free()
		if err != nil {
			b.Fatal(err)
		}
	}
	checkFinite(b, scores.TestLoss, scores.Self)

	b.ReportMetric(median(scoreS), "score-s")
	b.ReportMetric(median(trainS), "train-s")
	b.ReportMetric(median(scoreS)/median(trainS), "score/train")
	mib := float64(influence.StepLogBytes(cfg.Sizes, cfg.Epochs, data.N())) / (1 << 20)
	b.ReportMetric(mib, "log-MiB")
	b.ReportMetric(0, "ns/op")
}

// trainTimed trains cfg on data runs times, each into a fresh folder, and
// returns the record of the first run and the median seconds per run.
func trainTimed(b *testing.B, dev device.Device, data *train.Data,
	cfg train.Config, runs int) (*train.Record, float64) {
	b.Helper()
	var rec *train.Record
	times := make([]float64, runs)
	for i := range times {
		start := time.Now()
		run, err := train.Train(context.Background(), dev, data, cfg,
			filepath.Join(b.TempDir(), "run"), nil)
		times[i] = time.Since(start).Seconds()
		if err != nil {
			b.Fatal(err)
		}
		run.Free()
		if rec == nil {
			rec = run.Record
		}
	}
	return rec, median(times)
}

// checkFinite fails b if a score is NaN or infinite: a fast scorer that
// computes garbage is no result.
func checkFinite(b *testing.B, scores ...[]float64) {
	b.Helper()
	for _, s := range scores {
		for i, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				b.Fatalf("score of point %d is %g", i, v)
			}
		}
	}
}

// peerResult is the JSON line that peers/torch_mlp.py prints.
type peerResult struct {
	TorchVersion string    `json:"torch_version"`
	Threads      int       `json:"threads"`
	NTrain       int       `json:"n_train"`
	EpochS       []float64 `json:"epoch_s"`
	TestAccuracy []float64 `json:"test_accuracy_by_epoch"`
	HyDRA        *struct {
		PrepareS float64 `json:"prepare_s"`
		ReplayS  float64 `json:"replay_s"`
		ExtraS   float64 `json:"extra_s"`
		ScoreS   float64 `json:"score_s"`
		TrainS   float64 `json:"train_s"`
	} `json:"hydra"`
}

// requirePeer skips b unless the peer's Python imports torch and the
// MNIST files are there.
func requirePeer(b *testing.B) {
	b.Helper()
	if _, err := os.Stat(peerScript); err != nil {
		b.Fatalf("PyTorch peer: %v", err)
	}
	if _, err := os.Stat(*mnistDir); err != nil {
		b.Skipf("MNIST is not in %s; run scripts/fetch-mnist.sh: %v",
			*mnistDir, err)
	}
	out, err := exec.Command(*peerPython, "-c", "import torch").CombinedOutput()
	if err != nil {
		b.Skipf("PyTorch peer: %s cannot import torch (run "+
			"scripts/install-peers.sh): %v\n%s", *peerPython, err, out)
	}
}

// runPeer runs the PyTorch peer on cfg, with as many threads as ours,
// and returns what it printed. With hydra set it also scores.
func runPeer(b *testing.B, cfg train.Config, hydra bool) peerResult {
	b.Helper()
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	n := strconv.Itoa(threads())
	args := []string{peerScript,
		"--epochs", strconv.Itoa(cfg.Epochs),
		"--batch", strconv.Itoa(cfg.BatchSize),
		"--lr", f(cfg.LearningRate),
		"--momentum", f(cfg.Momentum),
		"--weight-decay", f(cfg.WeightDecay),
		"--seed", strconv.FormatUint(cfg.Seed, 10),
		"--threads", n,
	}
	if hydra {
		args = append(args, "--hydra")
	}
	cmd := exec.Command(*peerPython, append(args, *mnistDir)...)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS="+n, "MKL_NUM_THREADS="+n)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("PyTorch peer: %v\n%s", err, stderr.Bytes())
	}

	var r peerResult
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	if err := json.Unmarshal(lines[len(lines)-1], &r); err != nil {
		b.Fatalf("PyTorch peer printed %q: %v", out, err)
	}
	if len(r.EpochS) != cfg.Epochs || len(r.TestAccuracy) != cfg.Epochs ||
		hydra != (r.HyDRA != nil) {
		b.Fatalf("PyTorch peer printed %s, not the run asked for", out)
	}
	b.Logf("PyTorch %s, %d threads: %s", r.TorchVersion, r.Threads,
		bytes.TrimSpace(out))
	return r
}

// BenchmarkPeerTorch trains the same MLP in PyTorch, -peer-epochs epochs
// per run of the peer, and reports what BenchmarkTrainEpoch reports, over
// every epoch of every run. The time of one run includes starting Python
// and reading MNIST, so ns/op is left out.
func BenchmarkPeerTorch(b *testing.B) {
	requirePeer(b)
	cfg := benchConfig(*peerEpochs)

	var times []float64
	var acc float64
	var n int
	for b.Loop() {
		r := runPeer(b, cfg, false)
		times = append(times, r.EpochS...)
		acc, n = r.TestAccuracy[0], r.NTrain
	}
	reportEpochs(b, times, flopPerEpoch(cfg.Sizes, n), acc)
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPeerTorchHyDRA scores the training points in PyTorch as
// BenchmarkFirstOrderHyDRA does with optraj, over one epoch, and reports
// the same metrics, the training time being that of the peer's own epoch,
// and extra-s, the time the replay spends beyond training.
func BenchmarkPeerTorchHyDRA(b *testing.B) {
	requirePeer(b)

	var score, trainS, extra []float64
	for b.Loop() {
		h := runPeer(b, benchConfig(1), true).HyDRA
		score = append(score, h.ScoreS)
		trainS = append(trainS, h.TrainS)
		extra = append(extra, h.ExtraS)
	}
	b.ReportMetric(median(score), "score-s")
	b.ReportMetric(median(trainS), "train-s")
	b.ReportMetric(median(score)/median(trainS), "score/train")
	b.ReportMetric(median(extra), "extra-s")
	b.ReportMetric(0, "ns/op")
}
