// The integer model on an NVIDIA GPU (native/cuda.cu's kernels), for the same Node-API calls as the CPU engine.
// The driver (libcuda.so.1) and NVRTC (libnvrtc.so) are opened at run time, so the addon builds and runs on any
// machine with no CUDA toolkit; only `cudaModel` needs them, and it says in one line what is missing.
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda.h"
#include "model.h"
#include "napi.h"

// ---- the few driver and NVRTC calls used, declared as their documentation gives them ----

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext, *CUmodule, *CUfunction, *CUstream, *CUevent, *nvrtcProgram;
typedef unsigned long long CUdeviceptr;

enum { COMPUTE_MAJOR = 75, COMPUTE_MINOR = 76 };  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_*
enum { STREAM_NON_BLOCKING = 1 };                  // CU_STREAM_NON_BLOCKING
enum { SCHED_YIELD = 2 };                          // CU_CTX_SCHED_YIELD

static struct {
  CUresult (*Init)(unsigned);
  CUresult (*DeviceGetCount)(int *);
  CUresult (*DeviceGet)(CUdevice *, int);
  CUresult (*DeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*DeviceGetName)(char *, int, CUdevice);
  CUresult (*DevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*CtxSetCurrent)(CUcontext);
  CUresult (*ModuleLoadData)(CUmodule *, const void *);
  CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*MemAlloc)(CUdeviceptr *, size_t);
  CUresult (*MemFree)(CUdeviceptr);
  CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*MemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **);
  CUresult (*GetErrorString)(CUresult, const char **);
  CUresult (*CtxSynchronize)(void);
  CUresult (*StreamCreate)(CUstream *, unsigned);
  CUresult (*StreamDestroy)(CUstream);
  CUresult (*StreamSynchronize)(CUstream);
  CUresult (*MemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*MemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*MemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*EventCreate)(CUevent *, unsigned);
  CUresult (*EventRecord)(CUevent, CUstream);
  CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*EventDestroy)(CUevent);
  CUresult (*MemGetInfo)(size_t *, size_t *);
} cu;

static struct {
  int (*CreateProgram)(nvrtcProgram *, const char *, const char *, int, const char *const *, const char *const *);
  int (*CompileProgram)(nvrtcProgram, int, const char *const *);
  int (*GetProgramLogSize)(nvrtcProgram, size_t *);
  int (*GetProgramLog)(nvrtcProgram, char *);
  int (*GetCUBINSize)(nvrtcProgram, size_t *);
  int (*GetCUBIN)(nvrtcProgram, char *);
  int (*GetPTXSize)(nvrtcProgram, size_t *);
  int (*GetPTX)(nvrtcProgram, char *);
  int (*DestroyProgram)(nvrtcProgram *);
  const char *(*GetErrorString)(int);
} rtc;

// Each thread's last error: caches of different threads (llmc's frame workers) run at once.
static __thread char message[768];

