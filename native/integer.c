// The integer model of docs/INTEGER.md as a Node-API addon: the same integers as the onnxruntime graph and
// src/integer.ts, computed in one pass per layer with no operator dispatch, the keys and values kept here
// between calls. Every value is an exact integer in an int32 or int64, so any compiler and instruction set
// gives the same numbers; the dot products use the CPU's u8 × s8 instructions where it has them.
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm.h"
#include "cuda.h"
#include "model.h"
#include "napi.h"
#include "ranks.h"

// The elementwise phases are compiled for each x86-64 level too, and the loader picks the widest the CPU has.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

// ---- exact integer helpers: native/exact.h, and these ----

/**
 * A row quantized: round(127 x / a), half up, for |x| <= a = maxabs(row), as the unsigned byte q + 128 that the
 * dot products take: floor((254 x + 257 a) / 2a), a quotient in [1, 255]. A 64-bit division an element would cost
 * more than the row's dot products, so the quotient is taken in float64 (off by at most one, next to an integer)
 * and corrected exactly.
 */
static inline void quantize(const int64_t *x, int n, int64_t a, uint8_t *q) {
  int64_t d = 2 * a;
  double inverse = 1.0 / (double)d;
  for (int i = 0; i < n; i++) {
    int64_t numerator = 254 * x[i] + 257 * a, quotient = (int64_t)((double)numerator * inverse);
    quotient -= quotient * d > numerator;
    quotient += (quotient + 1) * d <= numerator;
    q[i] = (uint8_t)quotient;
  }
}
static int64_t maxabs(const int64_t *x, int n) {
  int64_t a = 1;
  for (int i = 0; i < n; i++) a = x[i] > a ? x[i] : -x[i] > a ? -x[i] : a;
  return a;
}

typedef struct {
  Model *model;
  int rows, window, pitch, threads;  // pitch: the window rounded up to 16 slots, which attention takes at a time
  // [layer][row][kv head]: keys two dimensions side by side [dh/2][pitch][2], values two slots side by side
  // [pitch/2][dh][2], so that one instruction multiplies pairs of 16-bit numbers and adds them (vpmaddwd)
  int16_t *keys, *values;
  size_t room;             // positions the work buffers below hold, grown as calls need
  int64_t *x, *phi, *out, *o;
  uint8_t *q8;
  int32_t *acc;
} Cache;

// ---- a pool of threads that share each phase of a call ----

typedef void (*Task)(void *ctx, int part, int parts);

/**
 * The process's threads: they grow to the most any cache asks for, and a call uses as many as its cache wants.
 * Phases come microseconds apart within a call, so a thread waiting for the next one (or for the others to end
 * theirs) spins a while first; then it sleeps, so that threads never hold a core that another needs (between calls,
 * or when more threads than cores run, as when several processes code at once).
 */
static struct {
  int size, parts;
  pthread_mutex_t mutex;
  pthread_cond_t wake, done;
  atomic_int generation, pending;
  Task task;
  void *ctx;
} pool = {.size = 1, .mutex = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

#define SPINS 4000  // about 40 to 200 µs, depending on the CPU's pause

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

typedef struct {
  int part, seen;
} Start;

static void *pool_worker(void *arg) {
  Start start = *(Start *)arg;
  free(arg);
  int seen = start.seen;
  for (;;) {
    for (int spin = 0; atomic_load(&pool.generation) == seen; spin++) {
      if (spin < SPINS) {
        relax();
        continue;
      }
      pthread_mutex_lock(&pool.mutex);
      while (atomic_load(&pool.generation) == seen) pthread_cond_wait(&pool.wake, &pool.mutex);
      pthread_mutex_unlock(&pool.mutex);
    }
    seen = atomic_load(&pool.generation);
    if (start.part < pool.parts) pool.task(pool.ctx, start.part, pool.parts);
    if (atomic_fetch_sub(&pool.pending, 1) == 1) {
      pthread_mutex_lock(&pool.mutex);
      pthread_cond_signal(&pool.done);
      pthread_mutex_unlock(&pool.mutex);
    }
  }
  return NULL;
}

/** Adds threads until there are `size` (called between calls only, so no generation is under way). */
static void pool_grow(int size) {
  for (; pool.size < size; pool.size++) {
    Start *start = malloc(sizeof(Start));
    *start = (Start){pool.size, atomic_load(&pool.generation)};
    pthread_t thread;
    pthread_create(&thread, NULL, pool_worker, start);
    pthread_detach(thread);
  }
}

/** Runs task(ctx, part, parts) for parts 0..parts-1, this thread taking part 0, and returns when all are done. */
static void run(Task task, void *ctx, int parts) {
  if (parts <= 1 || pool.size == 1) return task(ctx, 0, 1);
  pool.task = task;
  pool.ctx = ctx;
  pool.parts = parts < pool.size ? parts : pool.size;
  atomic_store(&pool.pending, pool.size - 1);
  pthread_mutex_lock(&pool.mutex);
  atomic_fetch_add(&pool.generation, 1);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.mutex);
  task(ctx, 0, pool.parts);
  for (int spin = 0; atomic_load(&pool.pending) > 0; spin++) {
    if (spin < SPINS) {
      relax();
      continue;
    }
    pthread_mutex_lock(&pool.mutex);
    while (atomic_load(&pool.pending) > 0) pthread_cond_wait(&pool.done, &pool.mutex);
    pthread_mutex_unlock(&pool.mutex);
  }
}

// ---- the step, phase by phase ----

static inline void share(int n, int part, int parts, int *from, int *to) {
  *from = (int)((int64_t)n * part / parts);
  *to = (int)((int64_t)n * (part + 1) / parts);
}

// The dot products take each input row as unsigned bytes (q + 128), so that they can use the CPU's u8 × s8 dot
// instructions (VNNI), and take 128 times the column's sum away after. There is a kernel for each instruction set,
// and the widest the CPU has is chosen when the first model is made: the sums are the same.
#define DOTS_ARGS const uint8_t *x, int M, int K, const int8_t *w, int N, int j0, int j1, int32_t *acc

