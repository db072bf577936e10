package train

import (
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"unsafe"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
)

// Config is everything that determines a training run besides the data:
// the run is a pure function of (data, Config).
type Config struct {
	Sizes        []int    `json:"sizes"`         // layer widths, input first
	Epochs       int      `json:"epochs"`        // passes over the data
	BatchSize    int      `json:"batch_size"`    // B, the last batch may be smaller
	LearningRate float64  `json:"learning_rate"` // η₀
	Schedule     Schedule `json:"schedule"`      // how η_t follows from η₀
	Momentum     float64  `json:"momentum"`      // μ
	WeightDecay  float64  `json:"weight_decay"`  // λ
	Seed         uint64   `json:"seed"`          // initialisation and batch order

	// CheckpointEvery is the number of steps between weight checkpoints;
	// zero means one per epoch. The last step always gets one.
	CheckpointEvery int `json:"checkpoint_every"`
}

// Validate reports the first setting that cannot be used.
func (c Config) Validate() error {
	switch {
	case len(c.Sizes) < 2:
		return fmt.Errorf("train: sizes %v: need an input and an output size", c.Sizes)
	case c.Epochs <= 0:
		return fmt.Errorf("train: epochs = %d, want > 0", c.Epochs)
	case c.BatchSize <= 0:
		return fmt.Errorf("train: batch size = %d, want > 0", c.BatchSize)
	case !(c.LearningRate > 0) || math.IsInf(c.LearningRate, 0):
		return fmt.Errorf("train: learning rate = %g, want > 0", c.LearningRate)
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return fmt.Errorf("train: momentum = %g, want in [0, 1)", c.Momentum)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return fmt.Errorf("train: weight decay = %g, want ≥ 0", c.WeightDecay)
	case c.CheckpointEvery < 0:
		return fmt.Errorf("train: checkpoint every %d steps, want ≥ 0", c.CheckpointEvery)
	}
	for _, s := range c.Sizes {
		if s <= 0 {
			return fmt.Errorf("train: layer size %d in %v", s, c.Sizes)
		}
	}
	_, err := c.Schedule.Rates(c.LearningRate, 1)
	return err
}

// Data is a labelled training set on a device: N inputs of D values in the
// rows of X, and their class labels.
type Data struct {
	X           *tensor.Tensor // N×D
	Y           []int32        // N labels in [0, classes)
	Fingerprint string         // a checksum of X and Y, kept in records
}

// NewData copies the host inputs x (n×d, row-major) to dev and keeps the
// labels y. It returns an error naming the first label outside
// [0, classes) and any allocation failure.
func NewData(dev device.Device, x []float32, y []int32, d, classes int) (*Data, error) {
	if d <= 0 || len(x) != len(y)*d {
		return nil, fmt.Errorf("train: %d input values for %d labels of width %d",
			len(x), len(y), d)
	}
	for i, c := range y {
		if c < 0 || int(c) >= classes {
			return nil, fmt.Errorf("train: label %d of point %d outside [0, %d)", c, i, classes)
		}
	}
	t, err := tensor.FromHost(dev, x, len(y), d)
	if err != nil {
		return nil, fmt.Errorf("train: data of %d×%d: %w", len(y), d, err)
	}
	return &Data{X: t, Y: y, Fingerprint: fingerprint(x, y)}, nil
}

// N returns the number of points.
func (d *Data) N() int { return len(d.Y) }

// fingerprint returns a CRC-32C of the bytes of x and y.
func fingerprint(x []float32, y []int32) string {
	tab := crc32.MakeTable(crc32.Castagnoli)
	h := crc32.Update(0, tab, bytesOf(x))
	h = crc32.Update(h, tab, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(y))), 4*len(y)))
	return fmt.Sprintf("crc32c:%08x:%d", h, len(y))
}

func bytesOf(x []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x))
}

// batchOrder returns the order in which each epoch visits the n points:
// epochs permutations of [0, n), drawn from seed, one after the other.
func batchOrder(seed uint64, epochs, n int) []int32 {
	rng := rand.New(rand.NewPCG(seed, streamOrder))
	order := make([]int32, epochs*n)
	for e := range epochs {
		p := order[e*n : (e+1)*n]
		for i := range p {
			p[i] = int32(i)
		}
		rng.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	}
	return order
}
