package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"
)

// The IDX format, as published with MNIST, is a big-endian header followed
// by the array's elements in row-major order:
//
//	offset  size   content
//	0       2      zero
//	2       1      element type: 0x08 unsigned byte (others are not read)
//	3       1      number of dimensions, k ≥ 1
//	4       4·k    the k dimensions, each a uint32
//	4+4·k   ∏dims  the elements
//
// So images are magic 0x00000803 with dimensions n, rows, cols, and labels
// are magic 0x00000801 with dimension n.
const (
	idxTypeUint8 = 0x08 // element type code of unsigned bytes
	idxMagicLen  = 4    // zero, zero, type, number of dimensions
	idxDimLen    = 4    // bytes per dimension in the header
)

// gzipMagic opens every gzip stream (RFC 1952, section 2.3.1).
var gzipMagic = [2]byte{0x1f, 0x8b}

const (
	// readBufSize is the buffer between the file and the decoders. The gzip
	// decoder reads through it byte by byte; 64 KiB keeps reads from the
	// file large.
	readBufSize = 64 << 10

	// firstPayloadChunk is the most that is allocated for the payload before
	// any of it has arrived, unless the file's size vouches for more; the
	// buffer then doubles as data comes in, so a corrupt header that claims
	// terabytes costs no more than the bytes that actually follow it.
	firstPayloadChunk = 1 << 20

	// maxDeflateRatio bounds how far deflate can expand its input: 1032 to
	// 1 (zlib's technical details, "Maximum compression factor").
	maxDeflateRatio = 1032
)

// Sentinel errors that the errors returned by the IDX readers match with
// errors.Is.
var (
	// ErrFormat marks a header that breaks the IDX format: a bad magic
	// number, an unsupported element type, no dimensions, or dimensions
	// whose product overflows.
	ErrFormat = errors.New("dataset: malformed IDX data")

	// ErrTruncated marks a stream that ends before the header or the
	// payload the header describes is complete.
	ErrTruncated = errors.New("dataset: truncated IDX data")

	// ErrTrailingData marks bytes after the payload the header describes.
	ErrTrailingData = errors.New("dataset: trailing data after IDX payload")

	// ErrGzip marks a gzip stream that cannot be decompressed: a bad
	// header, corrupt blocks, a checksum mismatch, or a cut-off stream.
	ErrGzip = errors.New("dataset: corrupt gzip stream")
)

// IDXError describes IDX input that cannot be read. Kind is one of
// ErrFormat, ErrTruncated, ErrTrailingData or ErrGzip; errors.Is matches
// both Kind and Cause, the gzip decoder's own error when there is one.
type IDXError struct {
	Path   string // file read; empty when reading a bare stream
	Offset int64  // byte offset of the fault in the decompressed stream
	Gzip   bool   // whether the file was gzip, so that Offset is not the file's
	Kind   error  // which sentinel
	Detail string // what is wrong, with the values found
	Cause  error  // underlying error, or nil
}

// Error returns the message, naming the file, the offset and the fault.
func (e *IDXError) Error() string {
	name := e.Path
	if name == "" {
		name = "IDX stream"
	}
	kind := strings.TrimPrefix(e.Kind.Error(), "dataset: ")
	at := "offset"
	if e.Gzip {
		at = "decompressed offset"
	}
	return fmt.Sprintf("dataset: %s: %s at %s %d: %s",
		name, kind, at, e.Offset, e.Detail)
}

// Unwrap returns Kind and, when there is one, Cause.
func (e *IDXError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// IDX is an array of unsigned bytes as stored in an IDX file. Data holds
// the Dims[0]×Dims[1]×…×Dims[k−1] elements in row-major order, the last
// index varying fastest.
type IDX struct {
	Dims []int
	Data []byte
}

// ReadIDXFile reads the IDX file at path, gzip-compressed or plain. Errors
// name the path; format faults are *IDXError values.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: read IDX: %w", err)
	}
	defer f.Close()

	return readIDX(f, path, fileSizeHint(f))
}

// sizeHint bounds the decompressed size of a file, to size the payload
// buffer at once: plain is the file's size, gzip the size the gzip trailer
// records, capped by what deflate can expand the file to. Zero means
// unknown.
type sizeHint struct{ plain, gzip int64 }

// fileSizeHint returns the size hint of an open file.
func fileSizeHint(f *os.File) sizeHint {
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return sizeHint{}
	}
	h := sizeHint{plain: info.Size()}
	var isize [4]byte // RFC 1952: the last four bytes, size mod 2³²
	if _, err := f.ReadAt(isize[:], info.Size()-4); err == nil {
		n := int64(binary.LittleEndian.Uint32(isize[:]))
		h.gzip = min(n, maxDeflateRatio*info.Size())
	}
	return h
}

