// softmax.cu is the fused softmax cross-entropy of
// device.Ops.SoftmaxCrossEntropy: for the m×n logits z and labels y,
//
//	μᵢ        = maxⱼ z[i,j]
//	Sᵢ        = Σⱼ exp(z[i,j] − μᵢ)
//	loss[i]   = (μᵢ − z[i,y[i]]) + log Sᵢ
//	grad[i,j] = s·(exp(z[i,j] − μᵢ − log Sᵢ) − [j = y[i]])
//
// Subtracting the row maximum keeps every exponent ≤ 0, so nothing
// overflows, and Sᵢ ≥ 1. The loss is assembled as (μᵢ − z[i,y[i]]) + log Sᵢ
// rather than (μᵢ + log Sᵢ) − z[i,y[i]], which would lose the digits of a
// small loss to cancellation when the logits are large.
//
// Mapping: one warp per row, 8 rows per block of 256 threads, in a
// grid-stride loop over rows. The 32 lanes of a warp stride along the row
// three times: for the maximum, for the sum of exponentials (each reduced
// by a butterfly of shuffles, which leaves the result in every lane), and
// to write the gradient. Rows of up to a few thousand logits stay in L1/L2
// between the passes. The gradient is skipped when grad is null. Labels
// are checked on the host.

#include "prelude.cuh"

#define SOFTMAX_ROWS 8  // rows (warps) per 256-thread block

// softmax_xent computes loss (length m) and, unless grad is null, grad
// (m×n) from the logits z (m×n) and the labels y (length m).
KERNEL void softmax_xent(float* loss, float* grad, const float* z,
                         const int* y, int m, int n, float s) {
  int lane = lane_id();
  i64 stride = (i64)grid_dim_x() * SOFTMAX_ROWS;
  i64 i = (i64)block_x() * SOFTMAX_ROWS + thread_x() / WARP;
  for (; i < m; i += stride) {
    const float* zi = z + i * n;

    float mu = -INF_F;
    for (int j = lane; j < n; j += WARP) mu = fmaxf_(mu, zi[j]);
    mu = warp_max(mu);

    float sum = 0.0f;
    for (int j = lane; j < n; j += WARP) sum += expf_(zi[j] - mu);
    float logS = logf_(warp_sum(sum));

    int label = y[i];
    if (lane == 0) loss[i] = (mu - zi[label]) + logS;
    if (grad == nullptr) continue;

    float* gi = grad + i * n;
    for (int j = lane; j < n; j += WARP) {
      float g = s * expf_((zi[j] - mu) - logS);
      gi[j] = j == label ? g - s : g;
    }
  }
}
