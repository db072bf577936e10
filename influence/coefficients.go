package influence

// Coefficients returns c_t for t = 0, …, T−1: the factor by which the
// injection sᵢ(t) at step t reaches dᵢ(T) in the first-order hypergradient
// recursion with learning rates eta, momentum mu and weight decay lambda
// (see the package documentation):
//
//	c_t = e₁ᵀ·A_{T−1}···A_{t+1}·(−η_t, 1)ᵀ
//
// It sweeps backwards, keeping the row vector r = e₁ᵀ·A_{T−1}···A_{t+1}.
func Coefficients(eta []float64, mu, lambda float64) []float64 {
	c := make([]float64, len(eta))
	r0, r1 := 1.0, 0.0 // r = e₁ᵀ
	for t := len(eta) - 1; t >= 0; t-- {
		c[t] = -eta[t]*r0 + r1
		// r ← r·A_t with A_t = [[1−η_t·λ, −η_t·μ], [λ, μ]].
		r0, r1 = r0*(1-eta[t]*lambda)+r1*lambda, -r0*eta[t]*mu+r1*mu
	}
	return c
}
