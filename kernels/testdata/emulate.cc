// emulate.cc runs the kernels of kernels/*.cu on the CPU, for tests on
// machines without a GPU. It is NOT a GPU and says nothing about the PTX
// that clang makes from the kernels or about their speed: it compiles the
// kernels' CUDA C source as ordinary C++, with the hardware part of
// prelude.cuh replaced by the emulation below, and runs each launch block
// by block, one block's threads at a time as fibers (ucontext) on one OS
// thread. What it checks is the kernels' logic: indexing, tiling, bounds,
// the reductions, the top-k lists, and that every thread of a block
// reaches every barrier (a thread stuck at a barrier that the others
// never reach fails the launch with CUDA_ERROR_LAUNCH_FAILED, which the
// real GPU would turn into a hang or garbage).
//
// Linked with device/internal/cu/testdata/mockcuda.c, it provides the
// mock_emulate hook through which the mock driver's cuLaunchKernel runs
// the launched kernel over the mock's host-memory "device" buffers.
//
// Emulation:
//   - Threads of a block run as fibers, in order; a fiber runs until it
//     reaches a barrier or ends. A block barrier (sync_threads) lets its
//     threads go on once every thread of the block that has not ended has
//     reached it, as on the GPU. A warp operation (shuffle, ballot) is two
//     warp barriers around an exchange through a per-warp array, and needs
//     all 32 lanes of the warp.
//   - Kernels that have no barrier run each thread as a plain call.
//   - __shared__ variables are static: blocks run one at a time.
//   - atomic_add is a plain addition (one OS thread).

#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#define OPTRAJ_HOST_EMULATION

#define __global__
#define __device__
#define __shared__ static
#define __launch_bounds__(n)
#define KERNEL static
#define INLINE static inline

namespace emu {

enum State { kRunnable, kAtBlockBarrier, kAtWarpBarrier, kDone };

struct Fiber {
  ucontext_t ctx;
  State state;
  std::vector<char> stack;
};

// The launch in progress.
struct Launch {
  unsigned grid[2], block[2];  // x, y
  unsigned bx, by;             // the block that runs
  int nthreads;
  int tid;       // linear index of the running thread
  bool fibers;   // threads run as fibers and may wait at barriers
  bool failed;   // a thread broke the barrier rules
  void (*body)(void**);
  void** params;
  std::vector<Fiber> threads;
  ucontext_t scheduler;
  uint32_t exchange[32][32];  // [warp][lane], for warp operations
};

static Launch L;

// kStack is the stack of one emulated thread; the kernels keep small
// arrays (a 4×4 tile, a top-k entry) on it.
const size_t kStack = 64 << 10;

}  // namespace emu

INLINE int thread_x() { return emu::L.tid % emu::L.block[0]; }
INLINE int thread_y() { return emu::L.tid / emu::L.block[0]; }
INLINE int block_x() { return emu::L.bx; }
INLINE int block_y() { return emu::L.by; }
INLINE int block_dim_x() { return emu::L.block[0]; }
INLINE int block_dim_y() { return emu::L.block[1]; }
INLINE int grid_dim_x() { return emu::L.grid[0]; }
INLINE int grid_dim_y() { return emu::L.grid[1]; }

namespace emu {

// wait parks the running thread in state s and returns when the scheduler
// lets it go on.
static void wait(State s) {
  if (!L.fibers) {
    fprintf(stderr, "emulate: a barrier in a kernel listed as having none\n");
    abort();
  }
  Fiber& f = L.threads[L.tid];
  f.state = s;
  swapcontext(&f.ctx, &L.scheduler);
}

// exchange publishes v for the running lane, waits for the warp, and
// returns the value that lane src published.
static uint32_t exchange(uint32_t v, int src) {
  int w = L.tid / 32, lane = L.tid % 32;
  L.exchange[w][lane] = v;
  wait(kAtWarpBarrier);
  uint32_t r = L.exchange[w][src];
  wait(kAtWarpBarrier);
  return r;
}

}  // namespace emu

INLINE void sync_threads() { emu::wait(emu::kAtBlockBarrier); }

INLINE uint32_t bits(float v) { return __builtin_bit_cast(uint32_t, v); }
INLINE float from_bits(uint32_t v) { return __builtin_bit_cast(float, v); }

INLINE float shfl_xor(float v, int mask) {
  return from_bits(emu::exchange(bits(v), (emu::L.tid % 32) ^ mask));
}
INLINE float shfl_f(float v, int src) {
  return from_bits(emu::exchange(bits(v), src & 31));
}
INLINE int shfl_i(int v, int src) {
  return (int)emu::exchange((uint32_t)v, src & 31);
}
INLINE float shfl_up_f(float v, int delta) {
  int lane = emu::L.tid % 32;
  int src = lane - delta < 0 ? lane : lane - delta;
  return from_bits(emu::exchange(bits(v), src));
}
INLINE int shfl_up_i(int v, int delta) {
  int lane = emu::L.tid % 32;
  int src = lane - delta < 0 ? lane : lane - delta;
  return (int)emu::exchange((uint32_t)v, src);
}

INLINE uint32_t ballot(bool p) {
  int w = emu::L.tid / 32, lane = emu::L.tid % 32;
  emu::L.exchange[w][lane] = p;
  emu::wait(emu::kAtWarpBarrier);
  uint32_t mask = 0;
  for (int l = 0; l < 32; l++) mask |= emu::L.exchange[w][l] ? 1u << l : 0;
  emu::wait(emu::kAtWarpBarrier);
  return mask;
}

INLINE void atomic_add(float* p, float v) { *p += v; }