/** acc[m][j] = Σ_k x[m][k] · w[j][k] for j in [j0, j1), w column by column ([N][K]), four rows of x at a time. */
typedef void (*Dots)(DOTS_ARGS);
static void dots_plain(DOTS_ARGS) {
  for (int jb = j0; jb < j1; jb += 32) {
    int je = jb + 32 < j1 ? jb + 32 : j1, m = 0;
    for (; m + 4 <= M; m += 4) {
      const uint8_t *x0 = x + (size_t)m * K, *x1 = x0 + K, *x2 = x1 + K, *x3 = x2 + K;
      for (int j = jb; j < je; j++) {
        const int8_t *wj = w + (size_t)j * K;
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int k = 0; k < K; k++) {
          int32_t c = wj[k];
          s0 += (int32_t)x0[k] * c;
          s1 += (int32_t)x1[k] * c;
          s2 += (int32_t)x2[k] * c;
          s3 += (int32_t)x3[k] * c;
        }
        acc[(size_t)m * N + j] = s0;
        acc[(size_t)(m + 1) * N + j] = s1;
        acc[(size_t)(m + 2) * N + j] = s2;
        acc[(size_t)(m + 3) * N + j] = s3;
      }
    }
    for (; m < M; m++) {
      const uint8_t *xm = x + (size_t)m * K;
      for (int j = jb; j < je; j++) {
        const int8_t *wj = w + (size_t)j * K;
        int32_t s = 0;
        for (int k = 0; k < K; k++) s += (int32_t)xm[k] * (int32_t)wj[k];
        acc[(size_t)m * N + j] = s;
      }
    }
  }
}

// Attention's sums over the cache's pairs (its layout: Cache), a kernel for each instruction set as the dot
// products have, chosen with them: each sum is an int32 below 2^31 in any order, so all give the same numbers.
#define SCORES_ARGS const int16_t *keys, int pitch, int dh, const int16_t *q, int groups, int n, int32_t *scores
#define SUMS_ARGS const int16_t *values, int dh, const int32_t *pairs, int n, int32_t *acc

/** scores[i · pitch + t] = Σ_j q[i · dh + j] · key(j, t) for the first n slots (at least). */
typedef void (*Scores)(SCORES_ARGS);
/** acc[j] = Σ_t p(t) · value(t, j) over the first n slots, p's pairs in `pairs` ((p(2u + 1) << 16) | p(2u)). */
typedef void (*Sums)(SUMS_ARGS);

static void scores_plain(SCORES_ARGS) {
  for (int i = 0; i < groups; i++) {
    int32_t *s = scores + (size_t)i * pitch;
    memset(s, 0, sizeof(int32_t) * n);
    for (int j = 0; j < dh; j += 2) {
      const int16_t *k = keys + (size_t)j * pitch;
      int32_t q0 = q[i * dh + j], q1 = q[i * dh + j + 1];
      for (int t = 0; t < n; t++) s[t] += k[2 * t] * q0 + k[2 * t + 1] * q1;
    }
  }
}

/** The sums of dimensions `from` to dh (the vector kernels' leftover ones, or all). */
static void sums_from(SUMS_ARGS, int from) {
  memset(acc + from, 0, sizeof(int32_t) * (dh - from));
  for (int u = 0; 2 * u < n; u++) {
    const int16_t *v = values + (size_t)u * 2 * dh;
    int32_t p0 = pairs[u] & 0xFFFF, p1 = pairs[u] >> 16;
    for (int j = from; j < dh; j++) acc[j] += v[2 * j] * p0 + v[2 * j + 1] * p1;
  }
}

static void sums_plain(SUMS_ARGS) { sums_from(values, dh, pairs, n, acc, 0); }

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
// The same sums from weights packed in panels of 16 columns ([N/16][K/4][16][4]: four k of sixteen columns
// side by side), so that one vector instruction multiplies four k of one row (broadcast) by sixteen columns and
// adds into sixteen sums at once, with no horizontal additions. Four rows share each load of the weights.
#define PACKED 16

__attribute__((target("avx512vnni,avx512bw,avx512vl,avx512f,avx2,fma"))) static void dots_vnni(DOTS_ARGS) {
  for (int j = j0; j < j1; j += PACKED) {
    const int8_t *panel = w + (size_t)j * K;
    int m = 0;
    for (; m + 4 <= M; m += 4) {
      const uint8_t *x0 = x + (size_t)m * K, *x1 = x0 + K, *x2 = x1 + K, *x3 = x2 + K;
      __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
      for (int k = 0; k < K; k += 4) {
        __m512i wk = _mm512_loadu_si512(panel + (size_t)k * PACKED);
        int32_t q0, q1, q2, q3;
        memcpy(&q0, x0 + k, 4), memcpy(&q1, x1 + k, 4), memcpy(&q2, x2 + k, 4), memcpy(&q3, x3 + k, 4);
        a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(q0), wk);
        a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(q1), wk);
        a2 = _mm512_dpbusd_epi32(a2, _mm512_set1_epi32(q2), wk);
        a3 = _mm512_dpbusd_epi32(a3, _mm512_set1_epi32(q3), wk);
      }
      _mm512_storeu_si512(acc + (size_t)m * N + j, a0);
      _mm512_storeu_si512(acc + (size_t)(m + 1) * N + j, a1);
      _mm512_storeu_si512(acc + (size_t)(m + 2) * N + j, a2);
      _mm512_storeu_si512(acc + (size_t)(m + 3) * N + j, a3);
    }
    for (; m < M; m++) {
      const uint8_t *xm = x + (size_t)m * K;
      __m512i a = _mm512_setzero_si512();
      for (int k = 0; k < K; k += 4) {
        int32_t q;
        memcpy(&q, xm + k, 4);
        a = _mm512_dpbusd_epi32(a, _mm512_set1_epi32(q), _mm512_loadu_si512(panel + (size_t)k * PACKED));
      }
      _mm512_storeu_si512(acc + (size_t)m * N + j, a);
    }
  }
}

/** AVX2 has no VNNI: u8 × s8 pairs add in 16 bits (vpmaddubsw), which 7-bit weights keep below 2^15, then in 32. */
__attribute__((target("avx2,fma"))) static inline __m256i dot4_avx2(__m256i a, __m256i x, __m256i w) {
  return _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), _mm256_set1_epi16(1)));
}

