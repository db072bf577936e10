package dataset

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// realMNIST is where `make data` puts MNIST, relative to this package.
const realMNIST = "../data/mnist"

// randomLabels returns n seeded labels in [0, IDXClasses) as an IDX array.
func randomLabels(n int, seed uint64) *IDX {
	rng := rand.New(rand.NewPCG(seed, 2))
	x := &IDX{Dims: []int{n}, Data: make([]byte, n)}
	for i := range x.Data {
		x.Data[i] = byte(rng.IntN(IDXClasses))
	}
	return x
}

// writeIDXFiles writes each array to dir under its name, compressed when
// the name ends in ".gz".
func writeIDXFiles(t *testing.T, dir string, files map[string]*IDX) {
	t.Helper()
	for name, x := range files {
		if err := WriteIDXFile(filepath.Join(dir, name), x); err != nil {
			t.Fatalf("WriteIDXFile(%s): %v", name, err)
		}
	}
}

// fakeMNIST writes small MNIST-shaped files to a new folder, with ".gz"
// names (compressed) or without (plain), and returns the folder and the
// arrays written.
func fakeMNIST(t *testing.T, nTrain, nTest int, gz bool) (string,
	map[string]*IDX) {
	t.Helper()
	files := map[string]*IDX{
		mnistTrainImages: randomIDX([]int{nTrain, 28, 28}, 11),
		mnistTrainLabels: randomLabels(nTrain, 12),
		mnistTestImages:  randomIDX([]int{nTest, 28, 28}, 13),
		mnistTestLabels:  randomLabels(nTest, 14),
	}
	named := make(map[string]*IDX)
	for name, x := range files {
		if !gz {
			name = strings.TrimSuffix(name, ".gz")
		}
		named[name] = x
	}
	dir := t.TempDir()
	writeIDXFiles(t, dir, named)
	return dir, files
}

// checkSet checks s against the arrays it was read from.
func checkSet(t *testing.T, s *Set, images, labels *IDX) {
	t.Helper()
	n := images.Dims[0]
	if s.N != n || s.D != 784 || s.Classes != IDXClasses ||
		!slices.Equal(s.Shape, []int{28, 28}) {
		t.Fatalf("N %d, D %d, Classes %d, Shape %v; want %d, 784, %d, [28 28]",
			s.N, s.D, s.Classes, s.Shape, n, IDXClasses)
	}
	for i, b := range images.Data {
		if want := float32(b) / 255; s.X[i] != want {
			t.Fatalf("X[%d] = %v, want %v", i, s.X[i], want)
		}
	}
	for i, b := range labels.Data {
		if s.Y[i] != int32(b) {
			t.Fatalf("Y[%d] = %d, want %d", i, s.Y[i], b)
		}
	}
}

func TestLoadMNIST(t *testing.T) {
	for _, gz := range []bool{true, false} {
		t.Run("gzip="+strconv.FormatBool(gz), func(t *testing.T) {
			dir, files := fakeMNIST(t, 30, 7, gz)
			train, test, err := LoadMNIST(dir)
			if err != nil {
				t.Fatalf("LoadMNIST: %v", err)
			}
			checkSet(t, train, files[mnistTrainImages],
				files[mnistTrainLabels])
			checkSet(t, test, files[mnistTestImages],
				files[mnistTestLabels])
		})
	}
}

func TestLoadMNISTMissing(t *testing.T) {
	dir, _ := fakeMNIST(t, 3, 2, true)
	missing := filepath.Join(dir, mnistTestLabels)
	if err := os.Remove(missing); err != nil {
		t.Fatalf("remove: %v", err)
	}
	_, _, err := LoadMNIST(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want fs.ErrNotExist", err)
	}
	for _, part := range []string{mnistTestLabels, dir, "make data"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %q", err, part)
		}
	}
}

