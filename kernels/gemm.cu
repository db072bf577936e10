// gemm.cu is the single-precision matrix product of device.Ops.Gemm,
//
//	C = α·op(A)·op(B) + β·C
//
// with op(A) m×k, op(B) k×n and C m×n, all row-major. A is stored m×k, or
// k×m when transposed; B is stored k×n, or n×k when transposed. There is
// one kernel per pair of transposes: gemm_nn, gemm_nt, gemm_tn, gemm_tt
// (n: as stored, t: transposed), all instances of one template.
//
// Mapping. Each block of 256 threads computes one 64×64 tile of C, and
// each thread a 4×4 micro-tile of it held in registers (register
// blocking): thread (ty, tx) of the 16×16 thread grid owns rows
// ty + 16·i and columns tx + 16·j of the tile, i, j < 4, so that the 16
// threads of a half-warp store 16 consecutive floats of a row of C.
// The k dimension is walked in steps of 16: the block copies the 64×16
// slab of op(A) and the 16×64 slab of op(B) into shared memory, waits, and
// every thread then makes 16 rank-1 updates of its micro-tile, each from 4
// values of A and 4 of B read from shared memory (8 loads for 16 FMAs).
//
// Loads from global memory are coalesced whatever the transposes: the
// template picks, for each operand, the order in which the 256 threads
// walk the slab so that consecutive threads read consecutive addresses of
// its stored layout. The shared arrays are stored k-major with one float
// of padding per row, so that a slab stored the other way round is
// written without bank conflicts.
//
// Edges are handled by bounds checks: elements of a slab outside op(A) or
// op(B) are loaded as zeros and elements of C outside the matrix are not
// stored, so any m, n, k work, including k = 0 (C = β·C). When β = 0, C
// is only written, never read (it may hold NaNs). Tiles of C are walked in
// a grid-stride loop along y, so the host may cap gridDim.y at 65535.
//
// Loads are scalar: buffers are views at arbitrary float offsets and do
// not promise the 16-byte alignment of float4 loads.
//
// TODO(gemm-tuning): the 64×64×16 tile with 4×4 per thread was chosen for
// the small and medium shapes of the MLPs without measurement. Sweep tile
// sizes (128×128×8 with 8×8 per thread for large products), and compare
// with cuBLAS on a GPU; add double buffering of the slabs if the sweep
// shows load latency.

#include "prelude.cuh"

#define BM 64   // rows of C per block
#define BN 64   // columns of C per block
#define BK 16   // depth of one slab
#define TM 4    // rows of C per thread
#define TN 4    // columns of C per thread
#define GEMM_THREADS 256  // (BM/TM)·(BN/TN)

// load_a copies the BM×BK slab of op(A) with top-left corner (r0, k0) to
// as[kk][r], zero outside op(A). Not transposed, A[r, kk] is at
// A[r·k + kk], so consecutive threads walk kk; transposed, it is at
// A[kk·m + r], so they walk r.
template <bool TA>
INLINE void load_a(float (*as)[BM + 1], const float* A, int m, int k,
                   int r0, int k0) {
  int t = thread_x();
  for (int l = 0; l < BM * BK / GEMM_THREADS; l++) {
    int e = t + l * GEMM_THREADS;
    int r = TA ? e % BM : e / BK;
    int kk = TA ? e / BM : e % BK;
    int gr = r0 + r, gk = k0 + kk;
    float v = 0.0f;
    if (gr < m && gk < k) {
      v = TA ? A[(i64)gk * m + gr] : A[(i64)gr * k + gk];
    }
    as[kk][r] = v;
  }
}

// load_b copies the BK×BN slab of op(B) with top-left corner (k0, c0) to
// bs[kk][c], zero outside op(B). Not transposed, B[kk, c] is at
// B[kk·n + c]; transposed, at B[c·k + kk].
template <bool TB>
INLINE void load_b(float (*bs)[BN + 1], const float* B, int n, int k,
                   int k0, int c0) {
  int t = thread_x();
  for (int l = 0; l < BK * BN / GEMM_THREADS; l++) {
    int e = t + l * GEMM_THREADS;
    int c = TB ? e / BK : e % BN;
    int kk = TB ? e % BK : e / BN;
    int gc = c0 + c, gk = k0 + kk;
    float v = 0.0f;
    if (gc < n && gk < k) {
      v = TB ? B[(i64)gc * k + gk] : B[(i64)gk * n + gc];
    }
    bs[kk][c] = v;
  }
}

