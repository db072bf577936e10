// mockcuda.c is a stand-in for libcuda.so.1 that optraj's tests build with
// `gcc -shared -fPIC` and load through OPTRAJ_LIBCUDA. It is NOT a GPU and
// runs no kernel: it lets the tests check what the Go binding hands the
// driver, on machines that have no GPU.
//
//   - "Device" memory is host memory from malloc, filled with 0xff bytes
//     (NaNs as float32) so that a test sees whether it was cleared. Copies
//     and memsets really copy, and fail with CUDA_ERROR_INVALID_VALUE when
//     a range is not inside one live allocation.
//   - cuModuleLoadData keeps the PTX text; cuModuleGetFunction finds the
//     kernel's .entry in it and reads the sizes of its parameters, so a
//     launch is checked against the kernel's real signature.
//   - cuFuncGetParamInfo answers from those sizes.
//   - cuLaunchKernel checks the grid and block limits of a real GPU and
//     records the kernel, dimensions and the bytes of every parameter.
//   - Context-bound calls fail with CUDA_ERROR_INVALID_CONTEXT unless a
//     context is current on the calling thread, as with the real driver.
//   - mock_fail makes a named call fail once with a given code, and
//     mock_set_mem_limit makes allocations run out of memory.
//
//   - Linked with kernels/testdata/emulate.cc, which defines mock_emulate,
//     cuLaunchKernel also runs the kernel on the CPU over the mock's
//     memory (see there); alone, the mock runs nothing.
//
// The mock_* functions at the end are for the tests. The mock is not
// thread-safe beyond what one Go context thread and one test need.

#define _POSIX_C_SOURCE 200809L  // strdup

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_NO_DEVICE = 100,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_INVALID_CONTEXT = 201,
  CUDA_ERROR_INVALID_HANDLE = 400,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_LAUNCH_FAILED = 719,
};