/** `what` failed with the driver's code: a message naming both. */
static const char *driver_error(CUresult status, const char *what) {
  const char *said = NULL;
  if (cu.GetErrorString) cu.GetErrorString(status, &said);
  snprintf(message, sizeof message, "CUDA: %s failed: %s", what, said ? said : "unknown error");
  return message;
}
#define TRY(call)                                                        \
  do {                                                                   \
    CUresult status_ = (call);                                           \
    if (status_ != 0) return driver_error(status_, #call);               \
  } while (0)

/** Each symbol of `names` from `library` into `slots`, in order; false if one is missing. */
static bool bind(void *library, const char *const *names, void **slots, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (!(slots[i] = dlsym(library, names[i]))) return false;
  return true;
}

/** The driver, opened and started once; NULL, or why not. */
static const char *open_driver(void) {
  static bool tried;
  static const char *outcome;
  if (tried) return outcome;
  tried = true;
  static const char *names[] = {"cuInit", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetAttribute", "cuDeviceGetName", "cuDevicePrimaryCtxRetain", "cuCtxSetCurrent", "cuModuleLoadData", "cuModuleGetFunction", "cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyHtoD_v2", "cuMemsetD8_v2", "cuLaunchKernel", "cuGetErrorString",
                                "cuCtxSynchronize", "cuStreamCreate", "cuStreamDestroy_v2", "cuStreamSynchronize", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoDAsync_v2",
                                "cuEventCreate", "cuEventRecord", "cuEventElapsedTime", "cuEventDestroy_v2", "cuMemGetInfo_v2"};
  void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  int count = 0;
  if (!library) outcome = "no NVIDIA driver here (libcuda.so.1 did not load)";
  else if (!bind(library, names, (void **)&cu, sizeof names / sizeof *names)) outcome = "the NVIDIA driver's libcuda.so.1 lacks a call this engine needs";
  else if (cu.Init(0) != 0) outcome = "the NVIDIA driver did not start (cuInit failed)";
  else if (cu.DeviceGetCount(&count) != 0 || count == 0) outcome = "no NVIDIA GPU here";
  else outcome = NULL;
  // A thread waiting on its GPU spins, yielding its core to any other thread that can run: llmc's frame workers wait
  // on every step, and while they wait a compression's trials (GpuFrames) need the cores. Blocking waits measured
  // 1-4% slower, the driver's default (a spin that never yields) 13% slower (BENCHMARKS.md, "Compressing on a GPU").
  CUresult (*set_flags)(CUdevice, unsigned) = outcome ? NULL : (CUresult(*)(CUdevice, unsigned))dlsym(library, "cuDevicePrimaryCtxSetFlags_v2");
  for (int i = 0; set_flags && i < count; i++) {
    CUdevice device;
    if (!cu.DeviceGet(&device, i)) set_flags(device, SCHED_YIELD);
  }
  return outcome;
}

/** NVRTC, opened once: $LLMC_NVRTC, else the newest soname on the library path; NULL, or why not. */
static const char *open_nvrtc(void) {
  static bool tried;
  static const char *outcome;
  if (tried) return outcome;
  tried = true;
  static const char *names[] = {"nvrtcCreateProgram", "nvrtcCompileProgram", "nvrtcGetProgramLogSize", "nvrtcGetProgramLog", "nvrtcGetCUBINSize", "nvrtcGetCUBIN", "nvrtcGetPTXSize", "nvrtcGetPTX", "nvrtcDestroyProgram", "nvrtcGetErrorString"};
  const char *asked = getenv("LLMC_NVRTC"), *sonames[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"};
  void *library = asked && *asked ? dlopen(asked, RTLD_NOW | RTLD_LOCAL) : NULL;
  for (size_t i = 0; !library && !(asked && *asked) && i < sizeof sonames / sizeof *sonames; i++) library = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
  if (!library) outcome = "NVRTC was not found (libnvrtc.so.13 or .12): put the folder that holds it on LD_LIBRARY_PATH, or its path in LLMC_NVRTC";
  else if (!bind(library, names, (void **)&rtc, sizeof names / sizeof *names)) outcome = "this NVRTC lacks a call the engine needs (it needs CUDA 11.2 or later)";
  else outcome = NULL;
  return outcome;
}

/**
 * The kernels (and exact.h beside them) compiled for compute capability `arch` (e.g. 90) into *code (malloc'd): a
 * cubin, or with `ptx` PTX for that capability, which the driver compiles for whichever GPU loads it; NULL, or why not.
 */
static const char *compile(const char *source, const char *header, int arch, bool ptx, char **code, size_t *size) {
  const char *why = open_nvrtc();
  if (why) return why;
  char target[40];
  snprintf(target, sizeof target, "--gpu-architecture=%s_%d", ptx ? "compute" : "sm", arch);
  const char *options[] = {target, "--std=c++17", "--fmad=false"};
  nvrtcProgram program;
  const char *include = "exact.h";
  int status = rtc.CreateProgram(&program, source, "cuda.cu", 1, &header, &include);
  if (status != 0) return snprintf(message, sizeof message, "NVRTC: %s", rtc.GetErrorString(status)), message;
  status = rtc.CompileProgram(program, 3, options);
  if (status != 0) {
    size_t length = 0;
    rtc.GetProgramLogSize(program, &length);
    char *log = calloc(length + 1, 1);
    rtc.GetProgramLog(program, log);
    char *first = strstr(log, "error");
    snprintf(message, sizeof message, "NVRTC could not compile the kernels for sm_%d: %.600s", arch, first ? first : log);
    for (char *c = message; *c; c++) *c = *c == '\n' ? ' ' : *c;
    free(log);
    rtc.DestroyProgram(&program);
    return message;
  }
  (ptx ? rtc.GetPTXSize : rtc.GetCUBINSize)(program, size);
  *code = malloc(*size);
  (ptx ? rtc.GetPTX : rtc.GetCUBIN)(program, *code);
  rtc.DestroyProgram(&program);
  return NULL;
}

/**
 * The kernels for `arch` (as PTX with `ptx`), compiled once a process (llmc's frame workers each load the model; they
 * share this): the code, or NULL and *why. Callers hold `calls`.
 */
static const char *compiled(const char *source, const char *header, int arch, bool ptx, const char **why) {
  static struct { int arch; bool ptx; char *source, *header, *code; } last;
  if (last.code && last.arch == arch && last.ptx == ptx && !strcmp(last.source, source) && !strcmp(last.header, header)) return last.code;
  char *code = NULL;
  size_t size = 0;
  if ((*why = compile(source, header, arch, ptx, &code, &size))) return NULL;
  free(last.source), free(last.header), free(last.code);
  last.arch = arch, last.ptx = ptx, last.source = strdup(source), last.header = strdup(header), last.code = code;
  return code;
}

// ---- the model on the GPU ----

typedef struct {
  CUdeviceptr w, mult;  // w: [N][K], each column's 7-bit weights contiguous
  int K, N, s1, s2;
} GpuLinear;

typedef struct {
  CUdeviceptr gain1, gain2;
  GpuLinear qkv, o, gate_up, down;
} GpuLayer;

#define KERNELS X(embed) X(normq) X(quantize_rows) X(linear) X(head) X(store) X(attend) X(hidden) X(weigh) X(code) X(bias_learn)
enum {
#define X(k) KERNEL_##k,
  KERNELS
#undef X
  KERNEL_COUNT
};
static const char *kernel_names[] = {
#define X(k) #k,
    KERNELS
#undef X
};
#define ENTRIES 32                // a previous token's entries at most (mixer version 5)
#define ASK (14 + 2 * ENTRIES)     // native/cuda.cu's question a prediction
#define ANSWER (7 + ENTRIES)       // and its answer
#define ATTEND_GROUPS 4     // native/cuda.cu's MAX_GROUPS: query heads a key head
#define ATTEND_THREADS 128  // attend's block

typedef struct {
  const Model *md;  // the CPU engine's model, which lives as long as the process
  CUcontext context;
  char name[128];
  int arch;
#define X(k) CUfunction k;
  KERNELS
#undef X
  CUdeviceptr embedding, rsqrt, attn_exp, head_exp, sigmoid, cos, sin, gain_final;
  CUdeviceptr stretch, squash, multipliers;  // the mixer's tables (src/mixer.ts, src/bias.ts)
  GpuLinear head_linear;
  GpuLayer *layers;
} Gpu;

/**
 * With LLMC_CUDA_PROFILE set, a cache times each kernel it launches on the GPU (an event before and after it), and
 * sums those times by kernel once its stream has caught up: where a step's time goes (bench/gpusteps.ts --profile).
 * It also keeps each kernel's span, its start and end on one clock for every cache of the process (ms since
 * `epoch`), so that the kernels of workers side by side can be laid over each other: how busy the GPU is.
 */
typedef struct {
  CUevent *before, *after;
  int *kernel;  // which kernel each pair of marks timed
  int marked, room;
  double ms[KERNEL_COUNT];
  long long launches[KERNEL_COUNT];
  double *spans;  // (start, end, kernel) triples, until cudaSpans takes them
  size_t spans_n, spans_room;
} Profile;

/** The event every profiled cache's spans are measured from: recorded once, when the first of them is made. */
static CUevent epoch;

typedef struct {
  Gpu *gpu;
  Profile *profile;  // NULL unless LLMC_CUDA_PROFILE is set
  CUstream stream;  // a cache's own: the caches of other threads run beside it
  int rows, window, pitch, width, predicted;  // pitch: window rounded up to 64, width: dh to 64 (attend reads 64 at a time); predicted: the last extend's predictions
  CUdeviceptr keys, values;  // [layer][row][kv head][high or low byte]: keys [pitch][width], values [width][pitch] (native/cuda.cu)
  size_t room, predicted_room, floats_room;
  CUdeviceptr ids, x, q, phi, out, o;  // work, for `room` positions
  CUdeviceptr logits, weights, floats; // the head's, for `predicted_room` positions
  CUdeviceptr frequencies, asks, answers;  // the coder's, a row each
  CUdeviceptr biases, rates;  // mixer version 4's token biases, `bias_room` slots of V, and each slot's rate
  int bias_room;
} GpuCache;

/** A copy of `bytes` of host memory on the GPU. */
static const char *upload(CUdeviceptr *to, const void *from, size_t bytes) {
  TRY(cu.MemAlloc(to, bytes ? bytes : 1));
  TRY(cu.MemcpyHtoD(*to, from, bytes));
  return NULL;
}

/** A linear layer's weights column by column (undoing the CPU kernels' panels) and multipliers, on the GPU. */
static const char *upload_linear(GpuLinear *g, const Linear *lin) {
  int K = lin->K, N = lin->N, P = lin->packed;
  if (K % 16) return "the CUDA engine needs each layer's input width to be a multiple of 16 (its dot products read 16 bytes at once)";
  int8_t *columns = malloc((size_t)K * N);
  for (int j = 0; j < N; j++)
    for (int k = 0; k < K; k++) columns[(size_t)j * K + k] = P ? lin->w[(size_t)(j / P) * P * K + (size_t)(k / 4) * P * 4 + (j % P) * 4 + k % 4] : lin->w[(size_t)j * K + k];
  const char *why = upload(&g->w, columns, (size_t)K * N);
  free(columns);
  g->K = K, g->N = N, g->s1 = lin->s1, g->s2 = lin->s2;
  return why ? why : upload(&g->mult, lin->mult, sizeof(int64_t) * N);
}

/** The model on GPU `ordinal`: its kernels compiled, its weights and tables copied. */
static const char *make_gpu(Gpu *g, const Model *md, const char *source, const char *header, int ordinal, const int16_t *stretch, size_t stretches, const int32_t *squash, size_t squashes, const int32_t *multipliers, size_t n_multipliers) {
  const char *why = open_driver();
  if (why) return why;
  int count = 0, major = 0, minor = 0;
  cu.DeviceGetCount(&count);
  if (ordinal < 0 || ordinal >= count) return snprintf(message, sizeof message, "there is no GPU %d (this machine has %d)", ordinal, count), message;
  CUdevice device;
  TRY(cu.DeviceGet(&device, ordinal));
  TRY(cu.DeviceGetName(g->name, sizeof g->name, device));
  TRY(cu.DeviceGetAttribute(&major, COMPUTE_MAJOR, device));
  TRY(cu.DeviceGetAttribute(&minor, COMPUTE_MINOR, device));
  if (major < 6 || (major == 6 && minor < 1)) return snprintf(message, sizeof message, "%s (sm_%d%d) has no 8-bit dot product: the CUDA engine needs sm_61 or later", g->name, major, minor), message;
  g->arch = 10 * major + minor;
  // LLMC_CUDA_ARCH=N: the kernels of an older GPU (PTX for compute_N, which the driver makes this GPU's code), so that
  // the paths older GPUs take (the dot products by dp4a, attention without the tensor cores) run and are tested here
  const char *older = getenv("LLMC_CUDA_ARCH");
  int arch = older && *older ? atoi(older) : g->arch;
  if (arch < 61 || arch > g->arch) return snprintf(message, sizeof message, "LLMC_CUDA_ARCH must be a compute capability from 61 to this GPU's %d, got '%s'", g->arch, older), message;
  TRY(cu.DevicePrimaryCtxRetain(&g->context, device));
  TRY(cu.CtxSetCurrent(g->context));
  const char *code = compiled(source, header, arch, older && *older, &why);
  if (!code) return why;
  CUmodule module;
  TRY(cu.ModuleLoadData(&module, code));
#define X(k) TRY(cu.ModuleGetFunction(&g->k, module, #k));
  KERNELS
#undef X
  g->md = md;
  // `code` keeps a bit a token in shared memory (a row's pair entries), within the 48 KiB a block has by default
  if (md->V > 32 * 8 * 1024) return "the CUDA engine codes vocabularies of at most 262,144 tokens";
  if (md->H / md->Hk > ATTEND_GROUPS || md->dh % 8)
    return "the CUDA engine attends with up to 4 query heads a key head, and a head width of a multiple of 8";
  int32_t rsqrt_entries = 4096, half = md->dh / 2;
  if ((why = upload(&g->embedding, md->embedding, (size_t)md->V * md->D)) || (why = upload(&g->rsqrt, md->rsqrt, sizeof(int64_t) * rsqrt_entries)) ||
      (why = upload(&g->attn_exp, md->attn_exp, sizeof(int32_t) * md->n_attn_exp)) || (why = upload(&g->head_exp, md->head_exp, sizeof(int64_t) * md->n_head_exp)) ||
      (why = upload(&g->sigmoid, md->sigmoid, sizeof(int64_t) * md->n_sigmoid)) || (why = upload(&g->cos, md->cos, sizeof(int64_t) * md->positions * half)) ||
      (why = upload(&g->sin, md->sin, sizeof(int64_t) * md->positions * half)) || (why = upload(&g->gain_final, md->gain_final, sizeof(int64_t) * md->D)) ||
      (why = upload(&g->stretch, stretch, sizeof(int16_t) * stretches)) || (why = upload(&g->squash, squash, sizeof(int32_t) * squashes)) ||
      (why = upload(&g->multipliers, multipliers, sizeof(int32_t) * n_multipliers)) ||
      (why = upload_linear(&g->head_linear, &md->head)))
    return why;
  g->layers = calloc(md->L, sizeof(GpuLayer));
  for (int l = 0; l < md->L; l++) {
    const Layer *ly = &md->layers[l];
    GpuLayer *gl = &g->layers[l];
    if ((why = upload(&gl->gain1, ly->gain1, sizeof(int64_t) * md->D)) || (why = upload(&gl->gain2, ly->gain2, sizeof(int64_t) * md->D)) || (why = upload_linear(&gl->qkv, &ly->qkv)) ||
        (why = upload_linear(&gl->o, &ly->o)) || (why = upload_linear(&gl->gate_up, &ly->gate_up)) || (why = upload_linear(&gl->down, &ly->down)))
      return why;
  }
  return NULL;
}

static void release(GpuCache *c) {
  CUdeviceptr *buffers[] = {&c->keys, &c->values, &c->ids, &c->x, &c->q, &c->phi, &c->out, &c->o, &c->logits, &c->weights, &c->floats, &c->frequencies, &c->asks, &c->answers, &c->biases, &c->rates};
  cu.CtxSetCurrent(c->gpu->context);
  if (c->stream) cu.StreamSynchronize(c->stream), cu.StreamDestroy(c->stream);
  c->stream = NULL;
  for (size_t i = 0; i < sizeof buffers / sizeof *buffers; i++) {
    if (*buffers[i]) cu.MemFree(*buffers[i]);
    *buffers[i] = 0;
  }
  c->room = c->predicted_room = c->floats_room = c->bias_room = 0;
  Profile *p = c->profile;
  if (p) {
    for (int i = 0; i < p->room; i++) cu.EventDestroy(p->before[i]), cu.EventDestroy(p->after[i]);
    free(p->before), free(p->after), free(p->kernel), free(p->spans), free(p);
  }
  c->profile = NULL;
}

/** The event to record before kernel `k` (its pair after it is p->after[p->marked - 1] once this returns). */
static const char *mark(Profile *p, int k, CUstream stream) {
  if (p->marked == p->room) {
    int room = p->room ? 2 * p->room : 128;
    p->before = realloc(p->before, sizeof(CUevent) * room), p->after = realloc(p->after, sizeof(CUevent) * room), p->kernel = realloc(p->kernel, sizeof(int) * room);
    for (; p->room < room; p->room++) {
      TRY(cu.EventCreate(&p->before[p->room], 0));
      TRY(cu.EventCreate(&p->after[p->room], 0));
    }
  }
  p->kernel[p->marked] = k;
  TRY(cu.EventRecord(p->before[p->marked++], stream));
  return NULL;
}

/** The marked kernels' times added to their sums, and their spans kept: the stream must have caught up with them. */
static const char *settle(Profile *p) {
  for (int i = 0; p && i < p->marked; i++) {
    float ms = 0, start = 0, end = 0;
    TRY(cu.EventElapsedTime(&ms, p->before[i], p->after[i]));
    TRY(cu.EventElapsedTime(&start, epoch, p->before[i]));
    TRY(cu.EventElapsedTime(&end, epoch, p->after[i]));
    p->ms[p->kernel[i]] += ms, p->launches[p->kernel[i]]++;
    if (p->spans_n + 3 > p->spans_room) {
      p->spans_room = p->spans_room ? 2 * p->spans_room : 3 * 4096;
      p->spans = realloc(p->spans, sizeof(double) * p->spans_room);
    }
    p->spans[p->spans_n++] = start, p->spans[p->spans_n++] = end, p->spans[p->spans_n++] = p->kernel[i];
  }
  if (p) p->marked = 0;
  return NULL;
}

/** Grows the work buffers to hold n positions, and the head's to hold p predictions (as floats too, if asked). */
static const char *make_room(GpuCache *c, size_t n, size_t p, bool floats) {
  const Model *md = c->gpu->md;
  if (n > c->room) {
    size_t wide = md->F > md->H * md->dh ? md->F : md->H * md->dh, most = 2 * md->F;
    if ((size_t)md->layers[0].qkv.N > most) most = md->layers[0].qkv.N;
    CUdeviceptr *buffers[] = {&c->ids, &c->x, &c->q, &c->phi, &c->out, &c->o};
    size_t sizes[] = {sizeof(int32_t) * n, sizeof(int64_t) * n * md->D, n * (wide > (size_t)md->D ? wide : (size_t)md->D), sizeof(int64_t) * n, sizeof(int64_t) * n * most, sizeof(int64_t) * n * wide};
    for (int i = 0; i < 6; i++) {
      if (*buffers[i]) cu.MemFree(*buffers[i]);
      *buffers[i] = 0;
      TRY(cu.MemAlloc(buffers[i], sizes[i]));
    }
    c->room = n;
  }
  if (p > c->predicted_room) {
    CUdeviceptr *buffers[] = {&c->logits, &c->weights};
    for (int i = 0; i < 2; i++) {
      if (*buffers[i]) cu.MemFree(*buffers[i]);
      *buffers[i] = 0;
      TRY(cu.MemAlloc(buffers[i], sizeof(int32_t) * p * md->V));
    }
    c->predicted_room = p;
  }
  if (floats && p > c->floats_room) {
    if (c->floats) cu.MemFree(c->floats);
    c->floats = 0;
    TRY(cu.MemAlloc(&c->floats, sizeof(float) * p * md->V));
    c->floats_room = p;
  }
  return NULL;
}

/** Launches kernel k on `stream`, a grid of gx × gy blocks of `threads`, with `shared` bytes of dynamic shared
 * memory; timed between two events when the cache `c` in scope is profiled. */
#define LAUNCH(k, gx, gy, threads, shared, ...)                                                              \
  do {                                                                                                       \
    void *args_[] = {__VA_ARGS__};                                                                           \
    const char *marked_ = c->profile ? mark(c->profile, KERNEL_##k, stream) : NULL;                          \
    if (marked_) return marked_;                                                                             \
    TRY(cu.LaunchKernel(g->k, (unsigned)(gx), (unsigned)(gy), 1, (threads), 1, 1, (shared), stream, args_, NULL)); \
    if (c->profile) TRY(cu.EventRecord(c->profile->after[c->profile->marked - 1], stream));                 \
  } while (0)

static inline unsigned blocks(size_t n, unsigned threads) { return (unsigned)((n + threads - 1) / threads); }

/** The dot products of one linear layer for M positions. */
static const char *run_linear(GpuCache *c, CUstream stream, const GpuLinear *lin, CUdeviceptr *q, CUdeviceptr *phi, CUdeviceptr *out, int *M) {
  Gpu *g = c->gpu;
  LAUNCH(linear, blocks(lin->N, 64), blocks(*M, 64), 256, 0, q, (void *)&lin->w, (void *)&lin->mult, phi, out, M, (void *)&lin->K, (void *)&lin->N, (void *)&lin->s1, (void *)&lin->s2);
  return NULL;
}

/**
 * Runs `length` tokens a row at positions start.. (start 0 empties the cache) and predicts after the last `predict`:
 * the weights and logits come back to floats and weights, or, where those are NULL, stay for `code`.
 */
static const char *extend(GpuCache *c, const int32_t *ids, int length, int start, int predict, float *floats, int32_t *weights) {
  Gpu *g = c->gpu;
  const Model *md = g->md;
  if (length < 1 || start < 0 || start + length > c->window) return "the positions run past the cache's window";
  if (predict < 1 || predict > length) return "predict must be between 1 and the positions fed";
  int M = c->rows * length, P = c->rows * predict, none = 0, R = md->R, Q = md->Q;
  for (int i = 0; i < M; i++)
    if (ids[i] < 0 || ids[i] >= md->V) return "a token id is outside the model's vocabulary";
  TRY(cu.CtxSetCurrent(g->context));
  const char *why = make_room(c, (size_t)M, (size_t)P, floats != NULL);
  if (why) return why;
  CUstream stream = c->stream;
  TRY(cu.MemcpyHtoDAsync(c->ids, ids, sizeof(int32_t) * M, stream));
  CUdeviceptr null = 0, floats_out = floats ? c->floats : 0;
  LAUNCH(embed, blocks((size_t)M * md->D, 256), 1, 256, 0, &c->ids, &g->embedding, &c->x, &M, (void *)&md->D, (void *)&md->emb_zero, (void *)&md->emb_mult, (void *)&md->emb_shift);
  for (int l = 0; l < md->L; l++) {
    const Layer *ly = &md->layers[l];
    GpuLayer *gl = &g->layers[l];
    int attn_bits = PROB_BITS + R - ly->sv, groups = md->H / md->Hk, HD = md->H * md->dh;
    unsigned shared = groups * (sizeof(int32_t) * c->pitch + 2 * c->width + 2 * c->pitch);
    LAUNCH(normq, M, 1, 128, 0, &c->x, l ? &c->out : &null, &gl->gain1, &c->q, &c->phi, &g->rsqrt, (void *)&md->D, (void *)&md->eps, &Q, &length, &none);
    if ((why = run_linear(c, stream, &gl->qkv, &c->q, &c->phi, &c->out, &M))) return why;
    LAUNCH(store, blocks((size_t)M * md->Hk * md->dh, 256), 1, 256, 0, &c->out, &c->keys, &c->values, &g->cos, &g->sin, &M, &length, &start, &l, &c->rows, &c->pitch, &c->width, (void *)&md->H, (void *)&md->Hk, (void *)&md->dh, (void *)&ly->sk, (void *)&ly->sv);
    LAUNCH(attend, M, md->Hk, ATTEND_THREADS, shared, &c->out, &c->keys, &c->values, &c->o, &g->cos, &g->sin, &g->attn_exp, (void *)&md->n_attn_exp, &length, &start, &l, &c->rows, &c->pitch, &c->width, (void *)&md->H, (void *)&md->Hk, (void *)&md->dh, (void *)&ly->sq, (void *)&ly->attn_shift);
    LAUNCH(quantize_rows, M, 1, 128, 0, &c->o, &HD, &c->q, &c->phi, &Q, &attn_bits);
    if ((why = run_linear(c, stream, &gl->o, &c->q, &c->phi, &c->out, &M))) return why;
    LAUNCH(normq, M, 1, 128, 0, &c->x, &c->out, &gl->gain2, &c->q, &c->phi, &g->rsqrt, (void *)&md->D, (void *)&md->eps, &Q, &length, &none);
    if ((why = run_linear(c, stream, &gl->gate_up, &c->q, &c->phi, &c->out, &M))) return why;
    LAUNCH(hidden, M, 1, 256, 0, &c->out, &c->o, &c->q, &c->phi, &g->sigmoid, (void *)&md->n_sigmoid, (void *)&md->F, &R, &Q);
    if ((why = run_linear(c, stream, &gl->down, &c->q, &c->phi, &c->out, &M))) return why;
  }
  LAUNCH(normq, P, 1, 128, 0, &c->x, &c->out, &g->gain_final, &c->q, &c->phi, &g->rsqrt, (void *)&md->D, (void *)&md->eps, &Q, &length, &predict);
  const GpuLinear *hd = &g->head_linear;
  LAUNCH(head, blocks(hd->N, 64), blocks(P, 64), 256, 0, &c->q, (void *)&hd->w, (void *)&hd->mult, &c->logits, &P, (void *)&hd->K, (void *)&hd->N, (void *)&md->head.s1);
  LAUNCH(weigh, P, 1, 256, 0, &c->logits, &c->phi, &c->weights, &floats_out, &g->head_exp, (void *)&md->n_head_exp, (void *)&md->V, (void *)&md->head_mult, (void *)&md->head_shift, (void *)&md->final_shift);
  c->predicted = P;
  if (!weights) return NULL;
  TRY(cu.MemcpyDtoHAsync(weights, c->weights, sizeof(int32_t) * P * md->V, stream));
  TRY(cu.MemcpyDtoHAsync(floats, c->floats, sizeof(float) * P * md->V, stream));
  TRY(cu.StreamSynchronize(stream));
  return settle(c->profile);
}

/** The exact coder on `count` of the last extend's predictions (stride · i + offset), a question each: answers. */
static const char *code(GpuCache *c, const int32_t *asks, int count, int stride, int offset, int decoding, int precision, int32_t *answers) {
  Gpu *g = c->gpu;
  const Model *md = g->md;
  if (count < 1 || count > c->rows || stride < 1 || offset < 0 || (int64_t)stride * (count - 1) + offset >= c->predicted) return "code: predictions outside the last extend's";
  if (precision < 16 || precision > 30 || ((int64_t)1 << precision) < 2 * (int64_t)md->V) return "code: a precision of 16 to 30 bits that holds the vocabulary";
  int slots = 0;  // the token biases' slots the rows name, 0.. slots - 1
  for (int i = 0; i < count; i++) {
    const int32_t *ask = asks + (size_t)i * ASK;
    if (ask[1] >= md->V || (!decoding && (ask[0] < 0 || ask[0] >= md->V)) || (decoding && (ask[0] < 0 || (int64_t)ask[0] >= (int64_t)1 << precision))) return "code: a question outside the vocabulary or the precision";
    if (ask[12] < -1 || ask[12] >= c->bias_room) return "code: a token bias slot that was not filled";
    // a previous token's entries (the host's table keeps their tokens apart): only with a token bias, c within ±4 nats
    if (ask[13] < 0 || ask[13] > ENTRIES || (ask[13] > 0 && ask[12] < 0)) return "code: entries of a previous token without a token bias, or too many";
    for (int e = 0; e < ask[13]; e++)
      if (ask[14 + e] < 0 || ask[14 + e] >= md->V || ask[14 + ENTRIES + e] < -(1 << 22) || ask[14 + ENTRIES + e] > (1 << 22)) return "code: an entry outside the vocabulary or ±4 nats";
    if (ask[12] >= slots) slots = ask[12] + 1;
  }
  TRY(cu.CtxSetCurrent(g->context));
  CUstream stream = c->stream;
  TRY(cu.MemcpyHtoDAsync(c->asks, asks, sizeof(int32_t) * ASK * count, stream));
  LAUNCH(code, count, 1, 512, sizeof(uint32_t) * ((md->V + 31) / 32), &c->weights, &c->logits, &c->frequencies, &c->asks, &c->answers, &g->stretch, &g->squash, &c->biases, &g->multipliers, (void *)&md->V, &precision, &decoding, &stride, &offset);
  if (slots > 0) LAUNCH(bias_learn, blocks(md->V, 256), slots, 256, 0, &c->frequencies, &c->asks, &c->answers, &c->biases, &c->rates, &count, (void *)&md->V, &precision);
  TRY(cu.MemcpyDtoHAsync(answers, c->answers, sizeof(int32_t) * ANSWER * count, stream));
  TRY(cu.StreamSynchronize(stream));
  return settle(c->profile);
}

// ---- Node-API ----

// Held while a model or cache is made or freed (the driver's and NVRTC's loading, the compiled kernels). A cache's
// own calls (extend, code) take no lock: each runs on its own stream, from the one thread that owns the cache.
static pthread_mutex_t calls = PTHREAD_MUTEX_INITIALIZER;

static void *external(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return fail(env, "CUDA engine: not a model or cache");
  return data;
}

/** The open cache that the first of a call's `argc` arguments (into argv) names; NULL, an exception pending if any, else. */
static GpuCache *open_cache(napi_env env, napi_callback_info info, size_t argc, napi_value *argv) {
  size_t given = argc;
  napi_get_cb_info(env, info, &given, argv, NULL, NULL);
  GpuCache *c = given == argc ? external(env, argv[0]) : NULL;
  return c && !c->keys ? fail(env, "CUDA engine: this cache was closed") : c;
}

static void keep(napi_env env, void *data, void *hint) { (void)env, (void)data, (void)hint; }

/** A string argument as a C string (malloc'd), or NULL. */
static char *text(napi_env env, napi_value v) {
  size_t length;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &length) != napi_ok) return NULL;
  char *out = malloc(length + 1);
  napi_get_value_string_utf8(env, v, out, length + 1, &length);
  return out;
}

/**
 * cudaModel(model, source: string, header: string, gpu: number, stretch: Int16Array, squash: Int32Array, multipliers:
 * Int32Array) → the native model on that GPU, the kernels compiled from native/cuda.cu's source and native/exact.h's,
 * with the mixer's three tables.
 */
static napi_value js_cuda_model(napi_env env, napi_callback_info info) {
  size_t argc = 7, stretches, squashes, n_multipliers;
  napi_value argv[7], out;
  int32_t ordinal;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const Model *md = argc == 7 ? external(env, argv[0]) : NULL;
  const int16_t *stretch = md ? typed_array(env, argv[4], napi_int16_array, &stretches) : NULL;
  const int32_t *squash = md ? typed_array(env, argv[5], napi_int32_array, &squashes) : NULL;
  const int32_t *multipliers = md ? typed_array(env, argv[6], napi_int32_array, &n_multipliers) : NULL;
  char *source = md ? text(env, argv[1]) : NULL, *header = md ? text(env, argv[2]) : NULL;
  const char *why = !md || !stretch || stretches != 4096 || !squash || squashes != 65 || !multipliers || n_multipliers != 2049 || !source || !header ||
                            napi_get_value_int32(env, argv[3], &ordinal) != napi_ok
                        ? "cudaModel: a native model, the kernels' source and header, a GPU number and the mixer's three tables"
                        : NULL;
  Gpu *g = calloc(1, sizeof(Gpu));
  if (!why) {
    pthread_mutex_lock(&calls);
    why = make_gpu(g, md, source, header, ordinal, stretch, stretches, squash, squashes, multipliers, n_multipliers);
    pthread_mutex_unlock(&calls);
  }
  free(source), free(header);
  if (why) return free(g), fail(env, why);
  napi_create_external(env, g, keep, NULL, &out);
  return out;
}

/** cudaCount() → the number of GPUs the driver sees: 0 where there is no driver or none. */
static napi_value js_cuda_count(napi_env env, napi_callback_info info) {
  napi_value out;
  int count = 0;
  (void)info;
  pthread_mutex_lock(&calls);
  if (!open_driver()) cu.DeviceGetCount(&count);
  pthread_mutex_unlock(&calls);
  napi_create_int32(env, count, &out);
  return out;
}

/**
 * cudaFree(ordinal) → the bytes free on GPU `ordinal` (-1 where there is no such GPU). It reads them in the GPU's
 * primary context, the one this process's models share, so asking creates nothing they would not.
 */
static napi_value js_cuda_free(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, out;
  int32_t ordinal = -1;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  if (argc == 1) napi_get_value_int32(env, arg, &ordinal);
  size_t free_bytes = 0, total = 0;
  int count = 0;
  CUdevice device;
  CUcontext context;
  double answer = -1;
  pthread_mutex_lock(&calls);
  if (!open_driver() && !cu.DeviceGetCount(&count) && ordinal >= 0 && ordinal < count && !cu.DeviceGet(&device, ordinal) &&
      !cu.DevicePrimaryCtxRetain(&context, device) && !cu.CtxSetCurrent(context) && !cu.MemGetInfo(&free_bytes, &total))
    answer = (double)free_bytes;
  pthread_mutex_unlock(&calls);
  napi_create_double(env, answer, &out);
  return out;
}

/** cudaName(gpu model) → the GPU's name and architecture. */
static napi_value js_cuda_name(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, out;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  Gpu *g = argc == 1 ? external(env, arg) : NULL;
  if (!g) return NULL;
  char name[160];
  snprintf(name, sizeof name, "%s (sm_%d)", g->name, g->arch);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &out);
  return out;
}