func TestLoadIDXPairErrors(t *testing.T) {
	badLabel := randomLabels(5, 3)
	badLabel.Data[4] = IDXClasses
	cases := []struct {
		name           string
		images, labels *IDX
		kind           error
		parts          []string
	}{
		{"counts differ", randomIDX([]int{6, 28, 28}, 1), randomLabels(5, 2),
			ErrCountMismatch, []string{"6 images", "5 labels", "img", "lbl"}},
		{"label 10", randomIDX([]int{5, 28, 28}, 1), badLabel,
			ErrLabel, []string{"label 10", "example 4", "lbl"}},
		{"1-D images", randomIDX([]int{5}, 1), randomLabels(5, 2),
			ErrFormat, []string{"img", "want n×… images"}},
		{"2-D labels", randomIDX([]int{5, 4}, 1), randomIDX([]int{5, 1}, 2),
			ErrFormat, []string{"lbl", "5×1", "want n labels"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeIDXFiles(t, dir, map[string]*IDX{
				"img.gz": tc.images, "lbl.gz": tc.labels})
			_, err := LoadIDXPair(filepath.Join(dir, "img.gz"),
				filepath.Join(dir, "lbl.gz"))
			if !errors.Is(err, tc.kind) {
				t.Fatalf("got %v, want %v", err, tc.kind)
			}
			for _, part := range tc.parts {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not mention %q", err, part)
				}
			}
		})
	}
}

func TestLoadIDXPairShape(t *testing.T) {
	dir := t.TempDir()
	images := randomIDX([]int{4, 2, 3, 5}, 1)
	writeIDXFiles(t, dir, map[string]*IDX{
		"img": images, "lbl": randomLabels(4, 2)})
	s, err := LoadIDXPair(filepath.Join(dir, "img"), filepath.Join(dir, "lbl"))
	if err != nil {
		t.Fatalf("LoadIDXPair: %v", err)
	}
	if s.N != 4 || s.D != 30 || !slices.Equal(s.Shape, []int{2, 3, 5}) {
		t.Errorf("N %d, D %d, Shape %v; want 4, 30, [2 3 5]", s.N, s.D, s.Shape)
	}
}

func TestSetRowSubset(t *testing.T) {
	s := Blobs(10, 3, 2, 0.5, 1)
	sub := s.Subset([]int{7, 2, 7})
	if sub.N != 3 || sub.D != 3 || sub.Classes != 2 {
		t.Fatalf("subset N %d, D %d, Classes %d", sub.N, sub.D, sub.Classes)
	}
	for j, i := range []int{7, 2, 7} {
		if !slices.Equal(sub.Row(j), s.Row(i)) || sub.Y[j] != s.Y[i] {
			t.Errorf("subset row %d differs from row %d", j, i)
		}
	}
	sub.X[0]++
	if sub.X[0] == s.X[7*3] {
		t.Errorf("Subset shares memory with its source")
	}
}

// mnistOrSkip loads the fetched MNIST, or skips when it is absent.
func mnistOrSkip(tb testing.TB) (train, test *Set) {
	tb.Helper()
	if _, err := os.Stat(realMNIST); errors.Is(err, fs.ErrNotExist) {
		tb.Skipf("no MNIST in %s: run `make data` to fetch it", realMNIST)
	}
	train, test, err := LoadMNIST(realMNIST)
	if err != nil {
		tb.Fatalf("LoadMNIST(%s): %v", realMNIST, err)
	}
	return train, test
}

// TestLoadMNISTReal checks the fetched files: their sizes, their value
// ranges and their first labels, which are 5 (training) and 7 (test).
func TestLoadMNISTReal(t *testing.T) {
	train, test := mnistOrSkip(t)
	cases := []struct {
		name  string
		s     *Set
		n     int
		first int32
	}{
		{"train", train, 60000, 5},
		{"test", test, 10000, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			if s.N != tc.n || s.D != 784 || len(s.X) != tc.n*784 ||
				len(s.Y) != tc.n {
				t.Fatalf("N %d, D %d, len X %d, len Y %d; "+
					"want %d images of 784", s.N, s.D, len(s.X), len(s.Y), tc.n)
			}
			if s.Y[0] != tc.first {
				t.Errorf("first label %d, want %d", s.Y[0], tc.first)
			}
			lo, hi := slices.Min(s.X), slices.Max(s.X)
			if lo != 0 || hi != 1 {
				t.Errorf("pixels span [%v, %v], want [0, 1]", lo, hi)
			}
		})
	}
}

// BenchmarkLoadMNIST measures loading the fetched MNIST, in bytes of
// pixels and labels per second.
func BenchmarkLoadMNIST(b *testing.B) {
	train, test := mnistOrSkip(b)
	b.SetBytes(int64(len(train.X) + len(train.Y) + len(test.X) + len(test.Y)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := LoadMNIST(realMNIST); err != nil {
			b.Fatal(err)
		}
	}
}
