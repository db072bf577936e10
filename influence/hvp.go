package influence

import (
	"fmt"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
	"github.com/optraj/optraj/train"
)

// HVP computes exact Hessian-vector products of the mean loss of an MLP
// over a batch, at the model's current weights, for many vectors at once:
// forward-mode differentiation of the backward pass, the R-operator of
// Pearlmutter (1994), written with tensor operations on the model's device.
//
// # The R-operator
//
// For a function f of the weights w, R{f} = ∂f(w + r·v)/∂r at r = 0, the
// directional derivative along v; R{∇L} = H·v. Applying R to each line of
// the forward and backward passes of an MLP with inputs a₀ = x, linear
// layers z_l = a_l·W_lᵀ + b_l, a_{l+1} = relu(z_l), and the mean softmax
// cross-entropy over the B rows with p = softmax(z_{L−1}), gives, with
// (V_l, v_l) the parts of v and m_l = [z_{l−1} > 0] the ReLU mask:
//
//	R{a₀}      = 0
//	R{z_l}     = R{a_l}·W_lᵀ + a_l·V_lᵀ + v_l
//	R{a_l}     = m_l ⊙ R{z_{l−1}}
//	R{δ_{L−1}} = (1/B)·(p ⊙ R{z_{L−1}} − p·(pᵀ·R{z_{L−1}}))   row by row
//	R{∇W_l}    = R{δ_l}ᵀ·a_l + δ_lᵀ·R{a_l}
//	R{∇b_l}    = Σ_rows R{δ_l}
//	R{δ_{l−1}} = m_l ⊙ (R{δ_l}·W_l + δ_l·V_l)
//
// where δ_l is the gradient of the mean loss at z_l (the model's
// OutputGrad) and the ReLU's second derivative is zero almost everywhere.
//
// # Batching the vectors
//
// K vectors share each pass. The R-quantities of a batch of B rows are
// (B·K)×width matrices whose row b·K + k belongs to row b and vector k;
// read as B×(K·width), row b holds its K copies side by side. In that
// layout a_l·V_lᵀ for all K vectors is one matrix product with the
// (K·out)×in stack of the V_l (Vecs.T[2l]), and δ_l·V_l one product with
// the same stack permuted to out×K×in; R{∇W_l} comes out as K×out×in from
// R{δ_l}ᵀ·a_l and as out×K×in from δ_lᵀ·R{a_l}, which one row gather
// permutes. Every step is a handful of matrix products and row gathers,
// whatever K.
//
// An HVP is not safe for concurrent use, and it reads the layers' stored
// activations, so nothing may run the model between Use (or Prepare) and
// Apply.
//
// Reference: Pearlmutter. Fast Exact Multiplication by the Hessian.
// Neural Computation 6(1), 1994.
type HVP struct {
	model *train.MLP
	lins  []*train.Linear
	maxK  int
	rows  int // batch rows of the last Use

	eye, ones   *tensor.Tensor   // C×C identity, 1×C ones
	probs, z    *tensor.Tensor   // softmax and logits, MaxRows×C
	loss, gz    *tensor.Tensor   // workspace for SoftmaxCrossEntropy
	aExp, ra    []*tensor.Tensor // per layer l ≥ 1: a_l expanded, R{a_l}
	rz, rd      *tensor.Tensor   // (MaxRows·maxK)×width
	rd2, tmp    *tensor.Tensor
	pExp, rdot  *tensor.Tensor
	perm, perm2 *tensor.Tensor // maxK×width×width
	owned       []*tensor.Tensor
}

// NewHVP returns an HVP for model that takes up to maxK vectors in one
// pass; Apply splits more into passes of maxK. Its workspaces hold
// about 6·MaxRows·maxK·width + 2·maxK·width² values, width being the
// widest layer.
func NewHVP(model *train.MLP, maxK int) (*HVP, error) {
	if maxK < 1 {
		return nil, fmt.Errorf("influence: HVP of %d vectors at a time", maxK)
	}
	h := &HVP{model: model, lins: model.Linears(), maxK: maxK}
	for l, lin := range h.lins {
		ps := model.Params()
		if ps[2*l] != lin.W || ps[2*l+1] != lin.B {
			panic("influence: NewHVP: model parameters are not W₀, b₀, W₁, …")
		}
	}
	if err := h.alloc(); err != nil {
		h.Free()
		return nil, err
	}
	if err := h.identity(); err != nil {
		h.Free()
		return nil, err
	}
	return h, nil
}

