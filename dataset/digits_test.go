package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// digitLine returns a CSV line of 64 pixels p(j) and the label.
func digitLine(p func(j int) int, label string) string {
	var b strings.Builder
	for j := range 64 {
		fmt.Fprintf(&b, "%d,", p(j))
	}
	return b.String() + label + "\n"
}

func writeDigitsFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func gzipDigits(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestLoadDigitsSynthetic(t *testing.T) {
	csv := digitLine(func(j int) int { return j % 17 }, "3") +
		"\n" + // a blank line is skipped
		digitLine(func(j int) int { return 16 - j%17 }, "9")
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"digits.csv", []byte(csv)},
		{"digits.csv.gz", gzipDigits(t, csv)},
		{"crlf.csv", []byte(strings.ReplaceAll(csv, "\n", "\r\n"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := LoadDigits(writeDigitsFile(t, c.name, c.data))
			if err != nil {
				t.Fatal(err)
			}
			if s.N != 2 || s.D != 64 || s.Classes != 10 || len(s.X) != 128 ||
				fmt.Sprint(s.Shape) != "[8 8]" {
				t.Fatalf("N %d, D %d, classes %d, %d values, shape %v",
					s.N, s.D, s.Classes, len(s.X), s.Shape)
			}
			if s.Y[0] != 3 || s.Y[1] != 9 {
				t.Errorf("labels %v, want [3 9]", s.Y)
			}
			for j := range 64 {
				want := [2]float32{float32(j%17) / 16, float32(16-j%17) / 16}
				if s.Row(0)[j] != want[0] || s.Row(1)[j] != want[1] {
					t.Fatalf("pixel %d: %v, %v, want %v", j,
						s.Row(0)[j], s.Row(1)[j], want)
				}
			}
		})
	}
}

func TestLoadDigitsErrors(t *testing.T) {
	good := digitLine(func(int) int { return 1 }, "0")
	for _, c := range []struct {
		name, csv string
		want      error
		text      string
	}{
		{"fields", good + "1,2,3\n", ErrCSV, ":2: "},
		{"pixel", good + digitLine(func(j int) int { return 17 * (j / 63) }, "1"),
			ErrCSV, "pixel 64"},
		{"number", good + strings.Replace(good, "1,", "x,", 1), ErrCSV, "\"x\""},
		{"label", good + digitLine(func(int) int { return 0 }, "10"), ErrLabel, ":2: "},
		{"fraction", digitLine(func(int) int { return 0 }, "1.5"), ErrLabel, ":1: "},
		{"empty", "\n\n", ErrCSV, "no images"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeDigitsFile(t, "bad.csv", []byte(c.csv))
			_, err := LoadDigits(path)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), path) ||
				!strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v, want %v naming %s and %q", err, c.want, path, c.text)
			}
		})
	}

	missing := filepath.Join(t.TempDir(), "none.csv.gz")
	if _, err := LoadDigits(missing); !errors.Is(err, os.ErrNotExist) ||
		!strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	cut := gzipDigits(t, good+good)
	path := writeDigitsFile(t, "cut.csv.gz", cut[:len(cut)-6])
	if _, err := LoadDigits(path); !errors.Is(err, ErrGzip) {
		t.Errorf("truncated gzip: %v, want ErrGzip", err)
	}
}

func TestLoadDigitsReal(t *testing.T) {
	if _, err := os.Stat(DigitsPath); err != nil {
		t.Skipf("digits CSV not installed (%v); apt-get install python3-sklearn", err)
	}
	s, err := LoadDigits(DigitsPath)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 1797 || s.D != 64 {
		t.Fatalf("N %d, D %d, want 1797 images of 64 pixels", s.N, s.D)
	}
	var counts [DigitsClasses]int
	for _, y := range s.Y {
		counts[y]++
	}
	for c, n := range counts {
		if n < 170 || n > 190 {
			t.Errorf("class %d has %d images, want 174 to 183", c, n)
		}
	}
	for _, x := range s.X {
		if !(x >= 0 && x <= 1) {
			t.Fatalf("pixel %v outside [0, 1]", x)
		}
	}
	// The first image, a zero, begins 0,0,5,13,9,1.
	if s.Y[0] != 0 || s.Row(0)[2] != 5.0/16 || s.Row(0)[3] != 13.0/16 {
		t.Errorf("first image: label %d, pixels %v", s.Y[0], s.Row(0)[:6])
	}
}
