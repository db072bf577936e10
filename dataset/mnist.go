package dataset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Set is a labelled classification data set held in host memory: N
// examples of D features each, with labels in [0, Classes).
//
// X holds the N×D features row-major, example i in X[i·D : (i+1)·D].
// Images read from IDX files have their pixels scaled from 0…255 to [0, 1].
// Y holds the N labels. Shape is the shape of one example, [28 28] for
// MNIST and [D] for flat features; its product is D.
type Set struct {
	X       []float32
	Y       []int32
	N, D    int
	Classes int
	Shape   []int
}

// Row returns the D features of example i, sharing memory with s.X. It
// panics if i is outside [0, N).
func (s *Set) Row(i int) []float32 {
	if i < 0 || i >= s.N {
		panic(fmt.Sprintf("dataset: row %d out of range [0, %d)", i, s.N))
	}
	return s.X[i*s.D : (i+1)*s.D : (i+1)*s.D]
}

// Subset returns a new set of the examples idx, in that order, with copies
// of their features and labels. It panics if an index is outside [0, N).
func (s *Set) Subset(idx []int) *Set {
	sub := &Set{
		X:       make([]float32, 0, len(idx)*s.D),
		Y:       make([]int32, len(idx)),
		N:       len(idx),
		D:       s.D,
		Classes: s.Classes,
		Shape:   slices.Clone(s.Shape),
	}
	for j, i := range idx {
		sub.X = append(sub.X, s.Row(i)...)
		sub.Y[j] = s.Y[i]
	}
	return sub
}

// IDXClasses is the number of classes LoadIDXPair and LoadMNIST accept:
// MNIST's digits and Fashion-MNIST's clothing classes both number 10.
const IDXClasses = 10

// Errors that the loaders return wrapped, for errors.Is.
var (
	// ErrCountMismatch marks an image file and a label file that hold
	// different numbers of examples.
	ErrCountMismatch = errors.New("dataset: image and label counts differ")

	// ErrLabel marks a label outside its set's classes: outside
	// [0, IDXClasses) in an IDX label file, outside [0, classes) in
	// FlipLabels.
	ErrLabel = errors.New("dataset: label out of range")
)

// The MNIST file names, as published and as scripts/fetch-mnist.sh saves
// them; each may also be present without the ".gz".
const (
	mnistTrainImages = "train-images-idx3-ubyte.gz"
	mnistTrainLabels = "train-labels-idx1-ubyte.gz"
	mnistTestImages  = "t10k-images-idx3-ubyte.gz"
	mnistTestLabels  = "t10k-labels-idx1-ubyte.gz"
)

// LoadMNIST reads the MNIST training (60,000 images) and test (10,000)
// sets from dir, which holds the four files that `make data` fetches:
// train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
// t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz. Each may also
// be stored decompressed, without the ".gz". Pixels are scaled to [0, 1];
// D is 784 and Shape [28 28]. The two sets load concurrently. The counts
// are not checked against MNIST's, so a folder of smaller files in the same
// layout loads too.
func LoadMNIST(dir string) (train, test *Set, err error) {
	var wg sync.WaitGroup
	var testErr error
	wg.Go(func() {
		test, testErr = loadMNISTPair(dir, mnistTestImages, mnistTestLabels)
	})
	train, err = loadMNISTPair(dir, mnistTrainImages, mnistTrainLabels)
	wg.Wait()

	if err == nil {
		err = testErr
	}
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// loadMNISTPair finds the files images and labels in dir and loads them.
func loadMNISTPair(dir, images, labels string) (*Set, error) {
	imagesPath, err := findMNISTFile(dir, images)
	if err != nil {
		return nil, err
	}
	labelsPath, err := findMNISTFile(dir, labels)
	if err != nil {
		return nil, err
	}
	return LoadIDXPair(imagesPath, labelsPath)
}

// findMNISTFile returns the path of name in dir, or of name without its
// ".gz" when only that exists.
func findMNISTFile(dir, name string) (string, error) {
	plain := strings.TrimSuffix(name, ".gz")
	for _, cand := range []string{name, plain} {
		path := filepath.Join(dir, cand)
		_, err := os.Stat(path)
		if err == nil {
			return path, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("dataset: MNIST: %w", err)
		}
	}
	return "", fmt.Errorf("dataset: MNIST file %s (or %s) not found in %s; "+
		"run `make data` to fetch it: %w", name, plain, dir, fs.ErrNotExist)
}

// LoadIDXPair reads a labelled image set from an IDX image file (n×rows×
// cols unsigned bytes, or any n×… array) and an IDX label file (n unsigned
// bytes), each gzip-compressed or plain. This is the format of MNIST and
// Fashion-MNIST. Pixels are scaled to [0, 1]. Classes is IDXClasses, and
// every label must be below it.
func LoadIDXPair(imagesPath, labelsPath string) (*Set, error) {
	images, err := ReadIDXFile(imagesPath)
	if err != nil {
		return nil, err
	}
	d, err := exampleSize(imagesPath, images.Dims)
	if err != nil {
		return nil, err
	}
	labels, err := ReadIDXFile(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(labels.Dims) != 1 {
		return nil, dimsError(labelsPath, labels.Dims, "n labels")
	}

	n := images.Dims[0]
	if n != labels.Dims[0] {
		return nil, fmt.Errorf("%w: %s holds %d images but %s holds %d labels",
			ErrCountMismatch, imagesPath, n, labelsPath, labels.Dims[0])
	}
	y, err := idxLabels(labelsPath, labels.Data)
	if err != nil {
		return nil, err
	}
	return &Set{
		X:       scalePixels(images.Data),
		Y:       y,
		N:       n,
		D:       d,
		Classes: IDXClasses,
		Shape:   slices.Clone(images.Dims[1:]),
	}, nil
}

// exampleSize returns the number of values in one example of an n×…
// array: the product of all dimensions but the first.
func exampleSize(path string, dims []int) (int, error) {
	if len(dims) < 2 {
		return 0, dimsError(path, dims, "n×… images")
	}
	d, ok := dimsProduct(dims[1:])
	if !ok {
		return 0, dimsError(path, dims, "an example size that fits an int")
	}
	return d, nil
}

func dimsError(path string, dims []int, want string) error {
	return &IDXError{
		Path:   path,
		Offset: idxMagicLen - 1,
		Kind:   ErrFormat,
		Detail: fmt.Sprintf("dimensions %s, want %s", dimString(dims), want),
	}
}

// idxLabels converts label bytes to int32, checking each is a class.
func idxLabels(path string, raw []byte) ([]int32, error) {
	y := make([]int32, len(raw))
	for i, b := range raw {
		if b >= IDXClasses {
			return nil, fmt.Errorf("%w: %s: label %d of example %d "+
				"(offset %d), want below %d", ErrLabel, path, b, i,
				idxMagicLen+idxDimLen+i, IDXClasses)
		}
		y[i] = int32(b)
	}
	return y, nil
}

// pixelScale maps a byte to its value in [0, 1].
var pixelScale = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// scalePixels converts bytes to float32 in [0, 1].
func scalePixels(raw []byte) []float32 {
	x := make([]float32, len(raw))
	for i, b := range raw {
		x[i] = pixelScale[b]
	}
	return x
}
