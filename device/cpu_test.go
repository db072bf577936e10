package device_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/device/devicetest"
)

func TestCPU(t *testing.T) {
	for _, threads := range []int{0, 1} {
		t.Run(fmt.Sprintf("threads=%d", threads), func(t *testing.T) {
			devicetest.Run(t, func(*testing.T) device.Device {
				return device.NewCPU(threads)
			})
		})
	}
}

// TestCPUPanics checks that programmer errors panic with a message that
// names the package.
func TestCPUPanics(t *testing.T) {
	dev := device.NewCPU(0)
	other := device.NewCPU(0)
	buf := func(d device.Device, n int) device.Buffer {
		b, err := d.Alloc(n)
		if err != nil {
			t.Fatalf("Alloc(%d): %v", n, err)
		}
		return b
	}
	b3, b4, b12 := buf(dev, 3), buf(dev, 4), buf(dev, 12)
	foreign := buf(other, 4)

	for _, tc := range []struct {
		name string
		op   func()
	}{
		{"Copy lengths", func() { dev.Copy(b3, b4) }},
		{"Axpy lengths", func() { dev.Axpy(1, b3, b4) }},
		{"Mul lengths", func() { dev.Mul(b4, b4, b3) }},
		{"Gemm A", func() { dev.Gemm(false, false, 3, 4, 4, 1, b4, b12, 0, b12) }},
		{"Gemm C", func() { dev.Gemm(true, true, 2, 2, 2, 1, b4, b4, 0, b3) }},
		{"AddRowVector", func() { dev.AddRowVector(b12, 3, 4, b3) }},
		{"SumRows", func() { dev.SumRows(b3, b12, 3, 4, 0) }},
		{"SoftmaxCrossEntropy labels", func() {
			dev.SoftmaxCrossEntropy(b3, nil, b12, []int32{0, 1}, 3, 4, 1)
		}},
		{"foreign buffer", func() { dev.Copy(b4, foreign) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := recovered(tc.op)
			if msg == "" {
				t.Fatalf("does not panic")
			}
			if !strings.HasPrefix(msg, "device: ") {
				t.Errorf("panics with %q, want the prefix \"device: \"", msg)
			}
		})
	}
}

// recovered runs f and returns what it panicked with, as text, or "" if it
// did not panic.
func recovered(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}
