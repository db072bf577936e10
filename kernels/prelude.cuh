// prelude.cuh is the little of CUDA that optraj's kernels use, written
// against clang's NVPTX builtins so that the kernels compile with
// `clang -x cuda -nocudainc -nocudalib` and no CUDA toolkit: the function
// attributes, thread and block indices, barriers, warp shuffles, atomics,
// and expf, logf and sqrtf. There is no libdevice, so expf and logf are
// written out below (range reduction and a short polynomial, about 1 ulp);
// they do not use the approximate ex2/lg2 instructions, whose error grows
// with the argument.
//
// Every kernel is extern "C" so that its PTX name is its source name.
//
// The part that touches the hardware is skipped when OPTRAJ_HOST_EMULATION
// is defined: testdata/emulate.cc defines it, provides that part for the
// CPU and includes the kernels, so that tests without a GPU can run the
// kernels' source (not their PTX) on the CPU.

#ifndef OPTRAJ_PRELUDE_CUH
#define OPTRAJ_PRELUDE_CUH

// WARP is the number of threads in a warp on every NVIDIA GPU to date.
#define WARP 32
#define FULL_MASK 0xffffffffu

typedef long long i64;
typedef unsigned int u32;

#ifndef OPTRAJ_HOST_EMULATION

#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __shared__ __attribute__((shared))
#define __launch_bounds__(n) __attribute__((launch_bounds(n)))

#define KERNEL extern "C" __global__
#define INLINE static __device__ __attribute__((always_inline)) inline

// Thread, block and grid coordinates (threadIdx, blockIdx, blockDim and
// gridDim in CUDA C).
INLINE int thread_x() { return __nvvm_read_ptx_sreg_tid_x(); }
INLINE int thread_y() { return __nvvm_read_ptx_sreg_tid_y(); }
INLINE int block_x() { return __nvvm_read_ptx_sreg_ctaid_x(); }
INLINE int block_y() { return __nvvm_read_ptx_sreg_ctaid_y(); }
INLINE int block_dim_x() { return __nvvm_read_ptx_sreg_ntid_x(); }
INLINE int block_dim_y() { return __nvvm_read_ptx_sreg_ntid_y(); }
INLINE int grid_dim_x() { return __nvvm_read_ptx_sreg_nctaid_x(); }
INLINE int grid_dim_y() { return __nvvm_read_ptx_sreg_nctaid_y(); }

// sync_threads is a barrier for the threads of a block (__syncthreads).
INLINE void sync_threads() { __syncthreads(); }

// Warp shuffles over all 32 lanes (__shfl_xor_sync, __shfl_sync,
// __shfl_up_sync in CUDA C).
INLINE float shfl_xor(float v, int mask) {
  return __nvvm_shfl_sync_bfly_f32(FULL_MASK, v, mask, WARP - 1);
}
INLINE float shfl_f(float v, int src) {
  return __nvvm_shfl_sync_idx_f32(FULL_MASK, v, src, WARP - 1);
}
INLINE int shfl_i(int v, int src) {
  return __nvvm_shfl_sync_idx_i32(FULL_MASK, v, src, WARP - 1);
}
INLINE float shfl_up_f(float v, int delta) {
  return __nvvm_shfl_sync_up_f32(FULL_MASK, v, delta, 0);
}
INLINE int shfl_up_i(int v, int delta) {
  return __nvvm_shfl_sync_up_i32(FULL_MASK, v, delta, 0);
}

// ballot returns the mask of lanes whose p is true (__ballot_sync).
INLINE u32 ballot(bool p) { return __nvvm_vote_ballot_sync(FULL_MASK, p); }

// atomic_add adds v to *p in global memory (atomicAdd).
INLINE void atomic_add(float* p, float v) { __nvvm_atom_add_gen_f(p, v); }

// fmaxf_ and sqrtf_ are max.f32 and sqrt.rn.f32 (correctly rounded).
INLINE float fmaxf_(float a, float b) { return __nvvm_fmax_f(a, b); }
INLINE float sqrtf_(float x) { return __nvvm_sqrt_rn_f(x); }

#endif  // OPTRAJ_HOST_EMULATION

// lane_id is the thread's lane in its warp, for one-dimensional blocks.
INLINE int lane_id() { return thread_x() & (WARP - 1); }

// global_x is the index of the thread along x over the whole grid, and
// global_stride_x the number of threads along x in the grid: the start and
// step of a grid-stride loop.
INLINE i64 global_x() { return (i64)block_x() * block_dim_x() + thread_x(); }
INLINE i64 global_stride_x() { return (i64)grid_dim_x() * block_dim_x(); }

