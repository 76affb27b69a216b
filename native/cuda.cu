// The integer model of docs/INTEGER.md on an NVIDIA GPU: the phases of native/integer.c as kernels, each the same
// exact integer arithmetic, so a GPU computes the integers a CPU does. native/cuda.c compiles this file with NVRTC
// when the first model is made (no CUDA toolkit is needed, only the driver and NVRTC's library) and runs it.
#include "exact.h"  // the constants and exact helpers the CPU's engine uses too

typedef long long i64;

// ---- more exact helpers ----

#define INT_MIN_64 (-9223372036854775807LL - 1)

__device__ __forceinline__ i64 absolute(i64 v) { return v < 0 ? -v : v; }

/** floor(n / d) for 0 <= n < 2^62 and a quotient below 2^50, `inverse` being 1.0 / d: taken in float64, whose
 * estimate is then within 1 of it, and corrected to the exact one. A 64-bit division is a long routine on a GPU. */
__device__ __forceinline__ i64 quotient(i64 n, i64 d, double inverse) {
  i64 q = (i64)((double)n * inverse);
  q -= q * d > n;
  q += (q + 1) * d <= n;
  return q;
}

/** round(127 x / a), half up, for |x| <= a: floor((254 x + 257 a) / 2a) - 128. */
__device__ __forceinline__ signed char quantize(i64 x, i64 a, double inverse) {
  return (signed char)(quotient(254 * x + 257 * a, 2 * a, inverse) - 128);
}