__attribute__((target("avx2,fma"))) static void dots_avx2(DOTS_ARGS) {
  for (int j = j0; j < j1; j += PACKED) {
    const int8_t *panel = w + (size_t)j * K;
    int m = 0;
    for (; m + 4 <= M; m += 4) {
      const uint8_t *x0 = x + (size_t)m * K, *x1 = x0 + K, *x2 = x1 + K, *x3 = x2 + K;
      __m256i l0 = _mm256_setzero_si256(), l1 = l0, l2 = l0, l3 = l0, h0 = l0, h1 = l0, h2 = l0, h3 = l0;
      for (int k = 0; k < K; k += 4) {
        __m256i lo = _mm256_loadu_si256((const __m256i *)(panel + (size_t)k * PACKED));
        __m256i hi = _mm256_loadu_si256((const __m256i *)(panel + (size_t)k * PACKED + 32));
        int32_t q0, q1, q2, q3;
        memcpy(&q0, x0 + k, 4), memcpy(&q1, x1 + k, 4), memcpy(&q2, x2 + k, 4), memcpy(&q3, x3 + k, 4);
        __m256i b0 = _mm256_set1_epi32(q0), b1 = _mm256_set1_epi32(q1), b2 = _mm256_set1_epi32(q2), b3 = _mm256_set1_epi32(q3);
        l0 = dot4_avx2(l0, b0, lo), h0 = dot4_avx2(h0, b0, hi);
        l1 = dot4_avx2(l1, b1, lo), h1 = dot4_avx2(h1, b1, hi);
        l2 = dot4_avx2(l2, b2, lo), h2 = dot4_avx2(h2, b2, hi);
        l3 = dot4_avx2(l3, b3, lo), h3 = dot4_avx2(h3, b3, hi);
      }
      __m256i *out = (__m256i *)(acc + (size_t)m * N + j);
      _mm256_storeu_si256(out, l0), _mm256_storeu_si256(out + 1, h0);
      out = (__m256i *)(acc + (size_t)(m + 1) * N + j);
      _mm256_storeu_si256(out, l1), _mm256_storeu_si256(out + 1, h1);
      out = (__m256i *)(acc + (size_t)(m + 2) * N + j);
      _mm256_storeu_si256(out, l2), _mm256_storeu_si256(out + 1, h2);
      out = (__m256i *)(acc + (size_t)(m + 3) * N + j);
      _mm256_storeu_si256(out, l3), _mm256_storeu_si256(out + 1, h3);
    }
    for (; m < M; m++) {
      const uint8_t *xm = x + (size_t)m * K;
      __m256i lo = _mm256_setzero_si256(), hi = lo;
      for (int k = 0; k < K; k += 4) {
        int32_t q;
        memcpy(&q, xm + k, 4);
        __m256i b = _mm256_set1_epi32(q);
        lo = dot4_avx2(lo, b, _mm256_loadu_si256((const __m256i *)(panel + (size_t)k * PACKED)));
        hi = dot4_avx2(hi, b, _mm256_loadu_si256((const __m256i *)(panel + (size_t)k * PACKED + 32)));
      }
      _mm256_storeu_si256((__m256i *)(acc + (size_t)m * N + j), lo);
      _mm256_storeu_si256((__m256i *)(acc + (size_t)m * N + j) + 1, hi);
    }
  }
}

// Attention with AVX-512's VNNI (vpdpwssd: sixteen sums of two 16-bit products and an addend) and with AVX2
// (vpmaddwd, then an addition): a key load serves up to four query heads, a broadcast of two probabilities a slot
// pair of sixteen or eight dimensions. Scores are taken for whole vectors of slots (the pitch is a multiple of 16);
// dimensions past a multiple of the width go the plain way.
#define ATTENTION_KERNELS(NAME, TARGET, VEC, WIDTH, ZERO, LOAD, STORE, SET1, MADD_ADD)                                       \
  __attribute__((target(TARGET))) static void scores_##NAME(SCORES_ARGS) {                                                   \
    for (int i0 = 0; i0 < groups; i0 += 4) {                                                                                 \
      int heads = groups - i0 < 4 ? groups - i0 : 4;                                                                        \
      for (int t = 0; t < n; t += WIDTH) {                                                                                   \
        VEC a0 = ZERO, a1 = ZERO, a2 = ZERO, a3 = ZERO;                                                                      \
        for (int j = 0; j < dh; j += 2) {                                                                                    \
          VEC k = LOAD(keys + ((size_t)j * pitch + 2 * t));                                                                  \
          const int16_t *qj = q + i0 * dh + j;                                                                               \
          int32_t pair;                                                                                                      \
          memcpy(&pair, qj, 4), a0 = MADD_ADD(a0, k, SET1(pair));                                                            \
          if (heads > 1) memcpy(&pair, qj + dh, 4), a1 = MADD_ADD(a1, k, SET1(pair));                                        \
          if (heads > 2) memcpy(&pair, qj + 2 * dh, 4), a2 = MADD_ADD(a2, k, SET1(pair));                                    \
          if (heads > 3) memcpy(&pair, qj + 3 * dh, 4), a3 = MADD_ADD(a3, k, SET1(pair));                                    \
        }                                                                                                                    \
        int32_t *s = scores + (size_t)i0 * pitch + t;                                                                        \
        STORE(s, a0);                                                                                                        \
        if (heads > 1) STORE(s + pitch, a1);                                                                                 \
        if (heads > 2) STORE(s + 2 * pitch, a2);                                                                             \
        if (heads > 3) STORE(s + 3 * pitch, a3);                                                                             \
      }                                                                                                                      \
    }                                                                                                                        \
  }                                                                                                                          \
  __attribute__((target(TARGET))) static void sums_##NAME(SUMS_ARGS) {                                                       \
    int j0 = 0;                                                                                                              \
    for (; j0 + 4 * WIDTH <= dh; j0 += 4 * WIDTH) {                                                                          \
      VEC a0 = ZERO, a1 = ZERO, a2 = ZERO, a3 = ZERO;                                                                        \
      for (int u = 0; 2 * u < n; u++) {                                                                                      \
        const int16_t *v = values + ((size_t)u * dh + j0) * 2;                                                               \
        VEC p = SET1(pairs[u]);                                                                                              \
        a0 = MADD_ADD(a0, LOAD(v), p), a1 = MADD_ADD(a1, LOAD(v + 2 * WIDTH), p);                                            \
        a2 = MADD_ADD(a2, LOAD(v + 4 * WIDTH), p), a3 = MADD_ADD(a3, LOAD(v + 6 * WIDTH), p);                                \
      }                                                                                                                      \
      STORE(acc + j0, a0), STORE(acc + j0 + WIDTH, a1), STORE(acc + j0 + 2 * WIDTH, a2), STORE(acc + j0 + 3 * WIDTH, a3);    \
    }                                                                                                                        \
    for (; j0 + WIDTH <= dh; j0 += WIDTH) {                                                                                  \
      VEC a = ZERO;                                                                                                          \
      for (int u = 0; 2 * u < n; u++) a = MADD_ADD(a, LOAD(values + ((size_t)u * dh + j0) * 2), SET1(pairs[u]));             \
      STORE(acc + j0, a);                                                                                                    \
    }                                                                                                                        \
    if (j0 < dh) sums_from(values, dh, pairs, n, acc, j0);                                                                   \
  }