func (h *HVP) alloc() error {
	m, dev := h.model, h.model.Device()
	c, rk, width := m.Classes(), m.MaxRows*h.maxK, 0
	for _, s := range m.Sizes {
		width = max(width, s)
	}
	shapes := []struct {
		dst   **tensor.Tensor
		shape []int
	}{
		{&h.eye, []int{c, c}}, {&h.ones, []int{1, c}},
		{&h.probs, []int{m.MaxRows, c}}, {&h.z, []int{m.MaxRows, c}},
		{&h.loss, []int{m.MaxRows}}, {&h.gz, []int{m.MaxRows, c}},
		{&h.rz, []int{rk, width}}, {&h.rd, []int{rk, width}},
		{&h.rd2, []int{rk, width}}, {&h.tmp, []int{rk, width}},
		{&h.pExp, []int{rk, c}}, {&h.rdot, []int{rk}},
		{&h.perm, []int{h.maxK * width, width}},
		{&h.perm2, []int{h.maxK * width, width}},
	}
	for _, s := range shapes {
		t, err := h.new(dev, s.shape...)
		if err != nil {
			return err
		}
		*s.dst = t
	}
	h.aExp = make([]*tensor.Tensor, len(h.lins))
	h.ra = make([]*tensor.Tensor, len(h.lins))
	for l := 1; l < len(h.lins); l++ {
		var err error
		if h.aExp[l], err = h.new(dev, rk, h.lins[l].In); err != nil {
			return err
		}
		if h.ra[l], err = h.new(dev, rk, h.lins[l].In); err != nil {
			return err
		}
	}
	return nil
}

func (h *HVP) new(dev device.Device, shape ...int) (*tensor.Tensor, error) {
	t, err := tensor.New(dev, shape...)
	if err != nil {
		return nil, fmt.Errorf("influence: HVP workspace: %w", err)
	}
	h.owned = append(h.owned, t)
	return t, nil
}

// identity fills eye and ones.
func (h *HVP) identity() error {
	c := h.model.Classes()
	eye := make([]float32, c*c)
	for i := range c {
		eye[i*c+i] = 1
	}
	if err := h.eye.CopyFrom(eye); err != nil {
		return fmt.Errorf("influence: HVP: %w", err)
	}
	h.ones.Fill(1)
	return nil
}

// Free releases the workspaces.
func (h *HVP) Free() {
	for _, t := range h.owned {
		t.Free()
	}
	h.owned = nil
}

// Prepare runs the forward and backward passes of the mean loss over the
// rows of x with labels y at the model's current weights, for Apply. The
// backward pass reaches the layers' outputs only: the parameter gradients
// are left as they were.
func (h *HVP) Prepare(x *tensor.Tensor, y []int32) error {
	rows := x.Rows()
	h.model.Loss(x, y, true, 1/float32(rows))
	h.model.BackwardOutputs(rows)
	return h.Use(y)
}

// Use readies Apply for the batch that the model last ran: Loss(x, y,
// true, 1/rows) followed by Backward or BackwardOutputs, as a replay hook
// finds it (train.StepInfo). y are the batch's labels. It recomputes the
// logits from the last layer's input and keeps their softmax.
func (h *HVP) Use(y []int32) error {
	rows := len(y)
	last := h.lins[len(h.lins)-1]
	if a := last.Input(); a == nil || a.Rows() != rows {
		return fmt.Errorf("influence: HVP: %d labels for a last batch of %v",
			rows, a)
	}
	h.rows = rows
	z := h.z.RowSlice(0, rows)
	z.MatMul(last.Input(), false, last.W.Value, true)
	z.AddRowVector(last.B.Value)

	// p = (p − onehot) + onehot.
	p, g := h.probs.RowSlice(0, rows), h.gz.RowSlice(0, rows)
	tensor.SoftmaxCrossEntropy(h.loss.RowSlice(0, rows), g, z, y, 1)
	p.GatherRows(h.eye, y)
	p.Axpy(1, g)
	return nil
}

// Apply sets dst = α·H·v + β·dst for every vector of v, where H is the
// Hessian of the mean loss over the batch that Use or Prepare readied,
// at the model's weights. dst must not share memory with v. With β = 0,
// dst is not read.
func (h *HVP) Apply(dst, v *Vecs, alpha, beta float32) {
	dst.check("HVP", v)
	if h.rows == 0 {
		panic("influence: HVP.Apply before Use or Prepare")
	}
	for k0 := 0; k0 < v.K; k0 += h.maxK {
		k1 := min(k0+h.maxK, v.K)
		h.apply(dst.Rows(k0, k1), v.Rows(k0, k1), alpha, beta)
	}
}

// apply runs one pass for up to maxK vectors.
func (h *HVP) apply(dst, v *Vecs, alpha, beta float32) {
	rz := h.forward(v)
	rd := h.outputR(rz, v.K, alpha)
	h.backward(dst, v, rd, alpha, beta)
}

// matView returns the first rows×cols values of t as a rows×cols matrix.
func matView(t *tensor.Tensor, rows, cols int) *tensor.Tensor {
	return t.Reshape(t.Len()).RowSlice(0, rows*cols).Reshape(rows, cols)
}

// TODO(hvp): expandIdx and permIdx build their index slices on every
// pass, and a GPU backend uploads them each time; caching them per
// (rows, K) would save that traffic once the CUDA backend is measured.

// expandIdx returns the row indices that repeat each of rows rows k
// times: entry b·k + j is b.
func expandIdx(rows, k int) []int32 {
	idx := make([]int32, rows*k)
	for i := range idx {
		idx[i] = int32(i / k)
	}
	return idx
}