/** c + the four products of a's and b's signed bytes (PTX dp4a: an exact int32 sum). */
__device__ __forceinline__ int dot4(int a, int b, int c) {
  int d;
  asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

struct Max {
  __device__ i64 operator()(i64 a, i64 b) const { return a > b ? a : b; }
};
struct Sum {
  __device__ i64 operator()(i64 a, i64 b) const { return a + b; }
};

/** Every thread's v combined across the block (a multiple of 32 threads); all threads get the result. */
template <typename Op>
__device__ i64 block_reduce(i64 v, Op op) {
  __shared__ i64 partial[32];
  for (int offset = 16; offset; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  int warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();
  if ((threadIdx.x & 31) == 0) partial[warp] = v;
  __syncthreads();
  v = partial[0];
  for (int w = 1; w < warps; w++) v = op(v, partial[w]);
  return v;
}

/** Every thread's v summed over the threads before it in the block (all threads call it). */
__device__ i64 block_exclusive_sum(i64 v) {
  __shared__ i64 partial[32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  i64 inclusive = v;
  for (int offset = 1; offset < 32; offset <<= 1) {
    i64 other = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += other;
  }
  __syncthreads();
  if (lane == 31) partial[warp] = inclusive;
  __syncthreads();
  i64 before = 0;
  for (int w = 0; w < warp; w++) before += partial[w];
  return before + inclusive - v;
}

// ---- the phases ----

extern "C" __global__ void embed(const int *ids, const unsigned char *table, i64 *x, int M, int D, i64 zero, i64 mult, int shift) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= M * D) return;
  x[i] = shr(((i64)table[(i64)ids[i / D] * D + i % D] - zero) * mult, shift);
}

/**
 * One block a row: x += add (if given), then RMSNorm with its gain, quantized into q and phi (docs/INTEGER.md,
 * normq). With predict > 0 the block's row r is the r-th position predicted after (the last `predict` of each row's
 * `length`), and q and phi are written at r.
 */
extern "C" __global__ void normq(i64 *x, const i64 *add, const i64 *gain, signed char *q, i64 *phi, const i64 *rsqrt, int D, i64 eps, int Q, int length, int predict) {
  int r = blockIdx.x;
  int m = predict ? (r / predict) * length + length - predict + r % predict : r;
  i64 *xm = x + (i64)m * D, ss = 0, a = 1;
  for (int i = threadIdx.x; i < D; i += blockDim.x) {
    i64 v = xm[i] + (add ? add[(i64)m * D + i] : 0);
    xm[i] = v;
    ss += v * v;
    a = max(a, absolute(shr(v * gain[i], GAIN_BITS)));
  }
  ss = block_reduce(ss, Sum());
  a = block_reduce(a, Max());
  double inverse = 1.0 / (double)(2 * a);
  for (int i = threadIdx.x; i < D; i += blockDim.x) q[(i64)r * D + i] = quantize(shr(xm[i] * gain[i], GAIN_BITS), a, inverse);
  if (threadIdx.x == 0) {
    i64 ms = floor_div(ss, D) + eps;
    int bits = ms > 0 ? 64 - __clzll(ms) : 0;
    int e = ((bits > 12 ? bits : 12) - 11) / 2;
    phi[r] = rdiv(a * rsqrt[ms >> (2 * e)], 127 * ((i64)1 << (RSQRT_BITS + e - Q)));
  }
}

/** The block's row of `width` values quantized into q by its maxabs a, and phi = rdiv(a · 2^Q, 127 · 2^shift). Each
 * thread reads the values it wrote (the same stride), or the block has synced since they were written. */
template <typename T>
__device__ void quantize_row(const T *row, int width, signed char *q, i64 *phi, int Q, int shift) {
  i64 a = 1;
  for (int i = threadIdx.x; i < width; i += blockDim.x) a = max(a, absolute((i64)row[i]));
  a = block_reduce(a, Max());
  double inverse = 1.0 / (double)(2 * a);
  for (int i = threadIdx.x; i < width; i += blockDim.x) q[i] = quantize((i64)row[i], a, inverse);
  if (threadIdx.x == 0) *phi = rdiv(a << Q, 127 * ((i64)1 << shift));
}

/** One block a row: the row quantized (quantize_row). */
extern "C" __global__ void quantize_rows(const i64 *src, int width, signed char *q, i64 *phi, int Q, int shift) {
  int m = blockIdx.x;
  quantize_row(src + (i64)m * width, width, q + (i64)m * width, phi + m, Q, shift);
}

#if __CUDA_ARCH__ >= 800
/** c += a · b for a warp's tile of 16 positions by 8 columns and 32 bytes of K (PTX mma on the tensor cores: int8
 * inputs, exact int32 sums, the same integers as dp4a's). */
__device__ __forceinline__ void mma16x8x32(int (&c)[4], const int (&a)[4], const int (&b)[2]) {
  asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

// The dot products: a tile of 64 positions by 64 columns a block of 256 threads, the inputs staged in shared memory
// 128 bytes of K at a time, as 32-bit words of four bytes. Each thread fetches its 16-byte pieces of the next stage
// while the block multiplies the current one, so the loads' latency hides behind the multiplies (K is a multiple of
// 16: native/cuda.c checks it). From sm_80 the tensor cores multiply (each warp a 16 × 32 part of the tile, four mma
// tiles of 16 × 8); before, each thread 4 × 4 of the tile, four bytes at once (dp4a).
#define TILE 64
#define STEP 32           // 32-bit words of K a stage
#define PITCH (STEP + 4)  // words a staged row takes: 16-byte rows, and mma's reads of a warp fall in 32 banks
#define PIECES (TILE * STEP / 4 / 256)  // 16-byte pieces of each input a thread stages

/** A thread's pieces of both inputs' stage from word k0: piece p is row i / 8 of the tile and words 4 (i % 8) on of
 * the stage, for i = thread + 256 p; zeros past the ends. */
__device__ __forceinline__ void fetch(int4 (&a)[PIECES], int4 (&b)[PIECES], const signed char *q, const signed char *w, int m0, int n0, int M, int K, int N, int k0) {
  for (int p = 0; p < PIECES; p++) {
    int i = threadIdx.x + p * 256, row = i / (STEP / 4), k = k0 + (i % (STEP / 4)) * 4, m = m0 + row, n = n0 + row;
    a[p] = m < M && k < K / 4 ? *(const int4 *)(q + (i64)m * K + 4 * k) : make_int4(0, 0, 0, 0);
    b[p] = n < N && k < K / 4 ? *(const int4 *)(w + (i64)n * K + 4 * k) : make_int4(0, 0, 0, 0);
  }
}

template <bool HEAD>
__device__ void dots(const signed char *q, const signed char *w, const i64 *mult, const i64 *phi, i64 *out, int *logits, int M, int K, int N, int s1, int s2) {
  __shared__ __align__(16) int A[TILE][PITCH], B[TILE][PITCH];
  int m0 = blockIdx.y * TILE, n0 = blockIdx.x * TILE, words = K / 4;
#if __CUDA_ARCH__ >= 800
  // mma's fragments: lane l holds rows l / 4 (and + 8) and words l % 4 (and + 4) of each 32-byte slice of K
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4, wm = (warp % 4) * 16, wn = (warp / 4) * 32;
#else
  int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#endif
  int acc[4][4] = {};
  int4 a_next[PIECES], b_next[PIECES];
  fetch(a_next, b_next, q, w, m0, n0, M, K, N, 0);
  for (int k0 = 0; k0 < words; k0 += STEP) {
    for (int p = 0; p < PIECES; p++) {
      int i = threadIdx.x + p * 256, row = i / (STEP / 4), k = (i % (STEP / 4)) * 4;
      *(int4 *)&A[row][k] = a_next[p];
      *(int4 *)&B[row][k] = b_next[p];
    }
    __syncthreads();
    // the next stage on its way while this one is multiplied
    if (k0 + STEP < words) fetch(a_next, b_next, q, w, m0, n0, M, K, N, k0 + STEP);
#if __CUDA_ARCH__ >= 800
    for (int k = 0; k < STEP; k += 8) {
      int a[4] = {A[wm + g][k + t], A[wm + g + 8][k + t], A[wm + g][k + 4 + t], A[wm + g + 8][k + 4 + t]};
      for (int j = 0; j < 4; j++) {
        int b[2] = {B[wn + 8 * j + g][k + t], B[wn + 8 * j + g][k + 4 + t]};
        mma16x8x32(acc[j], a, b);
      }
    }
#else
    for (int k = 0; k < STEP; k++) {
      int a[4], b[4];
      for (int i = 0; i < 4; i++) a[i] = A[ty + 16 * i][k], b[i] = B[tx + 16 * i][k];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = dot4(a[i], b[j], acc[i][j]);
    }
#endif
    __syncthreads();
  }
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
#if __CUDA_ARCH__ >= 800
      // acc[i]: mma tile i; its register j is row g (+ 8 for j >= 2), column 2t + j % 2
      int m = m0 + wm + g + (j >= 2 ? 8 : 0), n = n0 + wn + 8 * i + 2 * t + (j & 1);
#else
      int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
#endif
      if (m >= M || n >= N) continue;
      if (HEAD) logits[(i64)m * N + n] = (int)shr((i64)acc[i][j] * mult[n], s1);
      else out[(i64)m * N + n] = shr(shr((i64)acc[i][j] * mult[n], s1) * phi[m], s2);
    }
}

/** out = shr(shr(q · W · mult, s1) · phi, s2) (docs/INTEGER.md, lin). */
extern "C" __global__ void linear(const signed char *q, const signed char *w, const i64 *mult, const i64 *phi, i64 *out, int M, int K, int N, int s1, int s2) {
  dots<false>(q, w, mult, phi, out, 0, M, K, N, s1, s2);
}

/** The head's integer logits, shr(q · W · mult, s1). */
extern "C" __global__ void head(const signed char *q, const signed char *w, const i64 *mult, int *logits, int M, int K, int N, int s1) {
  dots<true>(q, w, mult, 0, 0, logits, M, K, N, s1, 0);
}

/** Element j of one head's vector v turned by the rotary table at `position`. */
__device__ __forceinline__ i64 rotate(const i64 *v, const i64 *cos, const i64 *sin, int dh, int position, int j) {
  int half = dh / 2, p = j % half;
  i64 c = cos[(i64)position * half + p], s = sin[(i64)position * half + p];
  return j < half ? v[j] * c - v[j + half] * s : v[j] * c + v[j - half] * s;
}

// The cache holds each key and value as two signed bytes, v = 256 hi + lo (lo its low byte, sign-extended), so that
// attention multiplies on the tensor cores, whose exact products are int8's. A key head of a row keeps `pitch` slots
// (the window rounded up to 64) of `width` dimensions (dh rounded up to 64, the rest zeros): its keys slot by slot, a
// plane of high bytes [pitch][width] and then one of low bytes; its values dimension by dimension [width][pitch], each
// value's two bytes side by side (high first), so that a step's values, one slot of every dimension, each write one
// sector, not two.

/** Where a row's key head `h` starts in a layer's keys or values. */
__device__ __forceinline__ i64 slots(int layer, int rows, int row, int Hk, int h, int pitch, int width) {
  return (((i64)layer * rows + row) * Hk + h) * 2 * pitch * width;
}

/** v as 256 · high + low, both signed bytes (|v| < 2^15). */
__device__ __forceinline__ void split(int v, signed char *high, signed char *low) {
  int lo = (signed char)(v & 0xFF);
  *low = (signed char)lo, *high = (signed char)((v - lo) >> 8);
}

/** The new positions' keys (rotated) and values into their slots: a thread an element. */
extern "C" __global__ void store(const i64 *qkv, signed char *keys, signed char *values, const i64 *cos, const i64 *sin, int M, int length, int start, int layer, int rows, int pitch, int width, int H, int Hk, int dh, int sk, int sv) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= M * Hk * dh) return;
  int j = i % dh, h = i / dh % Hk, m = i / (dh * Hk), row = m / length, position = start + m % length;
  const i64 *out = qkv + (i64)m * (H + 2 * Hk) * dh;
  i64 at = slots(layer, rows, row, Hk, h, pitch, width), k = at + (i64)position * width + j, v = at + 2 * ((i64)j * pitch + position);
  split((int)clamp64(shr(rotate(out + (i64)(H + h) * dh, cos, sin, dh, position, j), TRIG_BITS + sk), -Q_LIMIT, Q_LIMIT), keys + k, keys + k + (i64)pitch * width);
  signed char value[2];
  split((int)clamp64(shr(out[(i64)(H + Hk + h) * dh + j], sv), -V_LIMIT, V_LIMIT), value, value + 1);
  *(short *)(values + v) = *(const short *)value;
}

