package influence

import (
	"fmt"
	"math"
	"testing"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/train"
)

// hvpTol bounds the relative error of the float32 HVP against float64
// central differences. The R-passes sum float32 products of O(1) values
// over at most a few hundred terms: measured 6e-8 to 2.4e-7 below; 1e-4
// leaves room for cancellation in the softmax term on other models.
const hvpTol = 1e-4

func TestHVPMatchesFiniteDifferences(t *testing.T) {
	for _, c := range []struct {
		sizes   []int
		rows, k int
		maxK    int
		seed    uint64
	}{
		{[]int{5, 4, 3}, 4, 3, 3, 1},
		{[]int{3, 2}, 6, 2, 1, 2},
		{[]int{20, 32, 16, 4}, 16, 5, 2, 3},
	} {
		t.Run(fmt.Sprint(c.sizes), func(t *testing.T) {
			e := hvpError(t, c.sizes, c.rows, c.k, c.maxK, c.seed)
			t.Logf("%v, %d rows, %d vectors: relative error %.2e",
				c.sizes, c.rows, c.k, e)
			if !(e < hvpTol) {
				t.Errorf("relative error %.3g > %g", e, hvpTol)
			}
		})
	}
}

// hvpError returns the largest relative error of k HVPs of a random model
// against finite differences.
func hvpError(t *testing.T, sizes []int, rows, k, maxK int, seed uint64) float64 {
	dev := device.NewCPU(1)
	m, err := train.NewMLP(dev, sizes, rows, seed)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	x, y := blobTensor(t, dev, rows, sizes[0], sizes[len(sizes)-1], seed)
	h, err := NewHVP(m, maxK)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Free()
	if err := h.Prepare(x, y); err != nil {
		t.Fatal(err)
	}
	ref := refMLP{sizes}
	p := ref.dim()
	vs := randomVecs(k, p, seed)
	v, dst := newVecs(t, m, k, vs), newVecs(t, m, k, nil)
	defer v.Free()
	defer dst.Free()
	dst.Scale(float32(math.NaN())) // β = 0 must not read dst
	h.Apply(dst, v, 1, 0)
	got := hostVecs(t, dst)

	w, xs := flatWeights(t, m), hostRows(t, x)
	worst := 0.0
	for j := range k {
		want := ref.fdHVP(w, xs, y, vs[j*p:(j+1)*p])
		worst = math.Max(worst, relErr(got[j*p:(j+1)*p], want))
	}
	return worst
}

func TestHVPAlphaBeta(t *testing.T) {
	dev := device.NewCPU(1)
	sizes := []int{4, 3, 3}
	m, err := train.NewMLP(dev, sizes, 5, 9)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	x, y := blobTensor(t, dev, 5, 4, 3, 9)
	h, err := NewHVP(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Free()
	if err := h.Prepare(x, y); err != nil {
		t.Fatal(err)
	}
	p := refMLP{sizes}.dim()
	vs, base := randomVecs(3, p, 1), randomVecs(3, p, 2)
	v := newVecs(t, m, 3, vs)
	plain, mixed := newVecs(t, m, 3, nil), newVecs(t, m, 3, base)
	h.Apply(plain, v, 1, 0)
	h.Apply(mixed, v, -0.5, 2)
	hv, got := hostVecs(t, plain), hostVecs(t, mixed)
	want := make([]float64, len(hv))
	for i := range want {
		want[i] = -0.5*hv[i] + 2*base[i]
	}
	if e := relErr(got, want); !(e < hvpTol) {
		t.Errorf("α·H·v + β·dst: relative error %.3g", e)
	}
}