/** cudaCompile(source, header, arch) → the bytes of the cubin NVRTC makes for compute capability `arch`: no GPU needed. */
static napi_value js_cuda_compile(napi_env env, napi_callback_info info) {
  size_t argc = 3, size = 0;
  napi_value argv[3], out;
  int32_t arch;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char *source = argc == 3 ? text(env, argv[0]) : NULL, *header = argc == 3 ? text(env, argv[1]) : NULL, *cubin = NULL;
  const char *why = !source || !header || napi_get_value_int32(env, argv[2], &arch) != napi_ok ? "cudaCompile: the kernels' source and header, and a compute capability" : NULL;
  if (!why) {
    pthread_mutex_lock(&calls);
    why = compile(source, header, arch, false, &cubin, &size);
    pthread_mutex_unlock(&calls);
  }
  free(source), free(header), free(cubin);
  if (why) return fail(env, why);
  napi_create_int64(env, (int64_t)size, &out);
  return out;
}

static void free_cache(napi_env env, void *data, void *hint) {
  pthread_mutex_lock(&calls);
  release(data);
  pthread_mutex_unlock(&calls);
  free(data);
  (void)env, (void)hint;
}

/** cudaCache(gpu model, rows, window): the keys and values of `rows` streams of up to `window` positions, on the GPU. */
static napi_value js_cuda_cache(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  int32_t rows, window;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Gpu *g = argc == 3 ? external(env, argv[0]) : NULL;
  if (!g) return NULL;
  if (napi_get_value_int32(env, argv[1], &rows) != napi_ok || napi_get_value_int32(env, argv[2], &window) != napi_ok || rows < 1 || window < 1 || window > g->md->positions)
    return fail(env, "CUDA engine: a cache needs rows, and a window within the model's positions");
  const Model *md = g->md;
  GpuCache *c = calloc(1, sizeof(GpuCache));
  c->gpu = g, c->rows = rows, c->window = window, c->pitch = (window + 63) / 64 * 64, c->width = (md->dh + 63) / 64 * 64;
  const char *profiled = getenv("LLMC_CUDA_PROFILE");
  if (profiled && *profiled) c->profile = calloc(1, sizeof(Profile));
  size_t bytes = (size_t)2 * md->L * rows * md->Hk * c->pitch * c->width;
  pthread_mutex_lock(&calls);
  const char *why = NULL;
  CUresult status = cu.CtxSetCurrent(g->context);
  if (status == 0) status = cu.StreamCreate(&c->stream, STREAM_NON_BLOCKING);
  if (status == 0) status = cu.MemAlloc(&c->keys, bytes);
  if (status == 0) status = cu.MemAlloc(&c->values, bytes);
  // never-written slots are read by no position, but zeros keep a stray read harmless
  if (status == 0) status = cu.MemsetD8(c->keys, 0, bytes);
  if (status == 0) status = cu.MemsetD8(c->values, 0, bytes);
  // the model's uploads and these sets went through the legacy stream, which the cache's own does not wait for
  if (status == 0) status = cu.CtxSynchronize();
  if (status == 0) status = cu.MemAlloc(&c->frequencies, sizeof(int32_t) * rows * md->V);
  if (status == 0) status = cu.MemAlloc(&c->asks, sizeof(int32_t) * rows * ASK);
  if (status == 0) status = cu.MemAlloc(&c->answers, sizeof(int32_t) * rows * ANSWER);
  // the profiles' clock starts with the first profiled cache, before any kernel it could time
  if (status == 0 && c->profile && !epoch && (status = cu.EventCreate(&epoch, 0)) == 0 && (status = cu.EventRecord(epoch, c->stream)) == 0)
    status = cu.StreamSynchronize(c->stream);
  if (status != 0) why = driver_error(status, "allocating the cache"), release(c), free(c);
  pthread_mutex_unlock(&calls);
  if (why) return fail(env, why);
  napi_create_external(env, c, free_cache, NULL, &out);
  return out;
}