#define MAX_GROUPS 4  // query heads a key head at most (native/cuda.c checks it)

#if __CUDA_ARCH__ >= 800
/** 65536 hh + 256 (hl + lh) + ll: a product of two split numbers from the products of their parts. Taken modulo 2^32,
 * which is exact when the whole fits an int32, as attention's sums do. */
__device__ __forceinline__ int join(int hh, int hl, int lh, int ll) {
  return (int)(65536u * (unsigned)hh + 256u * ((unsigned)hl + (unsigned)lh) + (unsigned)ll);
}

/**
 * Sums over 64 of k of a warp's split rows A (row r: the high bytes, row r + 8 the low, r = lane / 4 below `groups`)
 * times the split columns B of eight columns (column r: the high plane at `bh`, the low at `bl`), on the tensor cores.
 * The lane of quarter = lane % 4 gives the k from 16 quarter to 16 quarter + 15 of both: the sum's order of k is free,
 * so each lane reads 16 bytes at once. high[] gets A · B's high bytes, low[] A · B's low: [0] and [1] for row r and
 * columns 2 quarter and 2 quarter + 1, [2] and [3] the same for row r + 8 (mma's accumulator layout).
 */
__device__ __forceinline__ void split_dots(int (&high)[4], int (&low)[4], int4 ah, int4 al, int4 bh, int4 bl) {
  const int a0[4] = {ah.x, al.x, ah.y, al.y}, a1[4] = {ah.z, al.z, ah.w, al.w};
  const int h0[2] = {bh.x, bh.y}, h1[2] = {bh.z, bh.w}, l0[2] = {bl.x, bl.y}, l1[2] = {bl.z, bl.w};
  mma16x8x32(high, a0, h0);
  mma16x8x32(high, a1, h1);
  mma16x8x32(low, a0, l0);
  mma16x8x32(low, a1, l1);
}
#endif