#define VNNI_TARGET "avx512vnni,avx512bw,avx512vl,avx512f,avx2,fma"
__attribute__((target(VNNI_TARGET))) static inline __m512i dpwssd_vnni(__m512i a, __m512i x, __m512i y) { return _mm512_dpwssd_epi32(a, x, y); }
__attribute__((target("avx2,fma"))) static inline __m256i dpwssd_avx2(__m256i a, __m256i x, __m256i y) { return _mm256_add_epi32(a, _mm256_madd_epi16(x, y)); }
#define LOAD512(p) _mm512_loadu_si512((const void *)(p))
#define STORE512(p, v) _mm512_storeu_si512((void *)(p), v)
#define LOAD256(p) _mm256_loadu_si256((const __m256i *)(p))
#define STORE256(p, v) _mm256_storeu_si256((__m256i *)(p), v)
ATTENTION_KERNELS(vnni, VNNI_TARGET, __m512i, 16, _mm512_setzero_si512(), LOAD512, STORE512, _mm512_set1_epi32, dpwssd_vnni)
ATTENTION_KERNELS(avx2, "avx2,fma", __m256i, 8, _mm256_setzero_si256(), LOAD256, STORE256, _mm256_set1_epi32, dpwssd_avx2)

/**
 * The kernel for this CPU: LLMC_NATIVE_KERNEL (plain, avx2 or vnni) if set, as the tests do to hold each to the
 * others, else the widest the CPU has; NULL if the one asked for does not run here. Packing 0 is the plain
 * kernel's column by column. Its attention's sums go into *scores and *sums.
 */
static Dots kernels_for_cpu(int *packing, const char **name, Scores *scores, Sums *sums) {
  __builtin_cpu_init();
  const char *asked = getenv("LLMC_NATIVE_KERNEL");
  bool vnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  bool avx2 = __builtin_cpu_supports("avx2");
  if (!asked || !*asked) asked = vnni ? "vnni" : avx2 ? "avx2" : "plain";
  *name = asked;
  *packing = PACKED;
  if (!strcmp(asked, "vnni") && vnni) return *scores = scores_vnni, *sums = sums_vnni, dots_vnni;
  if (!strcmp(asked, "avx2") && avx2) return *scores = scores_avx2, *sums = sums_avx2, dots_avx2;
  *packing = 0;
  *scores = scores_plain, *sums = sums_plain;
  return strcmp(asked, "plain") ? NULL : dots_plain;
}
#else
static Dots kernels_for_cpu(int *packing, const char **name, Scores *scores, Sums *sums) {
  const char *asked = getenv("LLMC_NATIVE_KERNEL");
  *packing = 0;
  *name = "plain";
  *scores = scores_plain, *sums = sums_plain;
  return asked && *asked && strcmp(asked, "plain") ? NULL : dots_plain;
}
#endif
static Dots dots;
static Scores scores;
static Sums sums;
static int packing;            // the panel width of the packed kernels, or 0 for the plain one
static const char *kernel_name;

/** The positions of one call and where their numbers go. */
typedef struct {
  Cache *cache;
  const Model *model;
  const int32_t *ids;
  int length, start, predict, M, layer;  // M = rows · length positions, row-major
  int predicted;                        // rows · predict: the positions whose next token is predicted
  int64_t *x;                           // [M][D]: the residual stream, units of 2^-R
  uint8_t *q8;                          // a quantized row a position (q + 128), as wide as the next linear's input
  int64_t *phi;                         // its factor
  int32_t *acc;                         // the dot products of the linear under way
  int64_t *out;                         // [M][N]: its output
  int64_t *o;                           // [M][max(H · dh, F)]: attention's output, or the MLP's hidden row
  const Linear *linear;
  const int64_t *gain;
  float *logits;
  int32_t *weights;
} Call;

CLONES static void embed_task(void *ctx, int part, int parts) {
  Call *c = ctx;
  const Model *md = c->model;
  int from, to;
  share(c->M, part, parts, &from, &to);
  for (int m = from; m < to; m++) {
    const uint8_t *e = md->embedding + (size_t)c->ids[m] * md->D;
    for (int i = 0; i < md->D; i++) c->x[(size_t)m * md->D + i] = shr(((int64_t)e[i] - md->emb_zero) * md->emb_mult, md->emb_shift);
  }
}

/** RMSNorm with its gain, quantized: q8 and phi of one row (docs/INTEGER.md, normq). */
static inline void normq_row(const Model *md, const int64_t *x, const int64_t *gain, uint8_t *q, int64_t *phi) {
  int D = md->D;
  int64_t xg[D], ss = 0;
  for (int i = 0; i < D; i++) {
    xg[i] = shr(x[i] * gain[i], GAIN_BITS);
    ss += x[i] * x[i];
  }
  int64_t a = maxabs(xg, D), ms = floor_div(ss, D) + md->eps;
  int bits = ms > 0 ? 64 - __builtin_clzll((uint64_t)ms) : 0;
  int e = ((bits > 12 ? bits : 12) - 11) / 2;
  quantize(xg, D, a, q);
  *phi = rdiv(a * md->rsqrt[ms >> (2 * e)], 127 * ((int64_t)1 << (RSQRT_BITS + e - md->Q)));
}

CLONES static void normq_task(void *ctx, int part, int parts) {
  Call *c = ctx;
  int from, to, D = c->model->D;
  share(c->M, part, parts, &from, &to);
  for (int m = from; m < to; m++) normq_row(c->model, c->x + (size_t)m * D, c->gain, c->q8 + (size_t)m * D, &c->phi[m]);
}

/** x += the last linear's output (D wide), then normq: one phase for what would be two. */
CLONES static void add_normq_task(void *ctx, int part, int parts) {
  Call *c = ctx;
  int from, to, D = c->model->D;
  share(c->M, part, parts, &from, &to);
  for (int m = from; m < to; m++) {
    int64_t *x = c->x + (size_t)m * D;
    const int64_t *out = c->out + (size_t)m * D;
    for (int i = 0; i < D; i++) x[i] += out[i];
    normq_row(c->model, x, c->gain, c->q8 + (size_t)m * D, &c->phi[m]);
  }
}

/** This part's share of a run of n columns, in blocks of 32. */
static int columns(int n, int part, int parts, int *j0, int *j1) {
  share((n + 31) / 32, part, parts, j0, j1);
  *j0 *= 32;
  *j1 = *j1 * 32 < n ? *j1 * 32 : n;
  return *j0 < *j1;
}

/** out = shr(shr(acc · mult, s1) · phi, s2), this part's columns. */
CLONES static void linear_task(void *ctx, int part, int parts) {
  Call *c = ctx;
  const Linear *lin = c->linear;
  int j0, j1, N = lin->N;
  if (!columns(N, part, parts, &j0, &j1)) return;
  dots(c->q8, c->M, lin->K, lin->w, N, j0, j1, c->acc);
  for (int m = 0; m < c->M; m++) {
    const int32_t *a = c->acc + (size_t)m * N;
    int64_t *out = c->out + (size_t)m * N, phi = c->phi[m];
    for (int j = j0; j < j1; j++) out[j] = shr(shr((int64_t)(a[j] - lin->sums[j]) * lin->mult[j], lin->s1) * phi, lin->s2);
  }
}

