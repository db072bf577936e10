package influence

import (
	"testing"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
)

func toTensor(t *testing.T, dev device.Device, x []float32) *tensor.Tensor {
	t.Helper()
	xt, err := tensor.FromHost(dev, x, 1, len(x))
	if err != nil {
		t.Fatal(err)
	}
	return xt
}
