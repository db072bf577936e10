// Package influence scores training points by how much they shaped a
// model's predictions, using the trajectory that training recorded.
//
// # Hypergradients along the trajectory
//
// Give training point i a weight 1 + εᵢ in the training loss. The weights
// after step t are then a function of εᵢ, and their derivative
// dᵢ(t) = ∂w_t/∂εᵢ, the hypergradient, follows the optimizer. For SGD with
// learning rate η_t, momentum μ and weight decay λ over minibatch B_t of
// size B_t out of N points, it obeys (Chen et al. 2021)
//
//	g_t = λ·d + H_t·d + (N/B_t)·[i ∈ B_t]·∇ℓᵢ(w_t)
//	m   ← μ·m + g_t
//	d   ← d − η_t·m
//
// from d = m = 0, where H_t is the Hessian of the minibatch loss at w_t.
// The relevance of point i to a test objective L_test is
//
//	Rᵢ = −(1/N)·∇L_test(w_T)ᵀ·dᵢ(T),
//
// positive when upweighting i lowers the test loss (a helpful point) and
// negative when it raises it (a harmful one, such as a mislabeled point).
//
// # First order
//
// Dropping H_t·d makes the recursion linear with scalar coefficients: per
// coordinate, the pair (d, m) evolves by the 2×2 matrix
//
//	A_t = ⎡1 − η_t·λ   −η_t·μ⎤
//	      ⎣    λ          μ  ⎦
//
// and step t injects (−η_t, 1)·sᵢ(t) with sᵢ(t) = (N/B_t)·[i ∈ B_t]·∇ℓᵢ(w_t).
// Hence
//
//	dᵢ(T) = Σ_t c_t·sᵢ(t),   c_t = e₁ᵀ·A_{T−1}···A_{t+1}·(−η_t, 1)ᵀ,
//
// where the c_t depend only on the schedule and are found by one backward
// sweep over the steps (coefficients). The relevance becomes
//
//	Rᵢ = −Σ_{t: i ∈ B_t} (c_t/B_t)·∇L_test(w_T)ᵀ·∇ℓᵢ(w_t),
//
// a sum of per-sample gradient dot products along the path, and the
// momentum and weight decay are kept exactly.
//
// # Per-sample dot products without per-sample gradients
//
// For a linear layer y = W·a + b, the gradient of ℓᵢ is rank one:
// ∂ℓᵢ/∂W = δᵢ·aᵢᵀ and ∂ℓᵢ/∂b = δᵢ, where aᵢ is the layer's input and
// δᵢ the gradient at its output. Against a fixed vector (V, v) of the layer's shape
//
//	⟨∇ℓᵢ, (V, v)⟩ = δᵢᵀ·(V·aᵢ + v),
//
// one matrix product per batch (A·Vᵀ) and a row-wise dot product; for the
// first layer, whose inputs are the data, X·Vᵀ is formed once for all N
// points. Against another point's gradient at the final weights, (δⱼ, aⱼ),
//
//	⟨∇ℓᵢ, ∇ℓⱼ⟩ = (δᵢᵀδⱼ)·(aᵢᵀaⱼ + 1),
//
// which gives a train × test score matrix from two products per layer, and
// each point's own final gradient (self-relevance) from row-wise dot
// products with the stored final δᵢ and aᵢ. The minibatch gradient rows
// that training computes are 1/B_t times the per-sample δᵢ, which cancels
// the 1/B_t in Rᵢ. FirstOrder therefore replays the trajectory once and
// never holds an N × parameters matrix.
//
// # Scoring without a replay
//
// The replay exists only to see, at each step, every layer's δᵢ and aᵢ
// for the batch; recomputing them costs a training run. Everything else
// that Rᵢ needs (V, X·V₀ᵀ, the final δⱼ and aⱼ) is known only at w_T. A
// StepLog attached to the training run keeps those rows as training makes
// them (the first layer's aᵢ being the data, it keeps only δᵢ there), and
// FirstOrderLogged then scores from the log: one pass over all points at
// w_T and a few small products per step. The log grows with the number of
// visits, E·N rows of Σ_l out_l + Σ_{l ≥ 1} in_l values, so it suits runs
// of a few epochs; the rows are the replay's bit for bit, and so are the
// scores.
//
// # Baselines
//
// The same replay yields the TracIn self-influence of Pruthi et al. (2020)
// summed over every step, Σ_{t: i ∈ B_t} η_t·‖∇ℓᵢ(w_t)‖², and the final
// training loss ℓᵢ(w_T), which the mislabel-detection protocol compares
// with HyDRA.
//
// # References
//
// Chen, Li, Yu, Wu, Miao. HyDRA: Hypergradient Data Relevance Analysis for
// Interpreting Deep Neural Networks. AAAI 2021.
//
// Pruthi, Liu, Kale, Sundararajan. Estimating Training Data Influence by
// Tracing Gradient Descent. NeurIPS 2020.
//
// Koh, Liang. Understanding Black-box Predictions via Influence Functions.
// ICML 2017.
package influence