/** Rotary embedding of one head's vector, scaled and clipped to the operand range. */
static inline void rotate(const Model *md, const int64_t *v, int position, int shift, int16_t *out) {
  int half = md->dh / 2;
  const int64_t *cs = md->cos + (size_t)position * half, *sn = md->sin + (size_t)position * half;
  for (int j = 0; j < md->dh; j++) {
    int p = j % half;
    int64_t r = j < half ? v[j] * cs[p] - v[j + half] * sn[p] : v[j] * cs[p] + v[j - half] * sn[p];
    out[j] = (int16_t)clamp64(shr(r, TRIG_BITS + shift), -Q_LIMIT, Q_LIMIT);
  }
}

/** Where a row's key head `kv` starts in a layer's keys or values (Cache: pitch · dh numbers each). */
static inline size_t head_of(const Cache *cache, int layer, int row, int kv) {
  const Model *md = cache->model;
  return (((size_t)layer * cache->rows + row) * md->Hk + kv) * cache->pitch * md->dh;
}

/** The new positions' keys and values into their slots. */
CLONES static void store_task(void *ctx, int part, int parts) {
  Call *c = ctx;
  const Model *md = c->model;
  const Layer *ly = &md->layers[c->layer];
  int from, to, N = ly->qkv.N;
  share(c->M, part, parts, &from, &to);
  for (int m = from; m < to; m++) {
    int row = m / c->length, position = c->start + m % c->length;
    const int64_t *qkv = c->out + (size_t)m * N;
    for (int h = 0; h < md->Hk; h++) {
      size_t at = head_of(c->cache, c->layer, row, h);
      int16_t key[md->dh], *keys = c->cache->keys + at, *v = c->cache->values + at + (size_t)(position / 2) * 2 * md->dh + position % 2;
      rotate(md, qkv + (size_t)(md->H + h) * md->dh, position, ly->sk, key);
      for (int j = 0; j < md->dh; j++) keys[((size_t)(j / 2) * c->cache->pitch + position) * 2 + j % 2] = key[j];
      const int64_t *vs = qkv + (size_t)(md->H + md->Hk + h) * md->dh;
      for (int j = 0; j < md->dh; j++) v[2 * j] = (int16_t)clamp64(shr(vs[j], ly->sv), -V_LIMIT, V_LIMIT);
    }
  }
}

/**
 * Each position's heads attend to its row's slots up to its own; o, quantized, into q8 and phi. The heads that
 * share a key head are scored together, over the cache's pairs (Cache) by this CPU's kernel (`scores`, `sums`).
 */
CLONES static void attend_task(void *ctx, int part, int parts) {
  Call *c = ctx;
  const Model *md = c->model;
  const Layer *ly = &md->layers[c->layer];
  int from, to, N = ly->qkv.N, dh = md->dh, groups = md->H / md->Hk, HD = md->H * dh, last = md->n_attn_exp - 1, pitch = c->cache->pitch;
  share(c->M, part, parts, &from, &to);
  int32_t scored[groups][pitch], e[pitch], p[pitch + 1], pairs[pitch / 2], acc[dh], s = ly->attn_shift;
  int16_t q[groups][dh];
  for (int m = from; m < to; m++) {
    int row = m / c->length, position = c->start + m % c->length, n = position + 1;
    int64_t *o = c->o + (size_t)m * HD;
    for (int g = 0; g < md->Hk; g++) {
      size_t at = head_of(c->cache, c->layer, row, g);
      for (int i = 0; i < groups; i++) rotate(md, c->out + (size_t)m * N + (size_t)(g * groups + i) * dh, position, ly->sq, q[i]);
      scores(c->cache->keys + at, pitch, dh, &q[0][0], groups, n, &scored[0][0]);
      for (int i = 0; i < groups; i++) {
        int32_t top = INT32_MIN, *si = scored[i], sum = 0;
        for (int t = 0; t < n; t++) top = si[t] > top ? si[t] : top;
        // in 32 bits, so these loops vectorise: a score's distance below the top is under 2^26, e under 2^16, Σe under 2^26
        for (int t = 0; t < n; t++) {
          int32_t d = top - si[t], k = s > 0 ? (d + (1 << (s - 1)) - 1 + ((d >> s) & 1)) >> s : d;
          sum += e[t] = md->attn_exp[k < last ? k : last];
        }
        int64_t inv = floor_div((int64_t)1 << 36, sum);
        for (int t = 0; t < n; t++) p[t] = (int32_t)((e[t] * inv) >> (36 - PROB_BITS));
        p[n] = 0;  // the pair of an odd n's last slot
        for (int u = 0; 2 * u < n; u++) pairs[u] = p[2 * u + 1] << 16 | p[2 * u];  // p <= 2^PROB_BITS: 16 bits each
        sums(c->cache->values + at, dh, pairs, n, acc);
        for (int j = 0; j < dh; j++) o[(g * groups + i) * dh + j] = acc[j];
      }
    }
    int64_t a = maxabs(o, HD);
    quantize(o, HD, a, c->q8 + (size_t)m * HD);
    c->phi[m] = rdiv(a << md->Q, 127 * ((int64_t)1 << (PROB_BITS + md->R - ly->sv)));
  }
}

/** silu(gate) · up, quantized, into q8 and phi. */
CLONES static void hidden_task(void *ctx, int part, int parts) {
  Call *c = ctx;
  const Model *md = c->model;
  int from, to, F = md->F, R = md->R;
  share(c->M, part, parts, &from, &to);
  for (int m = from; m < to; m++) {
    const int64_t *gu = c->out + (size_t)m * 2 * F;
    int64_t *h = c->o + (size_t)m * F;
    for (int j = 0; j < F; j++) {
      int64_t index = clamp64(shr(gu[j], R - 8) + md->n_sigmoid / 2, 0, md->n_sigmoid - 1);
      h[j] = shr(shr(gu[j] * md->sigmoid[index], SIG_BITS) * gu[F + j], R);
    }
    int64_t a = maxabs(h, F);
    quantize(h, F, a, c->q8 + (size_t)m * F);
    c->phi[m] = rdiv(a << md->Q, 127 * ((int64_t)1 << R));
  }
}

/** The last layer's output added to the positions to predict after, and their final normq, into the first rows of q8 and phi. */
CLONES static void final_task(void *ctx, int part, int parts) {
  Call *c = ctx;
  const Model *md = c->model;
  int from, to;
  share(c->predicted, part, parts, &from, &to);
  for (int p = from; p < to; p++) {
    int m = (p / c->predict) * c->length + c->length - c->predict + p % c->predict;
    int64_t *x = c->x + (size_t)m * md->D;
    const int64_t *out = c->out + (size_t)m * md->D;
    for (int i = 0; i < md->D; i++) x[i] += out[i];
    normq_row(md, x, md->gain_final, c->q8 + (size_t)p * md->D, &c->phi[p]);
  }
}