/**
 * cudaExtend(cache, ids: Int32Array, length, start, predict, logits: Float32Array, weights: Int32Array), as extend;
 * empty logits and weights keep the predictions on the GPU for cudaCode.
 */
static napi_value js_cuda_extend(napi_env env, napi_callback_info info) {
  size_t n, nl, nw;
  napi_value argv[7];
  int32_t length, start, predict;
  GpuCache *c = open_cache(env, info, 7, argv);
  if (!c) return NULL;
  int32_t *ids = typed_array(env, argv[1], napi_int32_array, &n);
  float *logits = typed_array(env, argv[5], napi_float32_array, &nl);
  int32_t *weights = typed_array(env, argv[6], napi_int32_array, &nw);
  if (!ids || !logits || !weights || napi_get_value_int32(env, argv[2], &length) != napi_ok || napi_get_value_int32(env, argv[3], &start) != napi_ok || napi_get_value_int32(env, argv[4], &predict) != napi_ok)
    return fail(env, "CUDA engine: extend takes a cache, Int32Array ids, three numbers, Float32Array logits and Int32Array weights");
  size_t predicted = (size_t)c->rows * (predict > 0 ? predict : 0) * c->gpu->md->V;
  bool keep = nl == 0 && nw == 0;  // the predictions stay on the GPU, for cudaCode
  if (n != (size_t)c->rows * (length > 0 ? length : 0) || (!keep && (nl < predicted || nw < predicted))) return fail(env, "CUDA engine: extend's arrays have the wrong sizes");
  const char *why = extend(c, ids, length, start, predict, keep ? NULL : logits, keep ? NULL : weights);
  return why ? fail(env, why) : NULL;
}

