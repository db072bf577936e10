package train

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/optraj/optraj/internal/atomicfile"
)

// A trajectory record is a folder:
//
//	trajectory.json    the Record: config, data fingerprint, η_t, checkpoints
//	order.bin          the minibatch order, Epochs×N int32
//	ckpt-00000000.bin  weights and momentum before step 0, and so on
//
// Every file is written atomically, and trajectory.json is rewritten only
// after the checkpoint it lists is on disk, so a killed run leaves a record
// that is whole up to its last checkpoint and can resume from it. The
// binary files are little-endian, start with an 8-byte magic and end with
// a CRC-32C of everything before it.

const (
	recordFile  = "trajectory.json"
	orderFile   = "order.bin"
	formatName  = "optraj-trajectory/1"
	orderMagic  = "OPTRJOR1"
	ckptMagic   = "OPTRJCK1"
	maxTensors  = 1 << 16
	maxTensorSz = 1 << 31
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by errors about record files that fail their
// checks: a wrong magic, a bad checksum, a truncated file.
var ErrCorrupt = errors.New("train: corrupt trajectory file")

// Record describes a training run and what it saved: enough to revisit
// any step. Step t uses batch t of the order and learning rate LR[t];
// checkpoint t holds the weights and momentum before step t, so
// checkpoint Steps holds the final weights.
type Record struct {
	Format        string    `json:"format"`
	Config        Config    `json:"config"`
	Data          string    `json:"data_fingerprint"`
	N             int       `json:"n"`
	StepsPerEpoch int       `json:"steps_per_epoch"`
	Steps         int       `json:"steps"`
	LR            []float64 `json:"learning_rates"`
	Checkpoints   []int     `json:"checkpoints"`
	Complete      bool      `json:"complete"`

	dir   string
	order []int32
}

// newRecord lays out the run of cfg over n points.
func newRecord(dir string, cfg Config, data *Data) (*Record, error) {
	n := data.N()
	spe := (n + cfg.BatchSize - 1) / cfg.BatchSize
	steps := cfg.Epochs * spe
	lr, err := cfg.Schedule.Rates(cfg.LearningRate, steps)
	if err != nil {
		return nil, err
	}
	return &Record{
		Format: formatName, Config: cfg, Data: data.Fingerprint,
		N: n, StepsPerEpoch: spe, Steps: steps, LR: lr,
		dir: dir, order: batchOrder(cfg.Seed, cfg.Epochs, n),
	}, nil
}

// Dir returns the folder of the record.
func (r *Record) Dir() string { return r.dir }

// checkpointEvery returns the number of steps between checkpoints.
func (r *Record) checkpointEvery() int {
	if r.Config.CheckpointEvery > 0 {
		return r.Config.CheckpointEvery
	}
	return r.StepsPerEpoch
}

// Batch returns the indices of the points in the batch of step t.
func (r *Record) Batch(t int) []int32 {
	e, b := t/r.StepsPerEpoch, t%r.StepsPerEpoch
	lo := e*r.N + b*r.Config.BatchSize
	hi := min(lo+r.Config.BatchSize, (e+1)*r.N)
	return r.order[lo:hi]
}

// LastCheckpoint returns the latest step with a checkpoint at or before t.
func (r *Record) LastCheckpoint(t int) (int, bool) {
	i, found := slices.BinarySearch(r.Checkpoints, t)
	if found {
		return t, true
	}
	if i == 0 {
		return 0, false
	}
	return r.Checkpoints[i-1], true
}

// OpenRecord reads the record in dir.
func OpenRecord(dir string) (*Record, error) {
	path := filepath.Join(dir, recordFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: reading trajectory: %w", err)
	}
	r := &Record{dir: dir}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("train: %s: %w: %v", path, ErrCorrupt, err)
	}
	if r.Format != formatName {
		return nil, fmt.Errorf("train: %s: format %q, want %q", path, r.Format, formatName)
	}
	if len(r.LR) != r.Steps || r.StepsPerEpoch <= 0 || r.N <= 0 {
		return nil, fmt.Errorf("train: %s: %w: %d rates for %d steps",
			path, ErrCorrupt, len(r.LR), r.Steps)
	}
	if r.order, err = readOrder(filepath.Join(dir, orderFile), r.Config.Epochs*r.N); err != nil {
		return nil, err
	}
	return r, nil
}

// save writes trajectory.json atomically.
func (r *Record) save() error {
	data, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(r.dir, recordFile), append(data, '\n'))
}