/** The head's sums of this part's columns, as integer logits (into weights, which weights_task then rewrites). */
CLONES static void head_task(void *ctx, int part, int parts) {
  Call *c = ctx;
  const Linear *hd = &c->model->head;
  int j0, j1, V = hd->N;
  if (!columns(V, part, parts, &j0, &j1)) return;
  dots(c->q8, c->predicted, hd->K, hd->w, V, j0, j1, c->acc);
  for (int p = 0; p < c->predicted; p++)
    for (int j = j0; j < j1; j++) c->weights[(size_t)p * V + j] = (int32_t)shr((int64_t)(c->acc[(size_t)p * V + j] - hd->sums[j]) * hd->mult[j], hd->s1);
}

/** Each predicted position's weights: exp of each logit's distance below the row's largest. */
CLONES static void weights_task(void *ctx, int part, int parts) {
  Call *c = ctx;
  const Model *md = c->model;
  int from, to, V = md->V, last = md->n_head_exp - 1;
  share(c->predicted, part, parts, &from, &to);
  for (int p = from; p < to; p++) {
    int32_t *w = c->weights + (size_t)p * V, top = INT32_MIN;
    float *logits = c->logits + (size_t)p * V;
    for (int j = 0; j < V; j++) top = w[j] > top ? w[j] : top;
    int64_t scale = shr(c->phi[p] * md->head_mult, md->head_shift);
    // three loops, each of which the compiler vectorises (together, with a float store among 64-bit integers, none)
    for (int j = 0; j < V; j++) logits[j] = (float)w[j];
    const int64_t *table = md->head_exp;
    int shift = md->final_shift;
    for (int j = 0; j < V; j++) {
      int64_t k = shr(((int64_t)top - w[j]) * scale, shift);
      w[j] = (int32_t)table[k < last ? k : last];
    }
  }
}

/** Grows the cache's work buffers to hold n positions. */
static void make_room(Cache *cache, size_t n) {
  if (n <= cache->room) return;
  const Model *md = cache->model;
  size_t wide = md->F > md->H * md->dh ? md->F : md->H * md->dh, most = 2 * md->F;
  if ((size_t)md->layers[0].qkv.N > most) most = md->layers[0].qkv.N;
  free(cache->x), free(cache->phi), free(cache->out), free(cache->o), free(cache->q8), free(cache->acc);
  cache->x = malloc(sizeof(int64_t) * n * md->D);
  cache->phi = malloc(sizeof(int64_t) * n);
  cache->out = malloc(sizeof(int64_t) * n * most);
  cache->o = malloc(sizeof(int64_t) * n * wide);
  cache->q8 = malloc(n * wide);
  cache->acc = malloc(sizeof(int32_t) * n * (most > (size_t)md->V ? most : (size_t)md->V));
  cache->room = n;
}

static void phase(Call *c, Task task) { run(task, c, c->cache->threads); }

static void linear(Call *c, const Linear *lin) {
  c->linear = lin;
  phase(c, linear_task);
}

/** Runs `length` tokens a row at positions start.. (start 0 empties the cache) and predicts after the last `predict`. */
static const char *extend(Cache *cache, const int32_t *ids, int length, int start, int predict, float *logits, int32_t *weights) {
  const Model *md = cache->model;
  if (length < 1 || start < 0 || start + length > cache->window) return "the positions run past the cache's window";
  if (predict < 1 || predict > length) return "predict must be between 1 and the positions fed";
  int M = cache->rows * length;
  for (int i = 0; i < M; i++)
    if (ids[i] < 0 || ids[i] >= md->V) return "a token id is outside the model's vocabulary";
  make_room(cache, (size_t)M);
  Call c = {.cache = cache, .model = md, .ids = ids, .length = length, .start = start, .predict = predict, .M = M, .predicted = cache->rows * predict, .x = cache->x, .q8 = cache->q8, .phi = cache->phi, .acc = cache->acc, .out = cache->out, .o = cache->o, .logits = logits, .weights = weights};
  phase(&c, embed_task);
  for (c.layer = 0; c.layer < md->L; c.layer++) {
    const Layer *ly = &md->layers[c.layer];
    c.gain = ly->gain1;
    phase(&c, c.layer ? add_normq_task : normq_task);
    linear(&c, &ly->qkv);
    phase(&c, store_task);
    phase(&c, attend_task);
    linear(&c, &ly->o);
    c.gain = ly->gain2;
    phase(&c, add_normq_task);
    linear(&c, &ly->gate_up);
    phase(&c, hidden_task);
    linear(&c, &ly->down);
  }
  phase(&c, final_task);
  phase(&c, head_task);
  phase(&c, weights_task);
  return NULL;
}

// ---- Node-API: reading the model's description, and the calls ----