/**
 * cudaCode(cache, asks: Int32Array, count, stride, offset, decoding, precision, answers: Int32Array): the exact coder
 * (and the mixer's share) on predictions offset, offset + stride, … of the last extend, ASK numbers a question and
 * ANSWER an answer (native/cuda.cu).
 */
static napi_value js_cuda_code(napi_env env, napi_callback_info info) {
  size_t na, nr;
  napi_value argv[8];
  int32_t count, stride, offset, decoding, precision;
  GpuCache *c = open_cache(env, info, 8, argv);
  if (!c) return NULL;
  int32_t *asks = typed_array(env, argv[1], napi_int32_array, &na), *answers = typed_array(env, argv[7], napi_int32_array, &nr);
  if (!asks || !answers || napi_get_value_int32(env, argv[2], &count) != napi_ok || napi_get_value_int32(env, argv[3], &stride) != napi_ok || napi_get_value_int32(env, argv[4], &offset) != napi_ok ||
      napi_get_value_int32(env, argv[5], &decoding) != napi_ok || napi_get_value_int32(env, argv[6], &precision) != napi_ok || count < 1 || na < (size_t)count * ASK || nr < (size_t)count * ANSWER)
    return fail(env, "CUDA engine: code takes a cache, Int32Array questions, five numbers and Int32Array answers");
  const char *why = code(c, asks, count, stride, offset, decoding, precision, answers);
  return why ? fail(env, why) : NULL;
}