// fmaxf_ follows max.f32: the other operand when one is NaN.
INLINE float fmaxf_(float a, float b) { return std::fmax(a, b); }
INLINE float sqrtf_(float x) { return std::sqrt(x); }

#include "prelude.cuh"

#include "elementwise.cu"
#include "gemm.cu"
#include "knn.cu"
#include "rows.cu"
#include "softmax.cu"

namespace emu {

// invoke calls kernel k with the parameters that params points at, each
// read as the kernel's C type (the low bytes of the caller's slot).
template <typename... A, size_t... I>
static void invoke(void (*k)(A...), void** params,
                   std::index_sequence<I...>) {
  k(*static_cast<std::remove_cv_t<A>*>(params[I])...);
}

template <typename... A>
static void invoke(void (*k)(A...), void** params) {
  invoke(k, params, std::index_sequence_for<A...>{});
}

struct Kernel {
  const char* name;
  void (*body)(void**);
  bool barriers;  // uses sync_threads or warp operations
};

#define K(name, barriers) \
  { #name, [](void** p) { invoke(name, p); }, barriers }

static const Kernel kernels[] = {
    K(fill, false),           K(scale, false),
    K(axpy, false),           K(mul, false),
    K(relu, false),           K(relu_backward, false),
    K(sgd_step, false),       K(gemm_nn, true),
    K(gemm_nt, true),         K(gemm_tn, true),
    K(gemm_tt, true),         K(add_row_vector, false),
    K(sum_rows, true),        K(row_dot, true),
    K(gather_rows, false),    K(scatter_add_rows, false),
    K(softmax_xent, true),    K(cosine_topk, true),
};

static void fiber_main() {
  L.body(L.params);
  L.threads[L.tid].state = kDone;
  swapcontext(&L.threads[L.tid].ctx, &L.scheduler);
}

// release lets waiting threads go on where the barrier rules allow, and
// reports whether it let any go.
static bool release() {
  bool any = false;
  for (int w = 0; w * 32 < L.nthreads; w++) {
    int waiting = 0;
    for (int t = w * 32; t < w * 32 + 32 && t < L.nthreads; t++) {
      waiting += L.threads[t].state == kAtWarpBarrier;
    }
    if (waiting == 32) {
      for (int t = w * 32; t < w * 32 + 32; t++) L.threads[t].state = kRunnable;
      any = true;
    }
  }
  if (any) return true;

  int live = 0, waiting = 0;
  for (int t = 0; t < L.nthreads; t++) {
    live += L.threads[t].state != kDone;
    waiting += L.threads[t].state == kAtBlockBarrier;
  }
  if (waiting == 0 || waiting != live) return false;
  for (int t = 0; t < L.nthreads; t++) {
    if (L.threads[t].state == kAtBlockBarrier) L.threads[t].state = kRunnable;
  }
  return true;
}

// run_block_fibers runs the threads of the current block as fibers until
// all end; false when they deadlock at barriers.
static bool run_block_fibers() {
  for (int t = 0; t < L.nthreads; t++) {
    Fiber& f = L.threads[t];
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.data();
    f.ctx.uc_stack.ss_size = f.stack.size();
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_main, 0);
    f.state = kRunnable;
  }
  for (;;) {
    bool ran = false;
    for (int t = 0; t < L.nthreads; t++) {
      if (L.threads[t].state != kRunnable) continue;
      L.tid = t;
      swapcontext(&L.scheduler, &L.threads[t].ctx);
      ran = true;
    }
    bool done = true;
    for (int t = 0; t < L.nthreads; t++) {
      done = done && L.threads[t].state == kDone;
    }
    if (done) return true;
    if (!release() && !ran) return false;
  }
}

// run_block runs the threads of the current block.
static bool run_block() {
  if (L.fibers) return run_block_fibers();
  for (int t = 0; t < L.nthreads; t++) {
    L.tid = t;
    L.body(L.params);
  }
  return true;
}

}  // namespace emu

// mock_emulate runs the named kernel over the grid and block of dims
// (grid x, y, z, block x, y, z, shared bytes) with the parameters that
// params points at. It returns 0, 500 (CUDA_ERROR_NOT_FOUND) for an
// unknown kernel, or 719 (CUDA_ERROR_LAUNCH_FAILED) when the threads of a
// block deadlock at barriers or the launch is outside what it emulates.
extern "C" int mock_emulate(const char* name, const unsigned* dims,
                            void** params) {
  using namespace emu;
  const Kernel* k = nullptr;
  for (const Kernel& e : kernels) {
    if (strcmp(e.name, name) == 0) k = &e;
  }
  if (k == nullptr) return 500;
  if (dims[2] != 1 || dims[5] != 1) return 719;  // no z dimension here

  L.grid[0] = dims[0], L.grid[1] = dims[1];
  L.block[0] = dims[3], L.block[1] = dims[4];
  L.nthreads = dims[3] * dims[4];
  L.fibers = k->barriers;
  L.body = k->body;
  L.params = params;
  if (L.fibers && L.nthreads % 32 != 0) return 719;
  if (L.fibers && (int)L.threads.size() < L.nthreads) {
    L.threads.resize(L.nthreads);
    for (Fiber& f : L.threads) f.stack.resize(kStack);
  }

  for (L.by = 0; L.by < L.grid[1]; L.by++) {
    for (L.bx = 0; L.bx < L.grid[0]; L.bx++) {
      if (!run_block()) {
        fprintf(stderr, "emulate: %s: block (%u, %u) deadlocked at a "
                "barrier\n", name, L.bx, L.by);
        return 719;
      }
    }
  }
  return 0;
}