#define CHECK(call)                                   \
  do {                                                \
    if ((call) != napi_ok) return fail(env, #call); \
  } while (0)

static napi_value field(napi_env env, napi_value obj, const char *name) {
  napi_value v;
  return napi_get_named_property(env, obj, name, &v) == napi_ok ? v : NULL;
}

/** A typed array's data and length, if it is one of the type wanted; else a thrown error. */
static void *typed(napi_env env, napi_value v, napi_typedarray_type want, size_t *length) {
  void *data = typed_array(env, v, want, length);
  return data ? data : fail(env, "integer model: a typed array of the right type was expected");
}

/** A copy of a Float64Array of integers. */
static int64_t *integers(napi_env env, napi_value v, size_t *length) {
  size_t n;
  double *d = typed(env, v, napi_float64_array, &n);
  if (!d) return NULL;
  int64_t *out = malloc(sizeof(int64_t) * (n ? n : 1));
  for (size_t i = 0; i < n; i++) {
    if (d[i] != (double)(int64_t)d[i]) return free(out), fail(env, "integer model: a constant is not an integer");
    out[i] = (int64_t)d[i];
  }
  if (length) *length = n;
  return out;
}

/** An int8 matrix [K, N] (row-major) brought to 7 bits a column and stored column by column (docs/INTEGER.md, "Weights"). */
static void seven_bits(const int8_t *w, int K, int N, int8_t *out, int at, int stride) {
  for (int j = 0; j < N; j++) {
    int64_t peak = 63;
    for (int i = 0; i < K; i++) peak = abs(w[(size_t)i * N + j]) > peak ? abs(w[(size_t)i * N + j]) : peak;
    for (int i = 0; i < K; i++) out[(size_t)(at + j) * stride + i] = (int8_t)(floor_div(126 * w[(size_t)i * N + j] + 129 * peak, 2 * peak) - 64);
  }
}

/** Packs a linear's columns ([N][K]) in panels of `packing` columns, four k of each side by side. */
static void pack(Linear *lin) {
  int K = lin->K, P = packing;
  int8_t *panels = malloc((size_t)lin->N * K);
  for (int j = 0; j < lin->N; j++)
    for (int k = 0; k < K; k++) panels[(size_t)(j / P) * P * K + (size_t)(k / 4) * P * 4 + (j % P) * 4 + k % 4] = lin->w[(size_t)j * K + k];
  free(lin->w);
  lin->w = panels;
  lin->packed = P;
}

/** A linear layer: { mats: Int8Array[] of [K, N_i], shape: [K, s1, s2, N_1, N_2, ...], mult: one a column }. */
static bool read_linear(napi_env env, napi_value v, Linear *lin) {
  size_t n, count;
  int64_t *shape = integers(env, field(env, v, "shape"), &n);
  if (!shape) return false;
  lin->K = (int)shape[0], lin->s1 = (int)shape[1], lin->s2 = (int)shape[2], lin->N = 0;
  for (size_t i = 3; i < n; i++) lin->N += (int)shape[i];
  lin->mult = integers(env, field(env, v, "mult"), &count);
  if (!lin->mult) return false;
  if (count != (size_t)lin->N) return fail(env, "integer model: a linear's multipliers do not match its columns"), false;
  lin->w = malloc((size_t)lin->K * lin->N);
  napi_value mats = field(env, v, "mats");
  for (size_t i = 3, at = 0; i < n; at += shape[i], i++) {
    napi_value m;
    size_t length;
    if (napi_get_element(env, mats, (uint32_t)(i - 3), &m) != napi_ok) return fail(env, "integer model: a matrix is missing"), false;
    int8_t *w = typed(env, m, napi_int8_array, &length);
    if (!w || length != (size_t)lin->K * shape[i]) return fail(env, "integer model: a matrix has the wrong size"), false;
    seven_bits(w, lin->K, (int)shape[i], lin->w, (int)at, lin->K);
  }
  lin->sums = calloc(lin->N, sizeof(int32_t));
  for (int j = 0; j < lin->N; j++)
    for (int k = 0; k < lin->K; k++) lin->sums[j] += 128 * lin->w[(size_t)j * lin->K + k];
  free(shape);
  if (packing && (lin->N % packing || lin->K % 4)) return fail(env, "integer model: a matrix's shape does not fit the packed kernel"), false;
  if (packing) pack(lin);
  return true;
}

static void free_nothing(napi_env env, void *data, void *hint) { (void)env, (void)data, (void)hint; }

/** Lets go of a cache's memory (it can hold hundreds of MB) and leaves it empty: a later extend refuses it. */
static void release(Cache *cache) {
  free(cache->keys), free(cache->values);
  free(cache->x), free(cache->phi), free(cache->out), free(cache->o), free(cache->q8), free(cache->acc);
  cache->keys = cache->values = NULL, cache->x = cache->phi = cache->out = cache->o = NULL, cache->q8 = NULL, cache->acc = NULL;
  cache->room = 0;
}

static void free_cache(napi_env env, void *data, void *hint) {
  release(data);
  free(data);
  (void)env, (void)hint;
}

/**
 * One call at a time into the pool, whichever JavaScript thread makes it. A cache of one thread never uses the pool
 * (its work buffers are its own), so its calls run beside any other's: llmc -j's workers.
 */
static pthread_mutex_t calls = PTHREAD_MUTEX_INITIALIZER;

/**
 * model(spec): the model that spec describes (src/native.ts builds it from integer.json and the weights). A model
 * lives as long as the process: it is made once per model folder.
 */
static napi_value js_model(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value spec, out;
  CHECK(napi_get_cb_info(env, info, &argc, &spec, NULL, NULL));
  pthread_mutex_lock(&calls);  // worker threads may make their models at once
  if (!dots) dots = kernels_for_cpu(&packing, &kernel_name, &scores, &sums);
  pthread_mutex_unlock(&calls);
  if (!dots) return fail(env, "integer model: LLMC_NATIVE_KERNEL asks for a kernel this CPU does not run (plain, avx2 or vnni)");
  Model *md = calloc(1, sizeof(Model));
  size_t n;
  int64_t *dims = integers(env, field(env, spec, "dims"), &n);
  if (!dims) return NULL;
  if (n != 18) return fail(env, "integer model: dims must have 18 numbers");
  md->D = (int)dims[0], md->H = (int)dims[1], md->Hk = (int)dims[2], md->dh = (int)dims[3], md->F = (int)dims[4], md->V = (int)dims[5];
  md->L = (int)dims[6], md->positions = (int)dims[7], md->R = (int)dims[8], md->Q = (int)dims[9], md->eps = dims[10];
  md->emb_zero = dims[11], md->emb_mult = dims[12], md->emb_shift = (int)dims[13];
  md->head_mult = dims[14], md->head_shift = (int)dims[15], md->final_shift = (int)dims[16];
  int column_shift = (int)dims[17];
  free(dims);
  size_t ns;
  // normq's index into rsqrt is below 4096 (docs/INTEGER.md: m < 4096)
  if (!(md->rsqrt = integers(env, field(env, spec, "rsqrt"), &ns)) || ns < 4096) return fail(env, "integer model: the rsqrt table is short");
  int64_t *attn_exp = integers(env, field(env, spec, "attnExp"), &ns);
  if (!attn_exp) return NULL;
  md->n_attn_exp = (int)ns;
  md->attn_exp = malloc(sizeof(int32_t) * ns);
  for (size_t i = 0; i < ns; i++) {
    if (attn_exp[i] < 0 || attn_exp[i] > 1 << 16) return fail(env, "integer model: the attention table is out of range");
    md->attn_exp[i] = (int32_t)attn_exp[i];
  }
  free(attn_exp);
  if (!(md->head_exp = integers(env, field(env, spec, "headExp"), &ns))) return NULL;
  md->n_head_exp = (int)ns;
  if (!(md->sigmoid = integers(env, field(env, spec, "sigmoid"), &ns))) return NULL;
  md->n_sigmoid = (int)ns;
  if (!(md->cos = integers(env, field(env, spec, "cos"), &ns)) || ns != (size_t)md->positions * md->dh / 2) return fail(env, "integer model: cos has the wrong size");
  if (!(md->sin = integers(env, field(env, spec, "sin"), &ns)) || ns != (size_t)md->positions * md->dh / 2) return fail(env, "integer model: sin has the wrong size");
  if (!(md->gain_final = integers(env, field(env, spec, "gainFinal"), &ns)) || ns != (size_t)md->D) return fail(env, "integer model: the final gain has the wrong size");
  uint8_t *emb = typed(env, field(env, spec, "embedding"), napi_uint8_array, &ns);
  if (!emb || ns != (size_t)md->V * md->D) return fail(env, "integer model: the embedding has the wrong size");
  md->embedding = malloc(ns);
  memcpy(md->embedding, emb, ns);
  if (!read_linear(env, field(env, spec, "head"), &md->head)) return NULL;
  if (md->head.K != md->D || md->head.N != md->V) return fail(env, "integer model: the head has the wrong shape");
  md->head.s1 = column_shift;
  md->layers = calloc(md->L, sizeof(Layer));
  napi_value layers = field(env, spec, "layers");
  for (int l = 0; l < md->L; l++) {
    napi_value v;
    Layer *ly = &md->layers[l];
    if (napi_get_element(env, layers, l, &v) != napi_ok) return fail(env, "integer model: a layer is missing");
    int64_t *shifts = integers(env, field(env, v, "shifts"), &ns);
    if (!shifts || ns != 4) return fail(env, "integer model: a layer's shifts are not four");
    ly->sq = (int)shifts[0], ly->sk = (int)shifts[1], ly->sv = (int)shifts[2], ly->attn_shift = (int)shifts[3];
    free(shifts);
    if (ly->sv > PROB_BITS + md->R) return fail(env, "integer model: a value shift is out of range");
    if (ly->attn_shift < 0 || ly->attn_shift > 24) return fail(env, "integer model: an attention shift is out of range");
    if (!(ly->gain1 = integers(env, field(env, v, "gain1"), NULL)) || !(ly->gain2 = integers(env, field(env, v, "gain2"), NULL))) return NULL;
    if (!read_linear(env, field(env, v, "qkv"), &ly->qkv) || !read_linear(env, field(env, v, "o"), &ly->o) || !read_linear(env, field(env, v, "gateUp"), &ly->gate_up) || !read_linear(env, field(env, v, "down"), &ly->down)) return NULL;
    if (ly->qkv.K != md->D || ly->qkv.N != (md->H + 2 * md->Hk) * md->dh || ly->o.K != md->H * md->dh || ly->o.N != md->D || ly->gate_up.K != md->D || ly->gate_up.N != 2 * md->F || ly->down.K != md->F || ly->down.N != md->D)
      return fail(env, "integer model: a layer's matrices have the wrong shapes");
  }
  CHECK(napi_create_external(env, md, free_nothing, NULL, &out));
  return out;
}

static void *unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return fail(env, "integer model: not a model or cache");
  return data;
}

