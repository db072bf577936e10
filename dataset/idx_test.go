package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// randomIDX returns an IDX array of the given dimensions filled with
// seeded random bytes.
func randomIDX(dims []int, seed uint64) *IDX {
	rng := rand.New(rand.NewPCG(seed, 1))
	size, _ := dimsProduct(dims)
	x := &IDX{Dims: slices.Clone(dims), Data: make([]byte, size)}
	for i := range x.Data {
		x.Data[i] = byte(rng.UintN(256))
	}
	return x
}

// encodeIDX returns x in the IDX format, gzip-compressed if gz.
func encodeIDX(t testing.TB, x *IDX, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteIDX(&buf, x); err != nil {
		t.Fatalf("WriteIDX(%v): %v", x.Dims, err)
	}
	if gz {
		return gzipBytes(t, buf.Bytes())
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		t.Fatalf("gzip write: %v", err)
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("gzip close: %v", err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

func sameIDX(got, want *IDX) bool {
	return slices.Equal(got.Dims, want.Dims) &&
		bytes.Equal(got.Data, want.Data)
}

var roundTripDims = []struct {
	name string
	dims []int
}{
	{"labels", []int{17}},
	{"images", []int{5, 28, 28}},
	{"empty", []int{0, 28, 28}},
	{"zero inner", []int{3, 0}},
	{"four dims", []int{2, 3, 4, 5}},
	{"beyond first chunk", []int{3, firstPayloadChunk/3 + 7}},
}

func TestIDXRoundTrip(t *testing.T) {
	for i, tc := range roundTripDims {
		for _, gz := range []bool{false, true} {
			t.Run(tc.name+"/gzip="+strconv.FormatBool(gz), func(t *testing.T) {
				want := randomIDX(tc.dims, uint64(i))
				got, err := ReadIDX(bytes.NewReader(encodeIDX(t, want, gz)))
				if err != nil {
					t.Fatalf("ReadIDX: %v", err)
				}
				if !sameIDX(got, want) {
					t.Errorf("got dims %v, want %v (or data differs)",
						got.Dims, want.Dims)
				}
			})
		}
	}
}

// TestIDXFileRoundTrip also checks that compression is told by the content,
// not the name.
func TestIDXFileRoundTrip(t *testing.T) {
	want := randomIDX([]int{4, 3, 2}, 7)
	cases := []struct {
		name string
		gz   bool
	}{
		{"x.idx", false},
		{"x.idx.gz", true},
		{"gzip-without-suffix.idx", true},
		{"plain-with-suffix.gz", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.name, encodeIDX(t, want, tc.gz))
			got, err := ReadIDXFile(path)
			if err != nil {
				t.Fatalf("ReadIDXFile: %v", err)
			}
			if !sameIDX(got, want) {
				t.Errorf("got dims %v, want %v (or data differs)",
					got.Dims, want.Dims)
			}
		})
	}
}

func TestWriteIDXFile(t *testing.T) {
	want := randomIDX([]int{6, 5}, 3)
	for _, name := range []string{"w.idx", "w.idx.gz"} {
		path := filepath.Join(t.TempDir(), name)
		if err := WriteIDXFile(path, want); err != nil {
			t.Fatalf("WriteIDXFile(%s): %v", name, err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		isGzip := bytes.HasPrefix(raw, gzipMagic[:])
		if isGzip != strings.HasSuffix(name, ".gz") {
			t.Errorf("%s: gzip = %v", name, isGzip)
		}
		got, err := ReadIDXFile(path)
		if err != nil || !sameIDX(got, want) {
			t.Errorf("%s: read back %v, err %v", name, got, err)
		}
	}
}

func TestReadIDXTruncated(t *testing.T) {
	full := encodeIDX(t, randomIDX([]int{10, 4, 4}, 1), false)
	cases := []struct {
		name  string
		keep  int
		parts []string // must appear in the message
	}{
		{"empty", 0, []string{"magic number", "needs 4 bytes", "found 0"}},
		{"in magic", 3, []string{"magic number", "found 3"}},
		{"in dims", 9, []string{"dimensions", "needs 12 bytes", "found 5"}},
		{"no payload", 16, []string{"10×4×4", "160 payload", "found 0"}},
		{"in payload", 100, []string{"10×4×4", "160 payload", "found 84"}},
		{"one short", len(full) - 1, []string{"160 payload", "found 159"}},
	}
	for _, tc := range cases {
		for _, gz := range []bool{false, true} {
			name := tc.name + "/gzip=" + strconv.FormatBool(gz)
			t.Run(name, func(t *testing.T) {
				data := full[:tc.keep]
				if gz {
					data = gzipBytes(t, data)
				}
				path := writeFile(t, "cut.idx", data)
				_, err := ReadIDXFile(path)
				at := "at offset"
				if gz {
					at = "at decompressed offset"
				}
				wantIDXError(t, err, ErrTruncated,
					append(tc.parts, path, at)...)
			})
		}
	}
}

// wantIDXError checks that err is an *IDXError of the given kind whose
// message contains every part.
func wantIDXError(t *testing.T, err, kind error, parts ...string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("got error %v, want %v", err, kind)
	}
	var ie *IDXError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v is not an *IDXError", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestReadIDXCorruptGzip(t *testing.T) {
	good := encodeIDX(t, randomIDX([]int{50, 8, 8}, 2), true)
	cases := []struct {
		name   string
		mangle func([]byte) []byte
	}{
		{"cut short", func(b []byte) []byte { return b[:len(b)/2] }},
		{"trailer cut", func(b []byte) []byte { return b[:len(b)-3] }},
		{"bad checksum", func(b []byte) []byte {
			b[len(b)-8] ^= 0xff // first byte of the CRC-32
			return b
		}},
		{"bad size", func(b []byte) []byte {
			b[len(b)-1] ^= 0xff // last byte of ISIZE
			return b
		}},
		{"bad method", func(b []byte) []byte {
			b[2] = 0x07 // only 8 (deflate) exists
			return b
		}},
		{"bad block", func(b []byte) []byte {
			for i := 10; i < 20; i++ {
				b[i] = 0xff
			}
			return b
		}},
		{"only magic", func(b []byte) []byte { return b[:2] }},
		{"garbage member", func(b []byte) []byte {
			return append(b, gzipMagic[0], gzipMagic[1], 0, 0, 0)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "bad.gz", tc.mangle(slices.Clone(good)))
			_, err := ReadIDXFile(path)
			wantIDXError(t, err, ErrGzip, path, "corrupt gzip")
		})
	}
}

// header returns an IDX header with the given magic and dimensions.
func header(magic uint32, dims ...uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, n := range dims {
		b = binary.BigEndian.AppendUint32(b, n)
	}
	return b
}

func TestReadIDXBadHeader(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		kind error
		part string
	}{
		{"nonzero lead", header(0x01000801, 1), ErrFormat, "0x01000801"},
		{"int8 type", header(0x00000901, 1), ErrFormat, "type 0x09"},
		{"float type", header(0x00000d01, 1), ErrFormat, "type 0x0d"},
		{"zero dims", header(0x00000800), ErrFormat, "zero dimensions"},
		{"label magic, image dims", header(0x00000801, 2, 2, 2),
			ErrTrailingData, "offset 10"},
		{"overflow", header(0x00000803, 1<<31, 1<<31, 1<<31),
			ErrFormat, "overflow"},
		{"huge claim", header(0x00000802, 1<<32-1, 1<<31-1),
			ErrTruncated, "found 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadIDX(bytes.NewReader(tc.data))
			wantIDXError(t, err, tc.kind, tc.part, "IDX stream")
		})
	}
}