func writeOrder(path string, order []int32) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := newCRCWriter(w)
		if _, err := io.WriteString(cw, orderMagic); err != nil {
			return err
		}
		if err := binary.Write(cw, binary.LittleEndian, uint64(len(order))); err != nil {
			return err
		}
		if err := binary.Write(cw, binary.LittleEndian, order); err != nil {
			return err
		}
		return binary.Write(w, binary.LittleEndian, cw.sum)
	})
}

func readOrder(path string, want int) ([]int32, error) {
	var order []int32
	err := readChecked(path, orderMagic, func(r io.Reader) error {
		var n uint64
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return err
		}
		if n != uint64(want) {
			return fmt.Errorf("%w: %d indices, want %d", ErrCorrupt, n, want)
		}
		order = make([]int32, n)
		return binary.Read(r, binary.LittleEndian, order)
	})
	return order, err
}

func checkpointPath(dir string, step int) string {
	return filepath.Join(dir, fmt.Sprintf("ckpt-%08d.bin", step))
}

// writeCheckpoint saves tensors (weights, then momentum) as of step.
func writeCheckpoint(path string, step int, tensors [][]float32) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := newCRCWriter(w)
		if _, err := io.WriteString(cw, ckptMagic); err != nil {
			return err
		}
		hdr := []uint64{uint64(step), uint64(len(tensors))}
		if err := binary.Write(cw, binary.LittleEndian, hdr); err != nil {
			return err
		}
		for _, t := range tensors {
			if err := binary.Write(cw, binary.LittleEndian, uint64(len(t))); err != nil {
				return err
			}
			if err := binary.Write(cw, binary.LittleEndian, t); err != nil {
				return err
			}
		}
		return binary.Write(w, binary.LittleEndian, cw.sum)
	})
}

// readCheckpoint loads a checkpoint written by writeCheckpoint and checks
// that it is the one for step.
func readCheckpoint(path string, step int) ([][]float32, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var tensors [][]float32
	err = readChecked(path, ckptMagic, func(r io.Reader) error {
		var hdr [2]uint64
		if err := binary.Read(r, binary.LittleEndian, &hdr); err != nil {
			return err
		}
		if hdr[0] != uint64(step) {
			return fmt.Errorf("%w: checkpoint of step %d, want %d", ErrCorrupt, hdr[0], step)
		}
		if hdr[1] > maxTensors {
			return fmt.Errorf("%w: %d tensors", ErrCorrupt, hdr[1])
		}
		for range hdr[1] {
			var n uint64
			if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
				return err
			}
			if n > maxTensorSz || 4*n > uint64(fi.Size()) {
				return fmt.Errorf("%w: tensor of %d values in a file of %d bytes",
					ErrCorrupt, n, fi.Size())
			}
			t := make([]float32, n)
			if err := binary.Read(r, binary.LittleEndian, t); err != nil {
				return err
			}
			tensors = append(tensors, t)
		}
		return nil
	})
	return tensors, err
}

// readChecked opens path, checks its magic, lets body read the payload,
// and checks that the CRC-32C trailer matches and nothing follows it.
func readChecked(path, magic string, body func(r io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	cr := &crcReader{r: bufio.NewReaderSize(f, 1<<20)}

	head := make([]byte, len(magic))
	if _, err := io.ReadFull(cr, head); err != nil || string(head) != magic {
		return fmt.Errorf("train: %s: %w: not a %s file", path, ErrCorrupt, magic)
	}
	if err := body(cr); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		return fmt.Errorf("train: %s: %w", path, err)
	}
	sum := cr.sum
	var want uint32
	if err := binary.Read(cr.r, binary.LittleEndian, &want); err != nil {
		return fmt.Errorf("train: %s: %w: truncated checksum", path, ErrCorrupt)
	}
	if want != sum {
		return fmt.Errorf("train: %s: %w: checksum %08x, want %08x", path, ErrCorrupt, sum, want)
	}
	if _, err := cr.r.ReadByte(); err != io.EOF {
		return fmt.Errorf("train: %s: %w: data after the checksum", path, ErrCorrupt)
	}
	return nil
}

type crcWriter struct {
	w   io.Writer
	sum uint32
}

func newCRCWriter(w io.Writer) *crcWriter { return &crcWriter{w: w} }

func (c *crcWriter) Write(p []byte) (int, error) {
	c.sum = crc32.Update(c.sum, castagnoli, p)
	return c.w.Write(p)
}

type crcReader struct {
	r   *bufio.Reader
	sum uint32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.sum = crc32.Update(c.sum, castagnoli, p[:n])
	return n, err
}
