package influence

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
	"github.com/optraj/optraj/train"
)

// refMLP is a float64 reference for train.MLP: the same network (linear
// layers with ReLUs between them, softmax cross-entropy) by plain loops,
// with the weights flattened in Params order (W₀ row-major, b₀, W₁, …).
type refMLP struct{ sizes []int }

// dim returns the number of parameters.
func (r refMLP) dim() int {
	n := 0
	for l := 0; l+1 < len(r.sizes); l++ {
		n += r.sizes[l+1] * (r.sizes[l] + 1)
	}
	return n
}

// grad returns the weighted mean loss (1/n)·Σᵢ cᵢ·ℓᵢ over the n rows of x
// and its gradient; c nil means every cᵢ = 1.
func (r refMLP) grad(w, x []float64, y []int32, c []float64) (float64, []float64) {
	d := r.sizes[0]
	n := len(y)
	g := make([]float64, len(w))
	loss := 0.0
	for i := range n {
		ci := 1.0
		if c != nil {
			ci = c[i]
		}
		loss += ci * r.point(w, x[i*d:(i+1)*d], y[i], ci/float64(n), g)
	}
	return loss / float64(n), g
}

// point adds s·∇ℓ(x, y) to g and returns ℓ(x, y).
func (r refMLP) point(w, x []float64, y int32, s float64, g []float64) float64 {
	layers := len(r.sizes) - 1
	acts := [][]float64{x}
	offs := make([]int, layers)
	off := 0
	for l := range layers {
		offs[l] = off
		in, out := r.sizes[l], r.sizes[l+1]
		a := acts[l]
		z := make([]float64, out)
		for o := range out {
			z[o] = w[off+out*in+o]
			for j := range in {
				z[o] += w[off+o*in+j] * a[j]
			}
			if l+1 < layers {
				z[o] = math.Max(z[o], 0)
			}
		}
		acts = append(acts, z)
		off += out * (in + 1)
	}
	z := acts[layers]
	zmax := z[0]
	for _, v := range z {
		zmax = math.Max(zmax, v)
	}
	sum := 0.0
	for _, v := range z {
		sum += math.Exp(v - zmax)
	}
	lse := zmax + math.Log(sum)
	delta := make([]float64, len(z))
	for o, v := range z {
		delta[o] = math.Exp(v - lse)
	}
	delta[y]--
	for l := layers - 1; l >= 0; l-- {
		in, out, a := r.sizes[l], r.sizes[l+1], acts[l]
		prev := make([]float64, in)
		for o := range out {
			g[offs[l]+out*in+o] += s * delta[o]
			for j := range in {
				g[offs[l]+o*in+j] += s * delta[o] * a[j]
				prev[j] += delta[o] * w[offs[l]+o*in+j]
			}
		}
		for j := range prev {
			if a[j] <= 0 {
				prev[j] = 0
			}
		}
		delta = prev
	}
	return lse - z[y]
}

// fdStep is the step of the central differences of float64 gradients:
// their truncation error is O(h²) ≈ 1e-10 and their rounding error
// O(1e-16/h) ≈ 1e-11, both far below the float32 results they check.
const fdStep = 1e-5

// fdHVP returns the central difference (∇L(w+h·v) − ∇L(w−h·v))/(2h) of
// the mean loss over (x, y).
func (r refMLP) fdHVP(w, x []float64, y []int32, v []float64) []float64 {
	wp, wm := make([]float64, len(w)), make([]float64, len(w))
	for i := range w {
		wp[i], wm[i] = w[i]+fdStep*v[i], w[i]-fdStep*v[i]
	}
	_, gp := r.grad(wp, x, y, nil)
	_, gm := r.grad(wm, x, y, nil)
	for i := range gp {
		gp[i] = (gp[i] - gm[i]) / (2 * fdStep)
	}
	return gp
}

// hessian returns the dense Hessian of the mean loss over (x, y), by
// central differences of gradients, symmetrised; row-major P×P.
func (r refMLP) hessian(w, x []float64, y []int32) []float64 {
	p := len(w)
	h := make([]float64, p*p)
	e := make([]float64, p)
	for j := range p {
		e[j] = 1
		col := r.fdHVP(w, x, y, e)
		e[j] = 0
		for i, v := range col {
			h[i*p+j] += v / 2
			h[j*p+i] += v / 2
		}
	}
	return h
}

// flatWeights returns the weights of m flattened in Params order.
func flatWeights(t *testing.T, m *train.MLP) []float64 {
	t.Helper()
	ws, err := m.Weights()
	if err != nil {
		t.Fatal(err)
	}
	var w []float64
	for _, p := range ws {
		for _, v := range p {
			w = append(w, float64(v))
		}
	}
	return w
}

// hostRows returns the values of t in float64.
func hostRows(t *testing.T, x *tensor.Tensor) []float64 {
	t.Helper()
	h, err := x.Host()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(h))
	for i, v := range h {
		out[i] = float64(v)
	}
	return out
}

// randomVecs returns k seeded standard normal vectors of dimension p.
func randomVecs(k, p int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	v := make([]float64, k*p)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// newVecs returns k vectors for m set to the host values x (k×P).
func newVecs(t *testing.T, m *train.MLP, k int, x []float64) *Vecs {
	t.Helper()
	v, err := NewVecs(m, k)
	if err != nil {
		t.Fatal(err)
	}
	if x != nil {
		if err := v.SetHost(x); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// hostVecs copies v to the host.
func hostVecs(t *testing.T, v *Vecs) []float64 {
	t.Helper()
	h, err := v.Host()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// blobTensor returns n seeded points of d features as a tensor, with
// labels in [0, classes).
func blobTensor(t *testing.T, dev device.Device, n, d, classes int,
	seed uint64) (*tensor.Tensor, []int32) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	x := make([]float32, n*d)
	y := make([]int32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for i := range y {
		y[i] = int32(rng.IntN(classes))
	}
	xt, err := tensor.FromHost(dev, x, n, d)
	if err != nil {
		t.Fatal(err)
	}
	return xt, y
}