/** Room for token bias slot `slot` (slots grow as a walk's streams need them, up to the cache's rows). */
static const char *bias_room(GpuCache *c, int slot) {
  if (slot < c->bias_room) return NULL;
  int room = slot + 1 > 2 * c->bias_room ? slot + 1 : 2 * c->bias_room;
  if (room > c->rows) room = c->rows;
  size_t V = (size_t)c->gpu->md->V;
  CUdeviceptr biases = 0, rates = 0;
  CUresult status = cu.MemAlloc(&biases, sizeof(int32_t) * room * V);
  if (status == 0) status = cu.MemAlloc(&rates, sizeof(int32_t) * room);
  if (status == 0 && c->bias_room > 0) status = cu.MemcpyDtoDAsync(biases, c->biases, sizeof(int32_t) * c->bias_room * V, c->stream);
  if (status == 0 && c->bias_room > 0) status = cu.MemcpyDtoDAsync(rates, c->rates, sizeof(int32_t) * c->bias_room, c->stream);
  if (status == 0) status = cu.StreamSynchronize(c->stream);
  if (status != 0) {
    if (biases) cu.MemFree(biases);
    if (rates) cu.MemFree(rates);
    return driver_error(status, "allocating token biases");
  }
  if (c->biases) cu.MemFree(c->biases), cu.MemFree(c->rates);
  c->biases = biases, c->rates = rates, c->bias_room = room;
  return NULL;
}

