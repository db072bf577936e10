// rows.cu holds the operations of device.Ops that work on the rows of a
// row-major m×n matrix: AddRowVector, SumRows, RowDot, GatherRows and
// ScatterAddRows.
//
// Mapping:
//
//   - add_row_vector, gather_rows and scatter_add_rows run one thread per
//     element of the m×n matrix in a grid-stride loop over the flat index
//     i = r·n + c, as in elementwise.cu; the column is i mod n. A flat
//     index keeps every thread busy whether the rows are long or short
//     (a bias of 10 classes, say).
//   - sum_rows gives each block 32 columns and a 32×32 thread grid:
//     thread (ty, tx) sums column tx over the rows ty, ty + 32, ….
//     The 32 partial sums of a column then meet in shared memory and the
//     first warp adds them in a fixed order, so the result does not
//     depend on timing. A warp reads 32 consecutive floats of a row.
//   - row_dot gives each row to one warp: the 32 lanes stride along the
//     row and a butterfly of shuffles adds their partial sums; a block of
//     256 threads does 8 rows at a time.
//
// Row and element offsets are 64-bit; m and n are each below 2³¹.
//
// scatter_add_rows accumulates with atomicAdd, so when an index repeats
// the order of the additions, and so the rounding of the result, may
// change from run to run.
//
// TODO(sum-rows): a matrix with few columns and very many rows (a
// 10-column gradient over 10⁶ rows) gets one block; split the rows
// across blocks with a second pass if that shape shows up in profiles.

#include "prelude.cuh"

#define SUM_TILE 32  // columns per block and rows in flight in sum_rows
#define ROWS_PER_BLOCK 8  // rows per 256-thread block in row_dot

// add_row_vector adds the n-vector v to every row of the m×n matrix x.
KERNEL void add_row_vector(float* x, const float* v, int m, int n) {
  i64 total = (i64)m * n;
  for (i64 i = global_x(); i < total; i += global_stride_x()) {
    x[i] += v[i % n];
  }
}

// sum_rows sets dst[c] = β·dst[c] + Σᵣ x[r, c] for the m×n matrix x,
// without reading dst when β = 0. Blocks are 32×32 threads; block b takes
// columns 32·b to 32·b + 31.
KERNEL __launch_bounds__(SUM_TILE * SUM_TILE) void sum_rows(
    float* dst, const float* x, int m, int n, float beta) {
  __shared__ float part[SUM_TILE][SUM_TILE + 1];
  int tx = thread_x(), ty = thread_y();
  int c = block_x() * SUM_TILE + tx;

  float s = 0.0f;
  if (c < n) {
    for (int r = ty; r < m; r += SUM_TILE) s += x[(i64)r * n + c];
  }
  part[ty][tx] = s;
  sync_threads();

  if (ty != 0 || c >= n) return;
  s = 0.0f;
  for (int r = 0; r < SUM_TILE; r++) s += part[r][tx];
  dst[c] = beta == 0.0f ? s : __builtin_fmaf(beta, dst[c], s);
}

// row_dot sets dst[r] = Σ_c a[r, c]·b[r, c] for the m rows of the m×n
// matrices a and b, one warp per row.
KERNEL void row_dot(float* dst, const float* a, const float* b, int m,
                    int n) {
  int lane = lane_id();
  i64 stride = (i64)grid_dim_x() * ROWS_PER_BLOCK;
  i64 r = (i64)block_x() * ROWS_PER_BLOCK + thread_x() / WARP;
  for (; r < m; r += stride) {
    const float* ar = a + r * n;
    const float* br = b + r * n;
    float s = 0.0f;
    for (int c = lane; c < n; c += WARP) s = __builtin_fmaf(ar[c], br[c], s);
    s = warp_sum(s);
    if (lane == 0) dst[r] = s;
  }
}

// gather_rows sets row r of the rows×n matrix dst to row idx[r] of src.
// The indices are checked on the host.
KERNEL void gather_rows(float* dst, const float* src, const int* idx,
                        int rows, int n) {
  i64 total = (i64)rows * n;
  for (i64 i = global_x(); i < total; i += global_stride_x()) {
    i64 r = i / n;
    dst[i] = src[(i64)idx[r] * n + (i - r * n)];
  }
}

// scatter_add_rows adds row r of the rows×n matrix src to row idx[r] of
// dst, atomically, so that repeated indices accumulate.
KERNEL void scatter_add_rows(float* dst, const float* src, const int* idx,
                             int rows, int n) {
  i64 total = (i64)rows * n;
  for (i64 i = global_x(); i < total; i += global_stride_x()) {
    i64 r = i / n;
    atomic_add(dst + (i64)idx[r] * n + (i - r * n), src[i]);
  }
}