// ReadIDX reads one IDX array of unsigned bytes from r, which may be
// gzip-compressed: a stream that starts with the gzip magic bytes is
// decompressed. The whole stream is consumed; anything after the payload
// is an error. Faults in the data are *IDXError values; errors from r
// itself are returned wrapped.
func ReadIDX(r io.Reader) (*IDX, error) {
	return readIDX(r, "", sizeHint{})
}

// readIDX reads from r, naming path in errors.
func readIDX(r io.Reader, path string, hint sizeHint) (*IDX, error) {
	src := &sourceReader{r: r}
	br := bufio.NewReaderSize(src, readBufSize)
	d := &idxDecoder{path: path, src: src, in: br, hint: hint.plain}

	head, _ := br.Peek(len(gzipMagic))
	if len(head) == len(gzipMagic) && [2]byte(head) == gzipMagic {
		d.gzip = true
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, d.fault(err, "opening the gzip stream")
		}
		d.in, d.hint = zr, hint.gzip
	}
	return d.decode()
}

// sourceReader remembers the first error other than io.EOF that the
// underlying reader returns, so that a failing disk is not reported as a
// corrupt file.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// idxDecoder reads an IDX stream from in, keeping the offset for errors.
type idxDecoder struct {
	path string // for errors; "" for a bare stream
	src  *sourceReader
	in   io.Reader
	gzip bool
	off  int64
	hint int64 // the stream's likely length, or 0
}

func (d *idxDecoder) decode() (*IDX, error) {
	dims, err := d.header()
	if err != nil {
		return nil, err
	}
	size, err := d.payloadSize(dims)
	if err != nil {
		return nil, err
	}
	data, err := d.payload(dims, size)
	if err != nil {
		return nil, err
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return &IDX{Dims: dims, Data: data}, nil
}

// header reads the magic number and the dimensions.
func (d *idxDecoder) header() ([]int, error) {
	var magic [idxMagicLen]byte
	if err := d.readHeader(magic[:], "magic number"); err != nil {
		return nil, err
	}
	m := binary.BigEndian.Uint32(magic[:])
	if magic[0] != 0 || magic[1] != 0 {
		return nil, d.format(0,
			"magic 0x%08x: first two bytes must be zero", m)
	}
	if magic[2] != idxTypeUint8 {
		return nil, d.format(2, "magic 0x%08x: element type 0x%02x "+
			"unsupported, want 0x%02x (unsigned byte)",
			m, magic[2], idxTypeUint8)
	}
	if magic[3] == 0 {
		return nil, d.format(3, "magic 0x%08x: zero dimensions", m)
	}

	raw := make([]byte, idxDimLen*int(magic[3]))
	if err := d.readHeader(raw, "dimensions"); err != nil {
		return nil, err
	}
	dims := make([]int, magic[3])
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(raw[idxDimLen*i:]))
	}
	return dims, nil
}

// payloadSize returns the product of dims, or an error if it overflows.
func (d *idxDecoder) payloadSize(dims []int) (int, error) {
	size, ok := dimsProduct(dims)
	if !ok {
		return 0, d.format(idxMagicLen,
			"dimensions %s overflow the payload size", dimString(dims))
	}
	return size, nil
}

// dimsProduct returns the product of dims and whether it fits in an int.
// The dimensions must not be negative.
func dimsProduct(dims []int) (int, bool) {
	size := uint64(1)
	for _, n := range dims {
		hi, lo := bits.Mul64(size, uint64(n))
		if hi != 0 || lo > math.MaxInt {
			return 0, false
		}
		size = lo
	}
	return int(size), true
}

// payload reads size bytes, growing the buffer as they arrive.
func (d *idxDecoder) payload(dims []int, size int) ([]byte, error) {
	buf := make([]byte, min(int64(size), max(firstPayloadChunk, d.hint)))
	got := 0
	for {
		n, err := readFull(d.in, buf[got:])
		got += n
		if err != nil {
			return nil, d.shortPayload(err, dims, size, got)
		}
		if got == size {
			d.off += int64(size)
			return buf, nil
		}
		grown := make([]byte, min(2*len(buf), size))
		copy(grown, buf[:got])
		buf = grown
	}
}

func (d *idxDecoder) shortPayload(err error, dims []int, size, got int) error {
	if err != io.EOF || d.src.err != nil {
		d.off += int64(got)
		return d.fault(err, "reading the payload")
	}
	return &IDXError{
		Path:   d.path,
		Gzip:   d.gzip,
		Offset: d.off + int64(got),
		Kind:   ErrTruncated,
		Detail: fmt.Sprintf("dimensions %s need %d payload bytes after "+
			"the %d-byte header, found %d", dimString(dims), size, d.off, got),
	}
}

// end checks that the stream ends after the payload. For gzip this also
// verifies the stream's checksum, which the decoder checks only at the end.
func (d *idxDecoder) end() error {
	var b [1]byte
	n, err := readFull(d.in, b[:])
	if n > 0 {
		return &IDXError{
			Path:   d.path,
			Gzip:   d.gzip,
			Offset: d.off,
			Kind:   ErrTrailingData,
			Detail: fmt.Sprintf("the payload ends at offset %d but the "+
				"stream goes on", d.off),
		}
	}
	if err != io.EOF {
		return d.fault(err, "reading past the payload")
	}
	return nil
}

