package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
)

// The digits set of scikit-learn (the UCI optical recognition of
// handwritten digits test set): 1,797 images of 8×8 pixels, each pixel a
// count from 0 to 16, with labels 0 to 9. scikit-learn ships it as a
// gzip-compressed CSV without a header, one image a line: the 64 pixels
// row by row, then the label.
const (
	// DigitsPath is where Debian's python3-sklearn package installs the
	// file.
	DigitsPath = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"

	// DigitsClasses is the number of classes of the digits set.
	DigitsClasses = 10

	digitsSide     = 8  // pixels per image row and column
	digitsMaxPixel = 16 // the largest pixel count
)

// ErrCSV marks a line of a CSV file that cannot be read: a wrong number
// of fields, or a field that is not a number in range.
var ErrCSV = errors.New("dataset: malformed CSV")

// LoadDigits reads scikit-learn's digits CSV at path, gzip-compressed or
// plain (told apart by the gzip magic bytes), such as DigitsPath. Pixels
// are scaled from 0…16 to [0, 1]; D is 64, Shape [8 8] and Classes 10.
// Blank lines are skipped. Errors name the file and the line; a bad field
// wraps ErrCSV and a label outside [0, 10) wraps ErrLabel.
func LoadDigits(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: digits: %w", err)
	}
	defer f.Close()
	return ReadDigits(f, path)
}

// ReadDigits reads the digits CSV from r, as LoadDigits does, naming name
// in errors.
func ReadDigits(r io.Reader, name string) (*Set, error) {
	br := bufio.NewReaderSize(r, readBufSize)
	var in io.Reader = br
	head, _ := br.Peek(len(gzipMagic))
	if len(head) == len(gzipMagic) && [2]byte(head) == gzipMagic {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrGzip, name, err)
		}
		in = zr
	}
	s, err := readDigitLines(in, name)
	if err != nil {
		return nil, err
	}
	if s.N == 0 {
		return nil, fmt.Errorf("%w: %s: no images", ErrCSV, name)
	}
	return s, nil
}

// readDigitLines parses the lines of the CSV.
func readDigitLines(in io.Reader, name string) (*Set, error) {
	d := digitsSide * digitsSide
	s := &Set{D: d, Classes: DigitsClasses, Shape: []int{digitsSide, digitsSide}}
	sc := bufio.NewScanner(in)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if kind, detail := s.addDigit(text); kind != nil {
			return nil, fmt.Errorf("%w: %s:%d: %s", kind, name, line, detail)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) ||
			errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %s: after line %d: %w", ErrGzip, name, line, err)
		}
		return nil, fmt.Errorf("dataset: %s: after line %d: %w", name, line, err)
	}
	return s, nil
}

// addDigit appends the image of one CSV line, 64 pixels and a label, or
// returns what is wrong with the line: ErrCSV or ErrLabel and a detail.
func (s *Set) addDigit(text []byte) (kind error, detail string) {
	fields := bytes.Split(text, []byte{','})
	if len(fields) != s.D+1 {
		return ErrCSV, fmt.Sprintf("%d fields, want %d pixels and a label",
			len(fields), s.D)
	}
	for j, f := range fields[:s.D] {
		v, err := pixelField(f)
		if err != nil {
			return ErrCSV, fmt.Sprintf("pixel %d: %v", j+1, err)
		}
		s.X = append(s.X, float32(v)/digitsMaxPixel)
	}
	f := string(bytes.TrimSpace(fields[s.D]))
	label, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return ErrCSV, fmt.Sprintf("label %q is not a number", f)
	}
	if !(label >= 0 && label < DigitsClasses) || label != math.Trunc(label) {
		return ErrLabel, fmt.Sprintf("label %v, want an integer in [0, %d)",
			label, DigitsClasses)
	}
	s.Y = append(s.Y, int32(label))
	s.N++
	return nil, ""
}

// pixelField parses a pixel count in [0, 16].
func pixelField(f []byte) (float64, error) {
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(f)), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", f)
	}
	if !(v >= 0 && v <= digitsMaxPixel) {
		return 0, fmt.Errorf("%v outside [0, %d]", v, digitsMaxPixel)
	}
	return v, nil
}
