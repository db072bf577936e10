// knn.cu finds, for each row of a query matrix, the k most similar rows of
// a data matrix by cosine similarity: the neighbour lists of a kNN graph
// (recsys/ builds its user–user and item–item graphs from them).
//
// For the nq×d queries q and the nx×d data x,
//
//	sim(i, j) = q[i,:]·x[j,:] / (‖q[i,:]‖·‖x[j,:]‖)
//
// taken as 0 when either row is all zeros. Row i of the output lists the
// k data rows j with the largest sim(i, j), best first; equal similarities
// are ordered by smaller j first, so the result is deterministic. When
// self0 ≥ 0, query i is data row self0 + i (q is a slice of x) and that
// row is left out of its own list.
//
// Limits: 1 ≤ k ≤ 32 (a list lives in the registers of one warp, one
// entry per lane). When fewer than k data rows are candidates, the list
// ends in entries with index −1 and similarity −∞. Rows whose similarity
// is NaN (NaN or infinite inputs) are never listed. Every query scans all
// of x, so the cost is nq·nx·d multiply-adds read from memory: fine for
// graphs of some 10⁴ rows, not for 10⁶.
//
// Mapping: one block of 8 warps per query, in a grid-stride loop over
// queries. Warp w scans the data rows w, w + 8, …; its 32 lanes stride
// along the row, accumulating q·x and ‖x‖² together, and a butterfly of
// shuffles sums them. Each warp keeps its own top-k list sorted across its
// lanes (lane l holds the l-th best); a better candidate is inserted with
// one ballot, which counts the entries that stay ahead of it, and one
// shuffle, which moves the entries behind it down one lane. At the end the
// 8 lists meet in shared memory and the first warp inserts the other 7
// into its own and writes the result.
//
// TODO(knn-gemm): for large graphs compute the similarities tile by tile
// with the matrix product of gemm.cu and select from the tiles; this
// kernel reads each data row once per query.

#include "prelude.cuh"

#define KNN_WARPS 8  // warps per block
#define KNN_MAXK WARP

// better reports whether entry (s1, j1) ranks before entry (s2, j2).
INLINE bool better(float s1, int j1, float s2, int j2) {
  return s1 > s2 || (s1 == s2 && j1 < j2);
}

// TopK is a warp's sorted list of the k best entries so far; lane l holds
// entry l, and lanes l ≥ k hold nothing of meaning.
struct TopK {
  float s;
  int j;
};

// topk_insert inserts the candidate (s, j), the same in every lane, into
// the list if it ranks before the list's last entry.
INLINE TopK topk_insert(TopK t, int k, float s, int j) {
  int lane = lane_id();
  float lastS = shfl_f(t.s, k - 1);
  int lastJ = shfl_i(t.j, k - 1);
  float upS = shfl_up_f(t.s, 1);
  int upJ = shfl_up_i(t.j, 1);
  if (!better(s, j, lastS, lastJ)) return t;

  int pos = __builtin_popcount(ballot(lane < k && better(t.s, t.j, s, j)));
  if (lane == pos) return TopK{s, j};
  if (lane > pos) return TopK{upS, upJ};
  return t;
}

// cosine_sim returns the cosine similarity of the query qi (with squared
// norm qq) and the data row xj, both of length d, in every lane of the
// warp; 0 when either norm is zero.
INLINE float cosine_sim(const float* qi, float qq, const float* xj, int d) {
  float dot = 0.0f, xx = 0.0f;
  for (int c = lane_id(); c < d; c += WARP) {
    float v = xj[c];
    dot = __builtin_fmaf(qi[c], v, dot);
    xx = __builtin_fmaf(v, v, xx);
  }
  dot = shfl_f(warp_sum(dot), 0);
  xx = shfl_f(warp_sum(xx), 0);
  if (qq == 0.0f || xx == 0.0f) return 0.0f;
  return dot / (sqrtf_(qq) * sqrtf_(xx));
}

// squared_norm returns ‖v‖² for the d-vector v in every lane of the warp.
INLINE float squared_norm(const float* v, int d) {
  float s = 0.0f;
  for (int c = lane_id(); c < d; c += WARP) s = __builtin_fmaf(v[c], v[c], s);
  return shfl_f(warp_sum(s), 0);
}

// merge_lists has the first warp insert the lists of the other warps,
// stored in ls and lj, into its own list t, and returns the result.
INLINE TopK merge_lists(TopK t, int k, float (*ls)[KNN_MAXK],
                        int (*lj)[KNN_MAXK]) {
  for (int w = 1; w < KNN_WARPS; w++) {
    for (int e = 0; e < k; e++) {
      if (lj[w][e] < 0) break;
      t = topk_insert(t, k, ls[w][e], lj[w][e]);
    }
  }
  return t;
}

// cosine_topk writes, for each of the nq queries, the indices (idx, nq×k)
// and similarities (sim, nq×k) of its k most similar rows of x. Blocks
// have KNN_WARPS·32 threads. self0 < 0 keeps every row a candidate.
KERNEL __launch_bounds__(KNN_WARPS * WARP) void cosine_topk(
    int* idx, float* sim, const float* q, const float* x, int nq, int nx,
    int d, int k, int self0) {
  __shared__ float ls[KNN_WARPS][KNN_MAXK];
  __shared__ int lj[KNN_WARPS][KNN_MAXK];
  int warp = thread_x() / WARP, lane = lane_id();

  for (int i = block_x(); i < nq; i += grid_dim_x()) {
    const float* qi = q + (i64)i * d;
    float qq = squared_norm(qi, d);
    int self = self0 < 0 ? -1 : self0 + i;

    TopK t = {-INF_F, -1};
    for (int j = warp; j < nx; j += KNN_WARPS) {
      if (j == self) continue;
      float s = cosine_sim(qi, qq, x + (i64)j * d, d);
      t = topk_insert(t, k, s, j);
    }
    ls[warp][lane] = t.s;
    lj[warp][lane] = t.j;
    sync_threads();

    if (warp == 0) {
      t = merge_lists(t, k, ls, lj);
      if (lane < k) {
        idx[(i64)i * k + lane] = t.j;
        sim[(i64)i * k + lane] = t.s;
      }
    }
    sync_threads();
  }
}