// store_c writes α·acc + β·C to the thread's micro-tile of the tile at
// (r0, c0), skipping elements outside C and reading C only when β ≠ 0.
INLINE void store_c(float* C, int m, int n, int r0, int c0, float alpha,
                    float beta, float (*acc)[TN]) {
  int tx = thread_x() % (BN / TN), ty = thread_x() / (BN / TN);
  for (int i = 0; i < TM; i++) {
    int r = r0 + ty + i * (BM / TM);
    if (r >= m) break;
    for (int j = 0; j < TN; j++) {
      int c = c0 + tx + j * (BN / TN);
      if (c >= n) break;
      float* p = C + (i64)r * n + c;
      float v = alpha * acc[i][j];
      *p = beta == 0.0f ? v : __builtin_fmaf(beta, *p, v);
    }
  }
}

// gemm computes the product for one pair of transposes.
template <bool TA, bool TB>
INLINE void gemm(int m, int n, int k, float alpha, const float* A,
                 const float* B, float beta, float* C) {
  __shared__ float as[BK][BM + 1];
  __shared__ float bs[BK][BN + 1];
  int tx = thread_x() % (BN / TN), ty = thread_x() / (BN / TN);
  int c0 = block_x() * BN;
  int tilesM = (m + BM - 1) / BM;

  for (int tm = block_y(); tm < tilesM; tm += grid_dim_y()) {
    int r0 = tm * BM;
    float acc[TM][TN] = {};

    for (int k0 = 0; k0 < k; k0 += BK) {
      load_a<TA>(as, A, m, k, r0, k0);
      load_b<TB>(bs, B, n, k, k0, c0);
      sync_threads();

#pragma unroll
      for (int kk = 0; kk < BK; kk++) {
        float a[TM], b[TN];
        for (int i = 0; i < TM; i++) a[i] = as[kk][ty + i * (BM / TM)];
        for (int j = 0; j < TN; j++) b[j] = bs[kk][tx + j * (BN / TN)];
        for (int i = 0; i < TM; i++) {
          for (int j = 0; j < TN; j++) {
            acc[i][j] = __builtin_fmaf(a[i], b[j], acc[i][j]);
          }
        }
      }
      sync_threads();
    }

    store_c(C, m, n, r0, c0, alpha, beta, acc);
  }
}

// gemm_nn computes C = α·A·B + β·C.
KERNEL __launch_bounds__(GEMM_THREADS) void gemm_nn(
    int m, int n, int k, float alpha, const float* A, const float* B,
    float beta, float* C) {
  gemm<false, false>(m, n, k, alpha, A, B, beta, C);
}

// gemm_nt computes C = α·A·Bᵀ + β·C.
KERNEL __launch_bounds__(GEMM_THREADS) void gemm_nt(
    int m, int n, int k, float alpha, const float* A, const float* B,
    float beta, float* C) {
  gemm<false, true>(m, n, k, alpha, A, B, beta, C);
}

// gemm_tn computes C = α·Aᵀ·B + β·C.
KERNEL __launch_bounds__(GEMM_THREADS) void gemm_tn(
    int m, int n, int k, float alpha, const float* A, const float* B,
    float beta, float* C) {
  gemm<true, false>(m, n, k, alpha, A, B, beta, C);
}

// gemm_tt computes C = α·Aᵀ·Bᵀ + β·C.
KERNEL __launch_bounds__(GEMM_THREADS) void gemm_tt(
    int m, int n, int k, float alpha, const float* A, const float* B,
    float beta, float* C) {
  gemm<true, true>(m, n, k, alpha, A, B, beta, C);
}