func TestReadIDXTrailingData(t *testing.T) {
	plain := encodeIDX(t, randomIDX([]int{3, 2}, 4), false)
	for _, gz := range []bool{false, true} {
		t.Run("gzip="+strconv.FormatBool(gz), func(t *testing.T) {
			data := append(slices.Clone(plain), 0)
			if gz {
				data = gzipBytes(t, data)
			}
			_, err := ReadIDX(bytes.NewReader(data))
			wantIDXError(t, err, ErrTrailingData, "offset 18")
		})
	}
}

var errDisk = errors.New("disk on fire")

// failingReader returns its data and then errDisk.
type failingReader struct{ data []byte }

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, errDisk
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestReadIDXSourceError checks that a failing reader is reported as
// itself, not as corrupt data.
func TestReadIDXSourceError(t *testing.T) {
	plain := encodeIDX(t, randomIDX([]int{20, 20}, 5), false)
	gz := encodeIDX(t, randomIDX([]int{20, 20}, 5), true)
	for _, data := range [][]byte{plain[:2], plain[:50], gz[:1], gz[:30]} {
		_, err := ReadIDX(&failingReader{data: data})
		var ie *IDXError
		if !errors.Is(err, errDisk) || errors.As(err, &ie) {
			t.Errorf("after %d bytes: got %v, want the source's error",
				len(data), err)
		}
	}
}

func TestReadIDXFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.idx")
	_, err := ReadIDXFile(path)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v, want a not-exist error naming %s", err, path)
	}
}

func TestWriteIDXRejects(t *testing.T) {
	cases := []struct {
		name string
		x    *IDX
	}{
		{"no dims", &IDX{}},
		{"too many dims", &IDX{Dims: make([]int, 256)}},
		{"negative", &IDX{Dims: []int{-1}}},
		{"too big", &IDX{Dims: []int{1 << 32, 0}}},
		{"short data", &IDX{Dims: []int{2, 2}, Data: make([]byte, 3)}},
		{"long data", &IDX{Dims: []int{2}, Data: make([]byte, 3)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteIDX(&buf, tc.x); err == nil {
				t.Errorf("WriteIDX(dims %v, %d bytes) succeeded",
					tc.x.Dims, len(tc.x.Data))
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

// FuzzReadIDX checks that no input makes ReadIDX panic, that what it
// accepts is consistent, and that plain input it accepts is exactly what
// WriteIDX writes for the result.
func FuzzReadIDX(f *testing.F) {
	small := randomIDX([]int{2, 3, 3}, 9)
	plain := encodeIDX(f, small, false)
	f.Add(plain)
	f.Add(encodeIDX(f, small, true))
	f.Add(plain[:10])
	f.Add(header(0x00000801, 3))
	f.Add(header(0x00000803, 1<<31, 1<<31, 1<<31))
	f.Add([]byte{0x1f, 0x8b})

	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := ReadIDX(bytes.NewReader(data))
		if err != nil {
			var ie *IDXError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *IDXError", err)
			}
			return
		}
		size, ok := dimsProduct(x.Dims)
		if !ok || size != len(x.Data) {
			t.Fatalf("dims %v with %d bytes", x.Dims, len(x.Data))
		}
		if bytes.HasPrefix(data, gzipMagic[:]) {
			return
		}
		var buf bytes.Buffer
		if err := WriteIDX(&buf, x); err != nil {
			t.Fatalf("WriteIDX of what ReadIDX accepted: %v", err)
		}
		if !bytes.Equal(buf.Bytes(), data) {
			t.Fatalf("re-encoding differs from the input")
		}
	})
}