static const struct {
  int code;
  const char *name, *msg;
} errors[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {35, "CUDA_ERROR_INSUFFICIENT_DRIVER",
     "CUDA driver version is insufficient for CUDA runtime version"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
};

#define MAX_DEVICES 4
#define MAX_STACK 8
#define MAX_PARAMS 32
#define MAX_NAME 64

struct alloc {
  unsigned char* p;
  size_t n;
  struct alloc* next;
};

struct context {
  int dev, refs;
};

struct module {
  char* ptx;
};

struct function {
  char name[MAX_NAME];
  int nparams;
  int sizes[MAX_PARAMS];
};

struct launch {
  char name[MAX_NAME];
  unsigned dims[7];  // grid x, y, z, block x, y, z, shared bytes
  int nparams;
  int sizes[MAX_PARAMS];
  unsigned long long params[MAX_PARAMS];
};

struct counter {
  char name[MAX_NAME];
  int n;
};

static int initialized;
static int device_count = 1;
static int cc_major = 8, cc_minor = 0;
static unsigned long long mem_limit = 1ull << 30;
static unsigned long long mem_used;
static struct alloc* allocs;
static int live_allocs, live_streams;
static struct context contexts[MAX_DEVICES];
static _Thread_local struct context* ctx_stack[MAX_STACK];
static _Thread_local int ctx_depth;

static char fail_name[MAX_NAME];
static int fail_code, fail_after;

static struct launch* launches;
static int nlaunches, caplaunches;

static struct counter counters[64];

// enter counts a call to name and returns the code mock_fail set for it,
// or CUDA_SUCCESS.
static CUresult enter(const char* name) {
  for (int i = 0; i < 64; i++) {
    if (counters[i].name[0] == 0) {
      snprintf(counters[i].name, MAX_NAME, "%s", name);
    }
    if (strcmp(counters[i].name, name) == 0) {
      counters[i].n++;
      break;
    }
  }
  if (fail_name[0] == 0 || strcmp(fail_name, name) != 0) return CUDA_SUCCESS;
  if (fail_after > 0) {
    fail_after--;
    return CUDA_SUCCESS;
  }
  fail_name[0] = 0;
  return fail_code;
}

#define ENTER(name)                      \
  do {                                   \
    CUresult r_ = enter(name);           \
    if (r_ != CUDA_SUCCESS) return r_;   \
    if (!initialized && strcmp(name, "cuInit") != 0) \
      return CUDA_ERROR_NOT_INITIALIZED; \
  } while (0)

#define NEED_CTX()                                             \
  do {                                                         \
    if (ctx_depth == 0) return CUDA_ERROR_INVALID_CONTEXT;     \
  } while (0)

// find returns the live allocation that holds [p, p+n), or NULL.
static struct alloc* find(CUdeviceptr p, size_t n) {
  for (struct alloc* a = allocs; a != NULL; a = a->next) {
    uintptr_t lo = (uintptr_t)a->p;
    if (p >= lo && p <= lo + a->n && n <= lo + a->n - p) return a;
  }
  return NULL;
}

CUresult cuInit(unsigned flags) {
  ENTER("cuInit");
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  if (device_count == 0) return CUDA_ERROR_NO_DEVICE;
  initialized = 1;
  return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int* v) {
  ENTER("cuDriverGetVersion");
  *v = 12040;
  return CUDA_SUCCESS;
}

static CUresult describe(CUresult r, const char** s, int msg) {
  for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
    if (errors[i].code == r) {
      *s = msg ? errors[i].msg : errors[i].name;
      return CUDA_SUCCESS;
    }
  }
  *s = NULL;
  return CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorName(CUresult r, const char** s) {
  return describe(r, s, 0);
}

CUresult cuGetErrorString(CUresult r, const char** s) {
  return describe(r, s, 1);
}

CUresult cuDeviceGetCount(int* n) {
  ENTER("cuDeviceGetCount");
  *n = device_count;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  ENTER("cuDeviceGet");
  if (ordinal < 0 || ordinal >= device_count) return CUDA_ERROR_INVALID_DEVICE;
  *d = ordinal;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int n, CUdevice d) {
  ENTER("cuDeviceGetName");
  if (d < 0 || d >= device_count) return CUDA_ERROR_INVALID_DEVICE;
  snprintf(name, n, "mock CUDA device %d (host memory, not a GPU)", d);
  return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice d) {
  ENTER("cuDeviceTotalMem_v2");
  if (d < 0 || d >= device_count) return CUDA_ERROR_INVALID_DEVICE;
  *bytes = mem_limit;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int* v, int attr, CUdevice d) {
  ENTER("cuDeviceGetAttribute");
  if (d < 0 || d >= device_count) return CUDA_ERROR_INVALID_DEVICE;
  switch (attr) {
    case 6: *v = 65535; break;   // MAX_GRID_DIM_Y
    case 16: *v = 4; break;      // MULTIPROCESSOR_COUNT
    case 75: *v = cc_major; break;  // COMPUTE_CAPABILITY_MAJOR
    case 76: *v = cc_minor; break;  // COMPUTE_CAPABILITY_MINOR
    default: return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(struct context** c, CUdevice d) {
  ENTER("cuDevicePrimaryCtxRetain");
  if (d < 0 || d >= device_count) return CUDA_ERROR_INVALID_DEVICE;
  contexts[d].dev = d;
  contexts[d].refs++;
  *c = &contexts[d];
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
  ENTER("cuDevicePrimaryCtxRelease_v2");
  if (d < 0 || d >= device_count) return CUDA_ERROR_INVALID_DEVICE;
  if (contexts[d].refs == 0) return CUDA_ERROR_INVALID_CONTEXT;
  contexts[d].refs--;
  return CUDA_SUCCESS;
}

CUresult cuCtxPushCurrent_v2(struct context* c) {
  ENTER("cuCtxPushCurrent_v2");
  if (c == NULL || c->refs == 0) return CUDA_ERROR_INVALID_CONTEXT;
  if (ctx_depth == MAX_STACK) return CUDA_ERROR_INVALID_VALUE;
  ctx_stack[ctx_depth++] = c;
  return CUDA_SUCCESS;
}

CUresult cuCtxPopCurrent_v2(struct context** c) {
  ENTER("cuCtxPopCurrent_v2");
  NEED_CTX();
  struct context* top = ctx_stack[--ctx_depth];
  if (c != NULL) *c = top;
  return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize(void) {
  ENTER("cuCtxSynchronize");
  NEED_CTX();
  return CUDA_SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t n) {
  ENTER("cuMemAlloc_v2");
  NEED_CTX();
  if (n == 0) return CUDA_ERROR_INVALID_VALUE;
  if (n > mem_limit - mem_used) return CUDA_ERROR_OUT_OF_MEMORY;
  struct alloc* a = malloc(sizeof *a);
  a->p = malloc(n);
  if (a->p == NULL) {
    free(a);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  memset(a->p, 0xff, n);
  a->n = n;
  a->next = allocs;
  allocs = a;
  mem_used += n;
  live_allocs++;
  *p = (CUdeviceptr)(uintptr_t)a->p;
  return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
  ENTER("cuMemFree_v2");
  NEED_CTX();
  for (struct alloc** a = &allocs; *a != NULL; a = &(*a)->next) {
    if ((CUdeviceptr)(uintptr_t)(*a)->p == p) {
      struct alloc* dead = *a;
      *a = dead->next;
      mem_used -= dead->n;
      live_allocs--;
      free(dead->p);
      free(dead);
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemGetInfo_v2(size_t* freeb, size_t* total) {
  ENTER("cuMemGetInfo_v2");
  NEED_CTX();
  *freeb = mem_limit - mem_used;
  *total = mem_limit;
  return CUDA_SUCCESS;
}

CUresult cuMemsetD32_v2(CUdeviceptr p, unsigned v, size_t n) {
  ENTER("cuMemsetD32_v2");
  NEED_CTX();
  if (find(p, 4 * n) == NULL || p % 4 != 0) return CUDA_ERROR_INVALID_VALUE;
  unsigned* w = (unsigned*)(uintptr_t)p;
  for (size_t i = 0; i < n; i++) w[i] = v;
  return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) {
  ENTER("cuMemcpyHtoD_v2");
  NEED_CTX();
  if (find(dst, n) == NULL || src == NULL) return CUDA_ERROR_INVALID_VALUE;
  memcpy((void*)(uintptr_t)dst, src, n);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) {
  ENTER("cuMemcpyDtoH_v2");
  NEED_CTX();
  if (find(src, n) == NULL || dst == NULL) return CUDA_ERROR_INVALID_VALUE;
  memcpy(dst, (void*)(uintptr_t)src, n);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  ENTER("cuMemcpyDtoD_v2");
  NEED_CTX();
  if (find(dst, n) == NULL || find(src, n) == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  memmove((void*)(uintptr_t)dst, (void*)(uintptr_t)src, n);
  return CUDA_SUCCESS;
}

CUresult cuModuleLoadData(struct module** m, const void* image) {
  ENTER("cuModuleLoadData");
  NEED_CTX();
  const char* text = image;
  if (text == NULL || strstr(text, ".entry") == NULL) {
    return CUDA_ERROR_INVALID_IMAGE;
  }
  *m = malloc(sizeof **m);
  (*m)->ptx = strdup(text);
  return CUDA_SUCCESS;
}

CUresult cuModuleUnload(struct module* m) {
  ENTER("cuModuleUnload");
  NEED_CTX();
  if (m == NULL) return CUDA_ERROR_INVALID_HANDLE;
  free(m->ptx);
  free(m);
  return CUDA_SUCCESS;
}

// param_size returns the size in bytes of a PTX parameter type such as
// ".u64" or ".f32", or 0 for a type the mock does not know.
static int param_size(const char* type) {
  if (strncmp(type, ".align", 6) == 0) return 0;  // arrays and structs
  int bits = atoi(type + 2);
  return bits == 8 || bits == 16 || bits == 32 || bits == 64 ? bits / 8 : 0;
}

// parse_params reads the parameter list that starts after the '(' at p.
static int parse_params(const char* p, struct function* f) {
  const char* end = strchr(p, ')');
  if (end == NULL) return CUDA_ERROR_INVALID_IMAGE;
  f->nparams = 0;
  for (const char* q = strstr(p, ".param"); q != NULL && q < end;
       q = strstr(q + 6, ".param")) {
    if (f->nparams == MAX_PARAMS) return CUDA_ERROR_INVALID_IMAGE;
    int size = param_size(q + 7);
    if (size == 0) return CUDA_ERROR_INVALID_IMAGE;
    f->sizes[f->nparams++] = size;
  }
  return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(struct function** out, struct module* m,
                             const char* name) {
  ENTER("cuModuleGetFunction");
  NEED_CTX();
  if (m == NULL || name == NULL) return CUDA_ERROR_INVALID_HANDLE;
  size_t n = strlen(name);
  if (n >= MAX_NAME) return CUDA_ERROR_NOT_FOUND;
  for (const char* p = strstr(m->ptx, ".entry "); p != NULL;
       p = strstr(p + 7, ".entry ")) {
    const char* s = p + 7;
    if (strncmp(s, name, n) != 0 || s[n] != '(') continue;
    struct function* f = calloc(1, sizeof *f);
    memcpy(f->name, name, n);
    CUresult r = parse_params(s + n + 1, f);
    if (r != CUDA_SUCCESS) {
      free(f);
      return r;
    }
    *out = f;  // leaked: functions live as long as the process
    return CUDA_SUCCESS;
  }
  return CUDA_ERROR_NOT_FOUND;
}

CUresult cuFuncGetParamInfo(struct function* f, size_t i, size_t* offset,
                            size_t* size) {
  ENTER("cuFuncGetParamInfo");
  if (f == NULL) return CUDA_ERROR_INVALID_HANDLE;
  if (i >= (size_t)f->nparams) return CUDA_ERROR_INVALID_VALUE;
  size_t off = 0;
  for (size_t j = 0; j <= i; j++) {
    size_t n = f->sizes[j];
    off = (off + n - 1) / n * n;  // each parameter at its natural alignment
    if (j < i) off += n;
  }
  *offset = off;
  *size = f->sizes[i];
  return CUDA_SUCCESS;
}

CUresult cuStreamCreate(void** s, unsigned flags) {
  ENTER("cuStreamCreate");
  NEED_CTX();
  if (flags > 1) return CUDA_ERROR_INVALID_VALUE;
  *s = malloc(16);
  live_streams++;
  return CUDA_SUCCESS;
}

CUresult cuStreamDestroy_v2(void* s) {
  ENTER("cuStreamDestroy_v2");
  NEED_CTX();
  if (s == NULL) return CUDA_ERROR_INVALID_HANDLE;
  free(s);
  live_streams--;
  return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(void* s) {
  ENTER("cuStreamSynchronize");
  NEED_CTX();
  (void)s;
  return CUDA_SUCCESS;
}

// dims_ok checks the launch limits of compute capability 8.x.
static int dims_ok(const unsigned* d) {
  if (d[0] == 0 || d[1] == 0 || d[2] == 0) return 0;
  if (d[1] > 65535 || d[2] > 65535) return 0;
  if (d[3] == 0 || d[4] == 0 || d[5] == 0) return 0;
  if (d[3] > 1024 || d[4] > 1024 || d[5] > 64) return 0;
  if ((unsigned long long)d[3] * d[4] * d[5] > 1024) return 0;
  return d[6] <= 48 * 1024;
}

// mock_emulate is defined when kernels/testdata/emulate.cc is linked in.
extern int mock_emulate(const char* name, const unsigned* dims,
                        void** params) __attribute__((weak));

CUresult cuLaunchKernel(struct function* f, unsigned gx, unsigned gy,
                        unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void* stream, void** params,
                        void** extra) {
  ENTER("cuLaunchKernel");
  NEED_CTX();
  (void)stream;
  unsigned dims[7] = {gx, gy, gz, bx, by, bz, shared};
  if (f == NULL) return CUDA_ERROR_INVALID_HANDLE;
  if (!dims_ok(dims) || extra != NULL) return CUDA_ERROR_INVALID_VALUE;
  if (f->nparams > 0 && params == NULL) return CUDA_ERROR_INVALID_VALUE;

  if (nlaunches == caplaunches) {
    caplaunches = caplaunches ? 2 * caplaunches : 64;
    launches = realloc(launches, caplaunches * sizeof *launches);
  }
  struct launch* l = &launches[nlaunches++];
  memset(l, 0, sizeof *l);
  memcpy(l->name, f->name, MAX_NAME);
  memcpy(l->dims, dims, sizeof dims);
  l->nparams = f->nparams;
  for (int i = 0; i < f->nparams; i++) {
    l->sizes[i] = f->sizes[i];
    memcpy(&l->params[i], params[i], f->sizes[i]);
  }
  if (mock_emulate != NULL) return mock_emulate(f->name, dims, params);
  return CUDA_SUCCESS;
}

// The functions below are for the tests.

// mock_reset forgets launches, counters and a pending failure, and sets one
// device of compute capability 8.0 with 1 GiB of memory. Live allocations
// stay.
void mock_reset(void) {
  nlaunches = 0;
  memset(counters, 0, sizeof counters);
  fail_name[0] = 0;
  device_count = 1;
  cc_major = 8, cc_minor = 0;
  mem_limit = 1ull << 30;
}

// mock_fail makes the after+1-th next call of the named function return
// code, once.
void mock_fail(const char* name, int code, int after) {
  snprintf(fail_name, MAX_NAME, "%s", name);
  fail_code = code;
  fail_after = after;
}

void mock_set_device_count(int n) { device_count = n; }

void mock_set_compute_capability(int major, int minor) {
  cc_major = major;
  cc_minor = minor;
}

void mock_set_mem_limit(unsigned long long n) { mem_limit = n; }
int mock_live_allocs(void) { return live_allocs; }
int mock_live_streams(void) { return live_streams; }
int mock_ctx_refs(int dev) { return contexts[dev].refs; }
int mock_ctx_depth(void) { return ctx_depth; }
int mock_launch_count(void) { return nlaunches; }

int mock_call_count(const char* name) {
  for (int i = 0; i < 64 && counters[i].name[0] != 0; i++) {
    if (strcmp(counters[i].name, name) == 0) return counters[i].n;
  }
  return 0;
}

const char* mock_launch_name(int i) { return launches[i].name; }
unsigned mock_launch_dim(int i, int which) { return launches[i].dims[which]; }
int mock_launch_nparams(int i) { return launches[i].nparams; }
int mock_launch_param_size(int i, int p) { return launches[i].sizes[p]; }

unsigned long long mock_launch_param(int i, int p) {
  return launches[i].params[p];
}

// mock_peek copies n bytes of "device" memory at p to dst; it returns
// CUDA_ERROR_INVALID_VALUE when [p, p+n) is not inside an allocation.
int mock_peek(void* dst, CUdeviceptr p, unsigned long long n) {
  if (find(p, n) == NULL) return CUDA_ERROR_INVALID_VALUE;
  memcpy(dst, (void*)(uintptr_t)p, n);
  return CUDA_SUCCESS;
}