/**
 * cudaBias(cache, slot, values: Int32Array, rate, upload): a token bias (mixer version 4) and its rate into slot
 * `slot` of the GPU's (upload 1), or the slot's b back into values (0).
 */
static napi_value js_cuda_bias(napi_env env, napi_callback_info info) {
  size_t nv;
  napi_value argv[5];
  int32_t slot, rate, upload;
  GpuCache *c = open_cache(env, info, 5, argv);
  if (!c) return NULL;
  int32_t *values = typed_array(env, argv[2], napi_int32_array, &nv);
  if (!values || nv != (size_t)c->gpu->md->V || napi_get_value_int32(env, argv[1], &slot) != napi_ok || napi_get_value_int32(env, argv[3], &rate) != napi_ok ||
      napi_get_value_int32(env, argv[4], &upload) != napi_ok || slot < 0 || slot >= c->rows || rate < 0 || rate > 255 || (!upload && slot >= c->bias_room))
    return fail(env, "CUDA engine: bias takes a cache, a slot below its rows, Int32Array values of the vocabulary, a rate and whether to upload");
  CUresult set = cu.CtxSetCurrent(c->gpu->context);
  if (set != 0) return fail(env, driver_error(set, "cuCtxSetCurrent"));
  const char *why = NULL;
  if (upload && !(why = bias_room(c, slot))) {
    size_t at = sizeof(int32_t) * (size_t)slot;
    CUresult status = cu.MemcpyHtoDAsync(c->biases + at * nv, values, sizeof(int32_t) * nv, c->stream);
    if (status == 0) status = cu.MemcpyHtoDAsync(c->rates + at, &rate, sizeof(int32_t), c->stream);
    if (status == 0) status = cu.StreamSynchronize(c->stream);
    if (status != 0) why = driver_error(status, "copying a token bias");
  } else if (!upload) {
    CUresult status = cu.MemcpyDtoHAsync(values, c->biases + sizeof(int32_t) * (size_t)slot * nv, sizeof(int32_t) * nv, c->stream);
    if (status == 0) status = cu.StreamSynchronize(c->stream);
    if (status != 0) why = driver_error(status, "copying a token bias back");
  }
  return why ? fail(env, why) : NULL;
}