// readHeader fills p, reporting a short read as a truncated header.
func (d *idxDecoder) readHeader(p []byte, what string) error {
	n, err := readFull(d.in, p)
	if err == nil {
		d.off += int64(n)
		return nil
	}
	if err != io.EOF || d.src.err != nil {
		d.off += int64(n)
		return d.fault(err, "reading the header")
	}
	return &IDXError{
		Path:   d.path,
		Gzip:   d.gzip,
		Offset: d.off + int64(n),
		Kind:   ErrTruncated,
		Detail: fmt.Sprintf("header field %s needs %d bytes at offset %d, "+
			"found %d", what, len(p), d.off, n),
	}
}

// readFull reads until p is full or r fails. Unlike io.ReadFull it passes
// on r's error unchanged, so that io.EOF always means a clean end of the
// stream and a gzip stream's own io.ErrUnexpectedEOF stays distinguishable.
func readFull(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			if n == len(p) {
				return n, nil
			}
			return n, err
		}
	}
	return n, nil
}

// fault classifies an error met while reading: the source's own error is
// passed on wrapped; anything else under gzip is a corrupt gzip stream.
func (d *idxDecoder) fault(err error, doing string) error {
	if d.src.err != nil {
		err = d.src.err
	} else if d.gzip {
		detail := fmt.Sprintf("%s: %v", doing, err)
		if err == io.ErrUnexpectedEOF {
			detail = doing + ": the compressed data ends early"
		}
		return &IDXError{Path: d.path, Gzip: d.gzip, Offset: d.off, Kind: ErrGzip,
			Cause: err, Detail: detail}
	}
	name := d.path
	if name == "" {
		name = "IDX stream"
	}
	return fmt.Errorf("dataset: %s: %s at offset %d: %w",
		name, doing, d.off, err)
}

// format returns an ErrFormat error at offset off.
func (d *idxDecoder) format(off int64, msg string, args ...any) error {
	return &IDXError{
		Path:   d.path,
		Gzip:   d.gzip,
		Offset: off,
		Kind:   ErrFormat,
		Detail: fmt.Sprintf(msg, args...),
	}
}

// dimString writes dimensions as 60000×28×28.
func dimString(dims []int) string {
	s := make([]string, len(dims))
	for i, n := range dims {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, "×")
}

// WriteIDXFile writes x to path as an IDX file, gzip-compressed when the
// name ends in ".gz". It is meant for tests and for exporting subsets.
func WriteIDXFile(path string, x *IDX) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("dataset: write IDX: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("dataset: write IDX %s: %w", path, cerr)
		}
	}()

	var w io.Writer = f
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		zw = gzip.NewWriter(f)
		w = zw
	}
	if err := WriteIDX(w, x); err != nil {
		return fmt.Errorf("dataset: write IDX %s: %w", path, err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return fmt.Errorf("dataset: write IDX %s: %w", path, err)
		}
	}
	return nil
}

// WriteIDX writes x to w in the IDX format, uncompressed. It returns an
// error if x has no dimensions or more than 255, a dimension outside
// [0, 2³²), or a Data length other than the product of Dims.
func WriteIDX(w io.Writer, x *IDX) error {
	if err := checkIDX(x); err != nil {
		return err
	}
	head := make([]byte, idxMagicLen+idxDimLen*len(x.Dims))
	head[2], head[3] = idxTypeUint8, byte(len(x.Dims))
	for i, n := range x.Dims {
		binary.BigEndian.PutUint32(head[idxMagicLen+idxDimLen*i:], uint32(n))
	}
	if _, err := w.Write(head); err != nil {
		return fmt.Errorf("dataset: write IDX header: %w", err)
	}
	if _, err := w.Write(x.Data); err != nil {
		return fmt.Errorf("dataset: write IDX payload: %w", err)
	}
	return nil
}

// checkIDX checks that x can be written as IDX.
func checkIDX(x *IDX) error {
	if len(x.Dims) == 0 || len(x.Dims) > math.MaxUint8 {
		return fmt.Errorf("dataset: write IDX: %d dimensions, want 1 to %d",
			len(x.Dims), math.MaxUint8)
	}
	for _, n := range x.Dims {
		if n < 0 || uint64(n) > math.MaxUint32 {
			return fmt.Errorf("dataset: write IDX: dimension %d of %s "+
				"outside [0, 2³²)", n, dimString(x.Dims))
		}
	}
	size, ok := dimsProduct(x.Dims)
	if !ok || size != len(x.Data) {
		return fmt.Errorf("dataset: write IDX: dimensions %s need %d bytes, "+
			"data has %d", dimString(x.Dims), size, len(x.Data))
	}
	return nil
}