// Bit casts, infinity and rounding to the nearest integer (cvt.rni).
INLINE float as_float(int i) { return __builtin_bit_cast(float, i); }
INLINE int as_int(float f) { return __builtin_bit_cast(int, f); }
INLINE float rintf_(float x) { return __builtin_rintf(x); }

#define INF_F __builtin_inff()

// warp_sum and warp_max reduce v over the warp; every lane gets the result.
INLINE float warp_sum(float v) {
  for (int m = WARP / 2; m > 0; m /= 2) v += shfl_xor(v, m);
  return v;
}
INLINE float warp_max(float v) {
  for (int m = WARP / 2; m > 0; m /= 2) v = fmaxf_(v, shfl_xor(v, m));
  return v;
}

// exp2i returns 2ⁿ for -126 ≤ n ≤ 127.
INLINE float exp2i(int n) { return as_float((n + 127) << 23); }

// expf_ is eˣ to about 1 ulp. With n = rint(x·log₂e) and the Cody–Waite
// split ln 2 = L₁ + L₂ (L₁ with its low bits clear, so n·L₁ is exact),
//
//	r = x − n·L₁ − n·L₂,  |r| ≤ ln 2 / 2
//	eˣ = 2ⁿ · eʳ
//
// and eʳ is its Taylor polynomial of degree 7, whose truncation error,
// (ln 2 / 2)⁸/8! ≈ 5.6e-9, is below half an ulp. 2ⁿ is applied in two
// halves so that results in the subnormal range come out right.
INLINE float expf_(float x) {
  const float log2e = 1.44269504088896341f;
  const float ln2hi = 0.693145751953125f;
  const float ln2lo = 1.42860682030941723e-6f;
  if (x != x) return x;
  if (x > 88.7228394f) return INF_F;
  if (x < -103.972084f) return 0.0f;

  float n = rintf_(x * log2e);
  float r = __builtin_fmaf(-n, ln2hi, x);
  r = __builtin_fmaf(-n, ln2lo, r);

  float p = 1.0f / 5040.0f;
  p = __builtin_fmaf(p, r, 1.0f / 720.0f);
  p = __builtin_fmaf(p, r, 1.0f / 120.0f);
  p = __builtin_fmaf(p, r, 1.0f / 24.0f);
  p = __builtin_fmaf(p, r, 1.0f / 6.0f);
  p = __builtin_fmaf(p, r, 0.5f);
  p = __builtin_fmaf(p, r, 1.0f);
  p = __builtin_fmaf(p, r, 1.0f);

  int ni = (int)n;
  int n1 = ni / 2;
  return p * exp2i(n1) * exp2i(ni - n1);
}

// logf_ is the natural logarithm to about 1 ulp. With x = 2ᵉ·m and
// √½ ≤ m < √2, f = m − 1 and s = f/(2 + f),
//
//	log x = e·ln 2 + log(1 + f)
//	log(1 + f) = 2·atanh s = 2s + 2s³/3 + 2s⁵/5 + 2s⁷/7 + 2s⁹/9 + …
//
// where |s| ≤ 0.172, so the series truncated after s⁹ is good to 1e-9.
INLINE float logf_(float x) {
  const float ln2hi = 0.693145751953125f;
  const float ln2lo = 1.42860682030941723e-6f;
  if (x != x || x == INF_F) return x;
  if (x < 0.0f) return __builtin_nanf("");
  if (x == 0.0f) return -INF_F;

  int e = 0;
  if (x < 1.17549435e-38f) {  // subnormal: scale into the normal range
    x *= 8388608.0f;          // 2²³
    e = -23;
  }
  int bits = as_int(x);
  e += ((bits >> 23) & 0xff) - 127;
  float m = as_float((bits & 0x7fffff) | 0x3f800000);
  if (m > 1.41421356f) {
    m *= 0.5f;
    e += 1;
  }

  float f = m - 1.0f;
  float s = f / (2.0f + f);
  float z = s * s;
  float p = 2.0f / 9.0f;
  p = __builtin_fmaf(p, z, 2.0f / 7.0f);
  p = __builtin_fmaf(p, z, 2.0f / 5.0f);
  p = __builtin_fmaf(p, z, 2.0f / 3.0f);
  float l1p = __builtin_fmaf(s * z, p, 2.0f * s);

  float fe = (float)e;
  return __builtin_fmaf(fe, ln2hi, __builtin_fmaf(fe, ln2lo, l1p));
}

#endif  // OPTRAJ_PRELUDE_CUH
