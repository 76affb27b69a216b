// The integer model as the native engine holds it (native/integer.c reads it, native/cuda.c copies it to a GPU).
#pragma once
#include <stdint.h>

#include "exact.h"

typedef struct {
  int K, N, s1, s2;
  int8_t *w;      // each column's 7-bit weights: [N][K], or in panels of `packed` columns (pack)
  int packed;     // the panel width, 0 for column by column
  int32_t *sums;  // each column's sum, times 128 (what the unsigned inputs add)
  int64_t *mult;
} Linear;

typedef struct {
  int sq, sk, sv, attn_shift;
  int64_t *gain1, *gain2;
  Linear qkv, o, gate_up, down;
} Layer;

typedef struct {
  int D, H, Hk, dh, F, V, L, positions, R, Q;
  int64_t eps;
  int64_t *rsqrt, *head_exp, *sigmoid;
  int32_t *attn_exp;  // in 32 bits, for attention's 32-bit loops
  int n_attn_exp, n_head_exp, n_sigmoid;
  int64_t *cos, *sin;  // [positions][dh / 2]
  uint8_t *embedding;  // [V][D]
  int64_t emb_zero, emb_mult;
  int emb_shift;
  int64_t *gain_final;
  Linear head;  // mult: the column multipliers; s1: their shift
  int64_t head_mult;
  int head_shift, final_shift;
  Layer *layers;
} Model;