/** cudaProfile(cache) → {kernel: [launches, ms]} of the kernels a profiled cache timed (LLMC_CUDA_PROFILE); null if not profiled. */
static napi_value js_cuda_profile(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, out, pair, n;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  GpuCache *c = argc == 1 ? external(env, arg) : NULL;
  if (!c) return NULL;
  napi_get_null(env, &out);
  if (!c->profile) return out;
  napi_create_object(env, &out);
  for (int k = 0; k < KERNEL_COUNT; k++) {
    napi_create_array_with_length(env, 2, &pair);
    napi_create_int64(env, c->profile->launches[k], &n), napi_set_element(env, pair, 0, n);
    napi_create_double(env, c->profile->ms[k], &n), napi_set_element(env, pair, 1, n);
    napi_set_named_property(env, out, kernel_names[k], pair);
  }
  return out;
}

/** cudaSpans(cache) → Float64Array of (start ms, end ms, kernel) for each kernel a profiled cache timed since the last
 * call, on the clock every cache of the process shares; null if not profiled. */
static napi_value js_cuda_spans(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg, out, buffer;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  GpuCache *c = argc == 1 ? external(env, arg) : NULL;
  if (!c) return NULL;
  napi_get_null(env, &out);
  Profile *p = c->profile;
  if (!p) return out;
  void *data;
  if (napi_create_arraybuffer(env, sizeof(double) * p->spans_n, &data, &buffer) != napi_ok) return fail(env, "cudaSpans: out of memory");
  if (p->spans_n) memcpy(data, p->spans, sizeof(double) * p->spans_n);
  napi_create_typedarray(env, napi_float64_array, p->spans_n, buffer, 0, &out);
  p->spans_n = 0;
  return out;
}

/** cudaClose(cache): its GPU memory back now. */
static napi_value js_cuda_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  GpuCache *c = argc == 1 ? external(env, arg) : NULL;
  if (!c) return NULL;
  pthread_mutex_lock(&calls);
  release(c);
  pthread_mutex_unlock(&calls);
  return NULL;
}

bool cuda_define(napi_env env, napi_value exports) {
  napi_property_descriptor calls_[] = {
      {"cudaModel", NULL, js_cuda_model, NULL, NULL, NULL, napi_default, NULL},
      {"cudaName", NULL, js_cuda_name, NULL, NULL, NULL, napi_default, NULL},
      {"cudaCount", NULL, js_cuda_count, NULL, NULL, NULL, napi_default, NULL},
      {"cudaFree", NULL, js_cuda_free, NULL, NULL, NULL, napi_default, NULL},
      {"cudaCache", NULL, js_cuda_cache, NULL, NULL, NULL, napi_default, NULL},
      {"cudaCompile", NULL, js_cuda_compile, NULL, NULL, NULL, napi_default, NULL},
      {"cudaCode", NULL, js_cuda_code, NULL, NULL, NULL, napi_default, NULL},
      {"cudaBias", NULL, js_cuda_bias, NULL, NULL, NULL, napi_default, NULL},
      {"cudaExtend", NULL, js_cuda_extend, NULL, NULL, NULL, napi_default, NULL},
      {"cudaClose", NULL, js_cuda_close, NULL, NULL, NULL, napi_default, NULL},
      {"cudaProfile", NULL, js_cuda_profile, NULL, NULL, NULL, napi_default, NULL},
      {"cudaSpans", NULL, js_cuda_spans, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof calls_ / sizeof *calls_, calls_) == napi_ok;
}