// permIdx returns the row gather that turns a p×q×n array, read as p·q
// rows of n, into the q×p×n array: row j·p + i takes row i·q + j.
func permIdx(p, q int) []int32 {
	idx := make([]int32, p*q)
	for j := range q {
		for i := range p {
			idx[j*p+i] = int32(i*q + j)
		}
	}
	return idx
}

// forward returns R{z_{L−1}}, (rows·K)×classes, and leaves R{a_l} in
// h.ra[l] and the expanded a_l in h.aExp[l], for l ≥ 1.
func (h *HVP) forward(v *Vecs) *tensor.Tensor {
	b, k := h.rows, v.K
	expand := expandIdx(b, k)
	var rz *tensor.Tensor
	for l, lin := range h.lins {
		if l > 0 {
			a := lin.Input()
			ae := matView(h.aExp[l], b*k, lin.In)
			ae.GatherRows(a, expand)
			ra := matView(h.ra[l], b*k, lin.In)
			ra.ReLUBackward(rz, ae)
		}
		rz = matView(h.rz, b*k, lin.Out)
		wide := rz.Reshape(b, k*lin.Out)
		wide.MatMul(lin.Input(), false, v.T[2*l].Reshape(k*lin.Out, lin.In), true)
		if l > 0 {
			rz.MatMulAdd(1, matView(h.ra[l], b*k, lin.In), false,
				lin.W.Value, true, 1)
		}
		wide.AddRowVector(v.T[2*l+1].Reshape(k * lin.Out))
	}
	return rz
}

// outputR returns α·R{δ_{L−1}} from R{z} = rz, row by row
//
//	α·R{δ} = (α/B)·(p ⊙ R{z} − p·(pᵀR{z})).
func (h *HVP) outputR(rz *tensor.Tensor, k int, alpha float32) *tensor.Tensor {
	b, c := h.rows, h.model.Classes()
	p := matView(h.pExp, b*k, c)
	p.GatherRows(h.probs.RowSlice(0, b), expandIdx(b, k))
	rd := matView(h.rd, b*k, c)
	rd.Mul(p, rz)

	dot := matView(h.rdot, b*k, 1)
	dot.RowDot(p, rz)
	t := matView(h.tmp, b*k, c)
	t.MatMul(dot, false, h.ones, false) // (pᵀR{z})·1ᵀ
	t.Mul(t, p)
	rd.Axpy(-1, t)
	rd.Scale(alpha / float32(b))
	return rd
}

// backward runs the R-backward pass from rd = α·R{δ_{L−1}}, a view of
// h.rd, and writes dst = α·H·v + β·dst.
func (h *HVP) backward(dst, v *Vecs, rd *tensor.Tensor, alpha, beta float32) {
	b, k := h.rows, v.K
	spare := h.rd2
	for l := len(h.lins) - 1; l >= 0; l-- {
		lin := h.lins[l]
		wide := rd.Reshape(b, k*lin.Out)
		gw := dst.T[2*l].Reshape(k*lin.Out, lin.In)
		gw.MatMulAdd(1, wide, true, lin.Input(), false, beta)
		dst.T[2*l+1].Reshape(k*lin.Out).SumRows(wide, beta)
		if l == 0 {
			return
		}
		h.weightTerm(gw, l, k, alpha)

		// α·R{δ_{l−1}} = m_l ⊙ (α·R{δ_l}·W_l + α·δ_l·V_l).
		g := matView(h.tmp, b*k, lin.In)
		g.MatMul(rd, false, lin.W.Value, false)
		vp := matView(h.perm, lin.Out*k, lin.In)
		vp.GatherRows(v.T[2*l].Reshape(k*lin.Out, lin.In), permIdx(k, lin.Out))
		g.Reshape(b, k*lin.In).MatMulAdd(alpha, lin.OutputGrad(), false,
			vp.Reshape(lin.Out, k*lin.In), false, 1)
		next := matView(spare, b*k, lin.In)
		next.ReLUBackward(g, matView(h.aExp[l], b*k, lin.In))
		if spare == h.rd2 {
			spare = h.rd
		} else {
			spare = h.rd2
		}
		rd = next
	}
}

// weightTerm adds α·δ_lᵀ·R{a_l} to gw, the K×out×in weight part of layer
// l: it forms the out×K×in product and permutes its rows.
func (h *HVP) weightTerm(gw *tensor.Tensor, l, k int, alpha float32) {
	b, lin := h.rows, h.lins[l]
	ra := matView(h.ra[l], b*k, lin.In).Reshape(b, k*lin.In)
	t := matView(h.perm, lin.Out, k*lin.In)
	t.MatMul(lin.OutputGrad(), true, ra, false)
	u := matView(h.perm2, k*lin.Out, lin.In)
	u.GatherRows(t.Reshape(lin.Out*k, lin.In), permIdx(lin.Out, k))
	gw.Axpy(alpha, u)
}