/**
 * One block a position and key head: its query heads attend to the row's slots up to the position's own, and write o
 * (unquantized: quantize_rows follows). As in native/integer.c every sum is int32 (a score's distance below the top is
 * under 2^26, e under 2^16, Σe under 2^26, and every partial sum of q · k and p · v is far inside int32), so the order
 * of its terms does not change it. From sm_80 the tensor cores take q · k and p · v from their split bytes (query and
 * probabilities split in shared memory as the cache's keys and values are): each warp scores eight slots at a time, a
 * warp a query head turns its scores into probabilities, then each warp sums p · v for eight dimensions at a time.
 * Shared memory: each query head's scores, then the split queries
 * [2][groups][width] and probabilities [2][groups][pitch] (high bytes, then low).
 */
extern "C" __global__ void attend(const i64 *qkv, const signed char *keys, const signed char *values, i64 *o, const i64 *cos, const i64 *sin, const int *table, int entries, int length, int start, int layer, int rows, int pitch, int width, int H, int Hk, int dh, int sq, int shift) {
  extern __shared__ int shared[];
  int m = blockIdx.x, g = blockIdx.y, groups = H / Hk, row = m / length, position = start + m % length, n = position + 1, last = entries - 1;
  int *scores = shared;
  signed char *query = (signed char *)(scores + groups * pitch), *prob = query + 2 * groups * width;
  const i64 *out = qkv + (i64)m * (H + 2 * Hk) * dh;
  for (int i = threadIdx.x; i < groups * width; i += blockDim.x) {
    int j = i % width, q = j < dh ? (int)clamp64(shr(rotate(out + (i64)(g * groups + i / width) * dh, cos, sin, dh, position, j), TRIG_BITS + sq), -Q_LIMIT, Q_LIMIT) : 0;
    split(q, query + i, query + groups * width + i);
  }
  __syncthreads();
  i64 at = slots(layer, rows, row, Hk, g, pitch, width), plane = (i64)pitch * width;
  const signed char *K = keys + at, *V = values + at;
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
#if __CUDA_ARCH__ >= 800
  const int4 zero = make_int4(0, 0, 0, 0);
  int r = lane / 4, quarter = lane % 4;
  for (int s0 = 8 * warp; s0 < n; s0 += 8 * warps) {
    int high[4] = {}, low[4] = {};
    const signed char *k = K + (i64)(s0 + r) * width + 16 * quarter;
    for (int d = 0; d < width; d += 64) {
      int4 ah = r < groups ? *(const int4 *)(query + r * width + d + 16 * quarter) : zero, al = r < groups ? *(const int4 *)(query + (groups + r) * width + d + 16 * quarter) : zero;
      split_dots(high, low, ah, al, *(const int4 *)(k + d), *(const int4 *)(k + plane + d));
    }
    for (int c = 0; c < 2; c++)
      if (r < groups && s0 + 2 * quarter + c < n) scores[r * pitch + s0 + 2 * quarter + c] = join(high[c], low[c], high[2 + c], low[2 + c]);
  }
#else
  for (int s = threadIdx.x; s < n; s += blockDim.x) {
    int sum[MAX_GROUPS] = {};
    for (int j = 0; j < dh; j++) {
      int k = 256 * K[(i64)s * width + j] + K[plane + (i64)s * width + j];
      for (int i = 0; i < groups; i++) sum[i] += (256 * query[i * width + j] + query[(groups + i) * width + j]) * k;
    }
    for (int i = 0; i < groups; i++) scores[i * pitch + s] = sum[i];
  }
#endif
  __syncthreads();
  // the probabilities, split, and zeros up to the 64 slots that p · v reads at a time: a warp a query head, which
  // needs no sync of the block (int32 is enough: e is under 2^16, Σe under 2^26)
  for (int i = warp; i < groups; i += warps) {
    int *p = scores + i * pitch, top = -0x7FFFFFFF - 1, sum = 0;
    for (int t = lane; t < n; t += 32) top = max(top, p[t]);
    for (int offset = 16; offset; offset >>= 1) top = max(top, __shfl_xor_sync(0xffffffffu, top, offset));
    for (int t = lane; t < n; t += 32) {
      int d = top - p[t], k = shift > 0 ? (d + (1 << (shift - 1)) - 1 + ((d >> shift) & 1)) >> shift : d;
      sum += p[t] = table[k < last ? k : last];
    }
    for (int offset = 16; offset; offset >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    i64 inverse = floor_div((i64)1 << 36, sum);
    for (int t = lane; t < (n + 63) / 64 * 64; t += 32)
      split(t < n ? (int)(((i64)p[t] * inverse) >> (36 - PROB_BITS)) : 0, prob + i * pitch + t, prob + (groups + i) * pitch + t);
  }
  __syncthreads();
  i64 *om = o + (i64)m * H * dh + (i64)g * groups * dh;
#if __CUDA_ARCH__ >= 800
  for (int d0 = 8 * warp; d0 < dh; d0 += 8 * warps) {
    int high[4] = {}, low[4] = {};
    const signed char *v = V + 2 * ((i64)(d0 + r) * pitch + 16 * quarter);
    for (int s0 = 0; s0 < n; s0 += 64) {
      int4 ah = r < groups ? *(const int4 *)(prob + r * pitch + s0 + 16 * quarter) : zero, al = r < groups ? *(const int4 *)(prob + (groups + r) * pitch + s0 + 16 * quarter) : zero;
      // 16 values' byte pairs, taken apart into their high bytes and their low bytes
      int4 w0 = *(const int4 *)(v + 2 * s0), w1 = *(const int4 *)(v + 2 * s0 + 16);
      int4 bh = make_int4(__byte_perm(w0.x, w0.y, 0x6420), __byte_perm(w0.z, w0.w, 0x6420), __byte_perm(w1.x, w1.y, 0x6420), __byte_perm(w1.z, w1.w, 0x6420));
      int4 bl = make_int4(__byte_perm(w0.x, w0.y, 0x7531), __byte_perm(w0.z, w0.w, 0x7531), __byte_perm(w1.x, w1.y, 0x7531), __byte_perm(w1.z, w1.w, 0x7531));
      split_dots(high, low, ah, al, bh, bl);
    }
    for (int c = 0; c < 2; c++)
      if (r < groups) om[r * dh + d0 + 2 * quarter + c] = join(high[c], low[c], high[2 + c], low[2 + c]);
  }
#else
  for (int i = threadIdx.x; i < groups * dh; i += blockDim.x) {
    int h = i / dh, j = i % dh, sum = 0;
    for (int s = 0; s < n; s++) sum += (256 * prob[h * pitch + s] + prob[(groups + h) * pitch + s]) * (256 * V[2 * ((i64)j * pitch + s)] + V[2 * ((i64)j * pitch + s) + 1]);
    om[i] = sum;
  }
#endif
}

/** One block a position: silu(gate) · up (docs/INTEGER.md, MLP) into h, then quantized into q and phi. */
extern "C" __global__ void hidden(const i64 *gate_up, i64 *h, signed char *q, i64 *phi, const i64 *sigmoid, int entries, int F, int R, int Q) {
  int m = blockIdx.x;
  const i64 *gu = gate_up + (i64)m * 2 * F;
  i64 *hm = h + (i64)m * F;
  for (int j = threadIdx.x; j < F; j += blockDim.x) {
    i64 index = clamp64(shr(gu[j], R - 8) + entries / 2, 0, entries - 1);
    hm[j] = shr(shr(gu[j] * sigmoid[index], SIG_BITS) * gu[F + j], R);
  }
  quantize_row(hm, F, q + (i64)m * F, phi + m, Q, R);
}

/** One block a predicted position: each token's weight, exp of its logit's distance below the row's largest; the
 * logits also as floats (what ranks are taken from), unless `floats` is null (the predictions stay for `code`). */
extern "C" __global__ void weigh(const int *logits, const i64 *phi, int *weights, float *floats, const i64 *exp, int entries, int V, i64 head_mult, int head_shift, int final_shift) {
  int p = blockIdx.x, last = entries - 1;
  const int *row = logits + (i64)p * V;
  i64 top = INT_MIN_64;
  for (int j = threadIdx.x; j < V; j += blockDim.x) top = max(top, (i64)row[j]);
  top = block_reduce(top, Max());
  i64 scale = shr(phi[p] * head_mult, head_shift);
  for (int j = threadIdx.x; j < V; j += blockDim.x) {
    i64 k = shr((top - row[j]) * scale, final_shift);
    weights[(i64)p * V + j] = (int)exp[k < last ? k : last];
    if (floats) floats[(i64)p * V + j] = (float)row[j];
  }
}

// ---- the exact coder (src/ranks.ts, native/ranks.c) and the mixer of versions 3 to 5 (src/mixer.ts, docs/MIXER.md) ----

#define ENTRIES 32  // a previous token's entries at most (mixer version 5, src/bias.ts)
// a prediction's question: [value or token, candidate (-1: none), x1, x2, weights if not first (4), if first (4), token
// bias slot (-1: none), its previous token's entries (count), their tokens (ENTRIES places), their c (ENTRIES)]
#define ASK (14 + 2 * ENTRIES)
// its answer: [token (-1: no interval holds the value), start, frequency, rank, x0, candidate is first, mixed, the
// entries' final frequencies (ENTRIES places)]
#define ANSWER (7 + ENTRIES)

/** squash(d) of docs/MIXER.md: 2^16 / (1 + e^(-d/256)), interpolated between its 65 values. */
__device__ __forceinline__ int squash(const int *table, i64 d) {
  int x = (int)clamp64(d, -2047, 2047) + 2048, i = x >> 6, w = x & 63;
  return (table[i] * (64 - w) + table[i + 1] * w) >> 6;
}

/**
 * Weight j of a row: times e^b_j when the row has a token bias (mixer version 4, src/bias.ts), e^(b_j + c) when j is
 * one of its previous token's entries (version 5: `entries` of them, their tokens in `entry`, their c ENTRIES on, and
 * `member` a bit a token, set for theirs), the exponent within ±4 nats: floor(w · M / 2^15).
 */
__device__ __forceinline__ i64 weight_of(const int *w, const int *bias, const int *multipliers, const unsigned *member, const int *entry, int entries, int j) {
  if (!bias) return (i64)w[j];
  int b = bias[j];
  if (entries && (member[j >> 5] >> (j & 31) & 1)) {
    int i = 0;
    while (entry[i] != j) i++;
    b = min(1 << 22, max(-(1 << 22), b + entry[ENTRIES + i]));
  }
  return ((i64)w[j] * multipliers[(b >> 12) + 1024]) >> 15;
}

/**
 * One block a prediction (the prediction `stride` · block + `offset` of the last extend): its weights (times its token
 * bias, if it has one, and its previous token's entries' e^c) become the exact coder's frequencies (1 + floor(w · (2^precision − V) / Σw) each, the rest to the first choice, in float64
 * exactly as src/ranks.ts); a planned token gets its mixed probability and the others share the rest (the mixer's
 * share); then the encoder's token gets its interval, or the decoder's value its token, and the token its rank.
 */
extern "C" __global__ void code(const int *weights, const int *logits, int *scratch, const int *asks, int *answers, const short *stretch, const int *squash_table, const int *biases, const int *multipliers, int V, int precision, int decoding, int stride, int offset) {
  extern __shared__ unsigned member[];  // a bit a token: one of the row's entries (V / 32 words, rounded up)
  __shared__ i64 budget, above;
  __shared__ int top, found, found_start;
  int b = blockIdx.x;
  i64 p = (i64)b * stride + offset, total = (i64)1 << precision;
  const int *w = weights + p * V, *ask = asks + (i64)b * ASK;
  int *f = scratch + (i64)b * V, *answer = answers + (i64)b * ANSWER;
  const int *bias = ask[12] >= 0 ? biases + (i64)ask[12] * V : NULL, entries = bias ? ask[13] : 0, *entry = ask + 14;
  if (entries) {
    for (int i = threadIdx.x; i < (V + 31) / 32; i += blockDim.x) member[i] = 0;
    __syncthreads();
    if (threadIdx.x < entries) atomicOr(&member[entry[threadIdx.x] >> 5], 1u << (entry[threadIdx.x] & 31));
    __syncthreads();
  }
  i64 sum = 0, key = -1;
  for (int j = threadIdx.x; j < V; j += blockDim.x) {
    i64 wj = weight_of(w, bias, multipliers, member, entry, entries, j);
    sum += wj;
    key = max(key, (wj << 24) | (0xFFFFFF - j));  // the largest weight, the first of equals
  }
  sum = block_reduce(sum, Sum());
  key = block_reduce(key, Max());
  double scale = (double)(total - V) / (double)sum;
  i64 used = 0;
  for (int j = threadIdx.x; j < V; j += blockDim.x) used += f[j] = 1 + (int)((double)weight_of(w, bias, multipliers, member, entry, entries, j) * scale);
  used = block_reduce(used, Sum());
  if (threadIdx.x == 0) {
    top = 0xFFFFFF - (int)(key & 0xFFFFFF);
    f[top] += (int)(total - used);
    above = 0;
  }
  __syncthreads();
  int candidate = ask[1], x0 = 0, mixed = 0;
  if (candidate >= 0) {
    int unit = precision - 16;
    x0 = stretch[min((i64)f[candidate] >> unit, (i64)65535) >> 4];
    const int *set = ask + 4 + (candidate == top ? 4 : 0);
    mixed = squash(squash_table, floor_div((i64)set[0] * x0 + (i64)set[1] * ask[2] + (i64)set[2] * ask[3] + (i64)set[3] * 256, 65536));
    __syncthreads();
    if (threadIdx.x == 0) {
      i64 share = (i64)mixed << unit, others = V - 1;
      budget = (total - share > others ? total - share : others) - others;
      above = total - f[candidate] - others;
    }
    __syncthreads();
    if (above > 0) {
      i64 rest = 0;
      double inverse = 1.0 / (double)above;
      for (int j = threadIdx.x; j < V; j += blockDim.x)
        if (j != candidate) rest += f[j] = (int)(1 + quotient((i64)(f[j] - 1) * budget, above, inverse));
      rest = block_reduce(rest, Sum());
      if (threadIdx.x == 0) f[candidate] = (int)(total - rest);
    }
    __syncthreads();
  }
  if (threadIdx.x < entries) answer[7 + threadIdx.x] = f[entry[threadIdx.x]];
  // the cumulative order: the first choice, then the others by id
  int first = f[top], token, start;
  if (!decoding) {
    token = ask[0];
    i64 before = 0;
    for (int j = threadIdx.x; j < token; j += blockDim.x) before += f[j];
    before = block_reduce(before, Sum());
    start = token == top ? 0 : (int)(first + before - (token > top ? first : 0));
  } else {
    i64 value = ask[0];
    int chunk = (V + blockDim.x - 1) / blockDim.x, lo = min(V, (int)threadIdx.x * chunk), hi = min(V, lo + chunk);
    i64 mine = 0;
    for (int j = lo; j < hi; j++) mine += j == top ? 0 : f[j];
    i64 at = first + block_exclusive_sum(mine);
    if (threadIdx.x == 0) found = value < first ? top : -1, found_start = 0;
    __syncthreads();
    if (value >= at && value < at + mine)
      for (int j = lo; j < hi; j++) {
        if (j == top) continue;
        if (value < at + f[j]) {
          found = j, found_start = (int)at;
          break;
        }
        at += f[j];
      }
    __syncthreads();
    token = found, start = found_start;
  }
  if (token < 0 || token >= V) {
    if (threadIdx.x == 0) answer[0] = -1;
    return;
  }
  const int *row = logits + p * V;
  int mark = row[token];
  i64 rank = 0;
  for (int j = threadIdx.x; j < V; j += blockDim.x) rank += row[j] > mark || (row[j] == mark && j < token);
  rank = block_reduce(rank, Sum());
  if (threadIdx.x == 0) {
    answer[0] = token, answer[1] = start, answer[2] = f[token], answer[3] = (int)rank;
    answer[4] = x0, answer[5] = candidate >= 0 && candidate == top, answer[6] = mixed;
  }
}

/**
 * The token biases learn a step (mixer version 4, src/bias.ts), after `code` answered its rows: a thread per token j
 * and a grid row per slot. b_j gains η = rate · 2^12 for each row of the slot whose token is j, and loses
 * floor(η · f_j / 2^precision) for each (f: the row's final frequencies, left in scratch by `code`); then it is
 * clamped to ±2^22. A sum of integers, so the order of the rows does not matter.
 */
extern "C" __global__ void bias_learn(const int *scratch, const int *asks, const int *answers, int *biases, const int *rates, int count, int V, int precision) {
  int j = blockIdx.x * blockDim.x + threadIdx.x, slot = blockIdx.y;
  if (j >= V) return;
  i64 eta = (i64)rates[slot] << 12, learned = 0;
  for (int r = 0; r < count; r++) {
    int token = answers[(i64)r * ANSWER];
    if (asks[(i64)r * ASK + 12] != slot || token < 0) continue;
    learned += (token == j ? eta : 0) - ((eta * scratch[(i64)r * V + j]) >> precision);
  }
  int *b = biases + (i64)slot * V + j;
  *b = (int)clamp64(*b + learned, -(1 << 22), 1 << 22);
}
