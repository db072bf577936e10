// elementwise.cu holds the operations that treat a buffer as a flat vector
// of n float32 values: Fill, Scale, Axpy, Mul, ReLU, ReLUBackward and
// SGDStep of device.Ops.
//
// Mapping: one thread per element in a grid-stride loop. The host launches
// blocks of 256 threads and at most as many blocks as cover n once (capped,
// see device/cuda.go); each thread starts at its global index and steps by
// the number of threads in the grid, so any grid size covers any n and
// consecutive threads touch consecutive addresses (coalesced). Lengths and
// indices are 64-bit: a buffer may hold more than 2³¹ values.
//
// The buffers may be views at any float offset, so the kernels load single
// floats rather than float4 vectors, whose 16-byte alignment a view does
// not promise.

#include "prelude.cuh"

// fill sets x[i] = v for i < n.
KERNEL void fill(float* x, i64 n, float v) {
  for (i64 i = global_x(); i < n; i += global_stride_x()) x[i] = v;
}

// scale sets x[i] = α·x[i] for i < n.
KERNEL void scale(float* x, i64 n, float alpha) {
  for (i64 i = global_x(); i < n; i += global_stride_x()) x[i] *= alpha;
}

// axpy sets y[i] = α·x[i] + y[i] for i < n.
KERNEL void axpy(float* y, const float* x, i64 n, float alpha) {
  for (i64 i = global_x(); i < n; i += global_stride_x()) {
    y[i] = __builtin_fmaf(alpha, x[i], y[i]);
  }
}

// mul sets dst[i] = a[i]·b[i] for i < n.
KERNEL void mul(float* dst, const float* a, const float* b, i64 n) {
  for (i64 i = global_x(); i < n; i += global_stride_x()) {
    dst[i] = a[i] * b[i];
  }
}

// relu sets dst[i] = max(x[i], 0) for i < n. A NaN stays NaN, as with
// Go's max, where fmaxf would give 0.
KERNEL void relu(float* dst, const float* x, i64 n) {
  for (i64 i = global_x(); i < n; i += global_stride_x()) {
    float v = x[i];
    dst[i] = (v > 0.0f || v != v) ? v : 0.0f;
  }
}

// relu_backward sets dst[i] = g[i] where x[i] > 0 and 0 elsewhere.
KERNEL void relu_backward(float* dst, const float* g, const float* x,
                          i64 n) {
  for (i64 i = global_x(); i < n; i += global_stride_x()) {
    dst[i] = x[i] > 0.0f ? g[i] : 0.0f;
  }
}

// sgd_step makes one step of SGD with momentum μ and weight decay λ:
//
//	v = μ·v + g + λ·w
//	w = w − η·v
KERNEL void sgd_step(float* w, const float* g, float* v, i64 n, float eta,
                     float mu, float lambda) {
  for (i64 i = global_x(); i < n; i += global_stride_x()) {
    float wi = w[i];
    float vi = mu * v[i] + g[i] + lambda * wi;
    v[i] = vi;
    w[i] = wi - eta * vi;
  }
}
