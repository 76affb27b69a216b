// The integer model's constants and exact integer helpers (docs/INTEGER.md, "Notation"), one text for the CPU's
// engine (native/integer.c) and the GPU's kernels (native/cuda.cu, which NVRTC compiles with this file beside it).
#pragma once
#ifdef __CUDACC__
#define EXACT __device__ __forceinline__
#else
#define EXACT static inline
#endif

#define GAIN_BITS 12
#define TRIG_BITS 14
#define RSQRT_BITS 24
#define SIG_BITS 15
#define PROB_BITS 12
#define Q_LIMIT 511
#define V_LIMIT 2047

EXACT long long floor_div(long long n, long long d) {
  long long q = n / d;
  return (n % d != 0 && ((n < 0) != (d < 0))) ? q - 1 : q;
}
EXACT long long rdiv(long long n, long long d) { return floor_div(n + d / 2, d); }
EXACT long long shr(long long v, int s) {
  if (s <= 0) return v * (1LL << -s);
  // v >> s is floor(v / 2^s) (an arithmetic shift); adding half - 1, and 1 more when that floor is odd, rounds half
  // to even without a branch
  return (v + (1LL << (s - 1)) - 1 + ((v >> s) & 1)) >> s;
}
EXACT long long clamp64(long long v, long long lo, long long hi) { return v < lo ? lo : v > hi ? hi : v; }