/** cache(model, rows, window, threads): the keys and values of `rows` streams of up to `window` positions, and how
 * many threads share its calls. */
static napi_value js_cache(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], out;
  int32_t rows, window, threads;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Model *md = unwrap(env, argv[0]);
  if (!md) return NULL;
  CHECK(napi_get_value_int32(env, argv[1], &rows));
  CHECK(napi_get_value_int32(env, argv[2], &window));
  CHECK(napi_get_value_int32(env, argv[3], &threads));
  if (threads < 1 || threads > 256) return fail(env, "integer model: threads must be 1 to 256");
  if (rows < 1 || window < 1 || window > md->positions) return fail(env, "integer model: a cache needs rows, and a window within the model's positions");
  Cache *cache = calloc(1, sizeof(Cache));
  cache->model = md, cache->rows = rows, cache->window = window, cache->pitch = (window + 15) / 16 * 16, cache->threads = threads;
  pthread_mutex_lock(&calls);
  pool_grow(threads);
  pthread_mutex_unlock(&calls);
  size_t slots = (size_t)md->L * rows * md->Hk * cache->pitch * md->dh;
  cache->keys = calloc(slots, sizeof(int16_t));
  cache->values = calloc(slots, sizeof(int16_t));
  CHECK(napi_create_external(env, cache, free_cache, NULL, &out));
  return out;
}

/** extend(cache, ids: Int32Array, length, start, predict, logits: Float32Array, weights: Int32Array). */
static napi_value js_extend(napi_env env, napi_callback_info info) {
  size_t argc = 7, n, nl, nw;
  napi_value argv[7];
  int32_t length, start, predict;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Cache *cache = unwrap(env, argv[0]);
  if (!cache) return NULL;
  if (!cache->keys) return fail(env, "integer model: this cache was closed");
  int32_t *ids = typed(env, argv[1], napi_int32_array, &n);
  CHECK(napi_get_value_int32(env, argv[2], &length));
  CHECK(napi_get_value_int32(env, argv[3], &start));
  CHECK(napi_get_value_int32(env, argv[4], &predict));
  float *logits = typed(env, argv[5], napi_float32_array, &nl);
  int32_t *weights = typed(env, argv[6], napi_int32_array, &nw);
  if (!ids || !logits || !weights) return NULL;
  size_t predicted = (size_t)cache->rows * (predict > 0 ? predict : 0) * cache->model->V;
  if (n != (size_t)cache->rows * (length > 0 ? length : 0) || nl < predicted || nw < predicted) return fail(env, "integer model: extend's arrays have the wrong sizes");
  bool pooled = cache->threads > 1;
  if (pooled) pthread_mutex_lock(&calls);
  const char *error = extend(cache, ids, length, start, predict, logits, weights);
  if (pooled) pthread_mutex_unlock(&calls);
  return error ? fail(env, error) : NULL;
}

/** close(cache): its memory back now, not when the garbage collector gets to it (which does not see it). */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  CHECK(napi_get_cb_info(env, info, &argc, &arg, NULL, NULL));
  Cache *cache = unwrap(env, arg);
  if (!cache) return NULL;
  pthread_mutex_lock(&calls);
  release(cache);
  pthread_mutex_unlock(&calls);
  return NULL;
}

/** kernel(): the dot-product kernel the models use (plain, avx2 or vnni), once one is made. */
static napi_value js_kernel(napi_env env, napi_callback_info info) {
  napi_value out;
  (void)info;
  CHECK(napi_create_string_utf8(env, kernel_name ? kernel_name : "", NAPI_AUTO_LENGTH, &out));
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor calls[] = {
      {"model", NULL, js_model, NULL, NULL, NULL, napi_default, NULL},
      {"cache", NULL, js_cache, NULL, NULL, NULL, napi_default, NULL},
      {"extend", NULL, js_extend, NULL, NULL, NULL, napi_default, NULL},
      {"kernel", NULL, js_kernel, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, 5, calls) != napi_ok || !ranks_define(env, exports) || !cuda_define(env, exports) || !cm_define(env, exports)) return NULL;
  return exports;
}
