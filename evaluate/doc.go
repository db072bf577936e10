// Package evaluate judges attribution methods by the protocols that the
// literature uses: leave-one-out retraining, the linear datamodeling score,
// mislabel detection, and cost. It scores the training points of a
// recorded run with each method of package influence, retrains the model
// without chosen points, and compares what the methods predicted with what
// happened. It prints nothing: long work reports through a Progress
// callback, and every protocol returns a plain result struct.
//
// # What removing a point does, to first order
//
// Give training point i the weight 1 + εᵢ in every minibatch loss it is
// part of, the batch loss at step t being
//
//	(1/B_t)·Σ_{j ∈ B_t} (1 + εⱼ)·ℓⱼ(w).
//
// The final weights w_T are then a function of ε. The hypergradient of
// package influence is dᵢ(T) = N·∂w_T/∂εᵢ (its recursion injects
// (N/B_t)·∇ℓᵢ at the steps whose batch holds i), and the relevance of i to
// a test objective L is
//
//	Rᵢ = −(1/N)·∇L(w_T)ᵀ·dᵢ(T) = −∂L(w_T)/∂εᵢ.
//
// In the convention of DESIGN.md and of Koh and Liang, upweighting i "by
// ε" adds ε·ℓᵢ to the mean training loss (1/N)·Σⱼ ℓⱼ, which is a weight
// 1 + N·ε on the point; removing it is ε = −1/N there, and εᵢ = −1 here.
// Taking point i out of every batch it was in while keeping each batch's
// factor 1/B_t (train.KeepScale) is therefore exactly εᵢ = −1, and
//
//	ΔLᵢ = L(w_T(−eᵢ)) − L(w_T(0))
//	    = −∂L/∂εᵢ + O(‖Δw‖²) = Rᵢ + O(‖Δw‖²).
//
// The predicted change of the test loss when i is left out is Rᵢ itself:
// removing a helpful point (Rᵢ > 0) raises the loss, removing a harmful
// one lowers it. Each step changes w by O(η_t/B_t), so the second-order
// term is small next to Rᵢ unless the training dynamics amplify it; with
// the Hessian kept (influence.HessianAware) the first-order term is exact,
// and Pearson correlation with retraining near 1 is what the method
// promises. First-order HyDRA drops H_t·d from the recursion and is exact
// only where the loss is flat along the path; influence functions, which
// package influence scales to the same Rᵢ (−1/N times Koh and Liang's
// I_up,loss), assume that w_T is the minimum of the training objective.
//
// Averaging over the remaining points instead (train.Renormalize) also
// gives the other points of i's batches the weight B_t/(B_t − 1):
//
//	ΔLᵢ ≈ Rᵢ − Σ_{t: i ∈ B_t} (1/(B_t − 1))·Σ_{j ∈ B_t, j ≠ i} rⱼ(t),
//
// with rⱼ(t) the relevance of point j's visit at step t. No per-point score
// predicts that second term, so leave-one-out retrains with KeepScale
// unless told otherwise.
//
// TracIn, gradient similarity, the training loss and the random order give
// rankings, not changes of the loss: their scale is arbitrary, and only the
// correlations mean something. The training loss enters with its sign
// turned, −ℓᵢ(w_T), so that, like every other score here, higher means
// more helpful.
//
// # Leave-one-out
//
// LOOPoints picks the points with the largest |Rᵢ| under first-order HyDRA
// and as many again at random (seeded); each is left out of a retraining
// that reuses the recorded initial weights, learning rates and minibatch
// order (train.RecordPlan, train.Retrainer). The actual ΔLᵢ is the mean
// test loss of that model minus the mean test loss of the same retraining
// with nothing left out, so that both come from the same arithmetic. Each
// method's predicted ΔLᵢ is correlated with the actual ones (Pearson and
// Spearman).
//
// # Linear datamodeling score
//
// For a random subset S of the training points (half of them, seeded),
// retraining on S alone — every point outside S left out as above —
// changes the loss of test point j by Σ_{i ∉ S} ΔLᵢⱼ to first order, so
// the linear datamodel predicts
//
//	ℓⱼ(w_S) ≈ ℓⱼ(w_T) + Σ_{i ∉ S} Rᵢⱼ = cⱼ − Σ_{i ∈ S} Rᵢⱼ,
//
// with cⱼ the same for every subset. The score of test point j is the
// Spearman correlation, over the subsets, between −Σ_{i ∈ S} Rᵢⱼ and the
// actual ℓⱼ(w_S); the LDS averages it over the test points (Park et al.
// 2023). The correct-class margin zⱼ,y − max_{c ≠ y} zⱼ,c falls as the loss
// rises, so the margin's prediction is +Σ_{i ∈ S} Rᵢⱼ with the same scores.
//
// # Mislabel detection
//
// With a share of the training labels flipped, each method's detector
// (self-relevance, self-influence, training loss, or the harm to the test
// loss, −Rᵢ) ranks the points, most suspicious first; the protocol reports
// the share of flipped points found against the share inspected and the
// area under that curve (influence.Detection, influence.DetectionAUC).
//
// # Cost and resumption
//
// Each method's wall time and peak resident memory are measured around its
// scoring (getrusage's maximum RSS, reset before each method on Linux).
// Retraining runs spread over a pool of workers, each with a device of its
// own; every finished retraining is appended to a results file and synced,
// and a restarted evaluation skips the retrainings that file holds.
//
// # References
//
// Koh, Liang. Understanding Black-box Predictions via Influence Functions.
// ICML 2017.
//
// Chen, Li, Yu, Wu, Miao. HyDRA: Hypergradient Data Relevance Analysis for
// Interpreting Deep Neural Networks. AAAI 2021.
//
// Ilyas, Park, Engstrom, Leclerc, Madry. Datamodels: Predicting
// Predictions from Training Data. ICML 2022.
//
// Park, Georgiev, Ilyas, Leclerc, Madry. TRAK: Attributing Model Behavior
// at Scale. ICML 2023.
package evaluate
