// What the exact coder does with one row of the model's weights (src/ranks.ts), in C: frequencies, the mixer's
// share for its predicted token (src/mixer.ts), a token's interval, the token at a cumulative value, a token's
// rank. Each is the same sequence of operations as its TypeScript twin, on the same integers and the same float64
// values, so each gives the same numbers (test/model.test.ts holds them together); in C a pass over 16,384 tokens
// costs microseconds where it cost a tenth of a millisecond, four times a token.
#include <stdint.h>

#include "napi.h"
#include "ranks.h"

/** Frequencies of integer weights: 1 + floor(w · (2^precision − V) / Σw) each, the rest to the largest; -1 if a
 * weight is negative (the model's never are) or all are 0, which TypeScript's twin then takes. */
static int32_t frequencies(const int32_t *w, int32_t *f, int V, int precision) {
  int64_t sum = 0, used = 0, total = (int64_t)1 << precision;
  int32_t top = 0, max = -1, min = 0;
  for (int j = 0; j < V; j++) {
    sum += w[j];
    min = w[j] < min ? w[j] : min;
    if (w[j] > max) max = w[j], top = j;
  }
  if (min < 0 || sum == 0) return -1;
  // float64 as in JavaScript: the sum is exact (below 2^53), the quotient and each product rounded once; a product
  // is never negative, so truncating it is Math.floor
  double scale = (double)(total - V) / (double)sum;
  for (int j = 0; j < V; j++) used += f[j] = 1 + (int32_t)((double)w[j] * scale);
  f[top] += (int32_t)(total - used);
  return top;
}

/** The mixer's share: `token` gets what `share` leaves the others, each of them 1 + its part of the rest. */
static void set_share(int32_t *f, int V, int32_t token, int64_t share, int64_t total) {
  int64_t others = V - 1, budget = (total - share > others ? total - share : others) - others, above = total - f[token] - others, used = 0;
  if (above <= 0) return;
  for (int j = 0; j < V; j++) {
    if (j == token) continue;
    used += f[j] = (int32_t)(1 + ((int64_t)(f[j] - 1) * budget) / above);  // non-negative: the quotient floors
  }
  f[token] = (int32_t)(total - used);
}

/** Where `token`'s interval starts: the largest first, then the others by id. */
static int64_t start_of(const int32_t *f, int32_t top, int32_t token) {
  if (token == top) return 0;
  int64_t start = f[top];
  for (int j = 0; j < token; j++) start += f[j];
  return token > top ? start - f[top] : start;
}

/** The token whose interval holds `cum`, or -1; *start gets its start. */
static int32_t token_at(const int32_t *f, int V, int32_t top, int64_t cum, int64_t *start) {
  *start = 0;
  if (cum < f[top]) return top;
  int64_t at = f[top];
  for (int j = 0; j < V; j++) {
    if (j == top) continue;
    if (cum < at + f[j]) return *start = at, j;
    at += f[j];
  }
  return -1;
}

/** The token bias (src/bias.ts): a row's weights times each token's multiplier, out_j = floor(w_j · factor_j / 2^15);
 * b's learning from a row of frequencies, each b_j losing floor(rate · f_j / 2^(precision − 12)); and a step's
 * learning added to b within ±2^22, each token's multiplier then M[(b_j >> 12) + 1024]. */
static void bias_weigh(const int32_t *w, const int32_t *factors, int32_t *out, int V) {
  for (int j = 0; j < V; j++) out[j] = (int32_t)(((int64_t)w[j] * factors[j]) >> 15);  // w ≥ 0: the shift floors
}

static void bias_learn(const int32_t *f, int32_t *learned, int V, int64_t rate, int precision) {
  for (int j = 0; j < V; j++) learned[j] -= (int32_t)((rate * f[j]) >> (precision - 12));
}

static void bias_settle(int32_t *b, int32_t *learned, const int32_t *m, int32_t *factors, int V) {
  const int32_t bound = 1 << 22;
  for (int j = 0; j < V; j++) {
    int32_t v = b[j] + learned[j];  // each within ±2^30: no overflow
    b[j] = v > bound ? bound : v < -bound ? -bound : v;
    learned[j] = 0;
    factors[j] = m[(b[j] >> 12) + 1024];
  }
}

/** How many tokens have a higher logit than `token`, or an equal one and a smaller id. */
static int32_t rank_of(const float *logits, int V, int32_t token) {
  float target = logits[token];
  int32_t rank = 0;
  for (int j = 0; j < V; j++) rank += logits[j] > target;
  for (int j = 0; j < token; j++) rank += logits[j] == target;
  return rank;
}

// ---- Node-API ----

static bool number(napi_env env, napi_value v, int64_t *out) {
  return napi_get_value_int64(env, v, out) == napi_ok;
}

static napi_value int_value(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

/** frequencies(weights: Int32Array, freqs: Int32Array, precision) → the largest weight's token, or -1 (above). */
static napi_value js_frequencies(napi_env env, napi_callback_info info) {
  size_t argc = 3, nw, nf;
  napi_value argv[3];
  int64_t precision;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t *w = typed_array(env, argv[0], napi_int32_array, &nw), *f = typed_array(env, argv[1], napi_int32_array, &nf);
  if (argc < 3 || !w || !f || nw != nf || nw < 2 || !number(env, argv[2], &precision) || precision < 2 || precision > 30 || ((int64_t)1 << precision) < 2 * (int64_t)nw)
    return fail(env, "frequencies: weights and frequencies of one vocabulary, and a precision that holds it");
  return int_value(env, frequencies(w, f, (int)nw, (int)precision));
}

/** share(freqs: Int32Array, token, share, total). */
static napi_value js_share(napi_env env, napi_callback_info info) {
  size_t argc = 4, nf;
  napi_value argv[4];
  int64_t token, share, total;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t *f = typed_array(env, argv[0], napi_int32_array, &nf);
  if (argc < 4 || !f || !number(env, argv[1], &token) || !number(env, argv[2], &share) || !number(env, argv[3], &total) || token < 0 || token >= (int64_t)nf || share < 0 || share > total)
    return fail(env, "share: frequencies, a token of them, and a share of the total");
  set_share(f, (int)nf, (int32_t)token, share, total);
  return NULL;
}

/** start(freqs: Int32Array, top, token) → where token's interval starts. */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 3, nf;
  napi_value argv[3];
  int64_t top, token;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t *f = typed_array(env, argv[0], napi_int32_array, &nf);
  if (argc < 3 || !f || !number(env, argv[1], &top) || !number(env, argv[2], &token) || top < 0 || top >= (int64_t)nf || token < 0 || token >= (int64_t)nf)
    return fail(env, "start: frequencies and two tokens of them");
  return int_value(env, start_of(f, (int32_t)top, (int32_t)token));
}

/** find(freqs: Int32Array, top, cum, out: Float64Array) → the token whose interval holds cum (-1: none); out[0] its start. */
static napi_value js_find(napi_env env, napi_callback_info info) {
  size_t argc = 4, nf, no;
  napi_value argv[4];
  int64_t top, cum, start;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t *f = typed_array(env, argv[0], napi_int32_array, &nf);
  double *out = argc >= 4 ? typed_array(env, argv[3], napi_float64_array, &no) : NULL;
  if (!f || !out || no < 1 || !number(env, argv[1], &top) || !number(env, argv[2], &cum) || top < 0 || top >= (int64_t)nf)
    return fail(env, "find: frequencies, a token of them, a value, and an array for the start");
  int32_t token = token_at(f, (int)nf, (int32_t)top, cum, &start);
  out[0] = (double)start;
  return int_value(env, token);
}

/** rank(logits: Float32Array, token) → the token's rank. */
static napi_value js_rank(napi_env env, napi_callback_info info) {
  size_t argc = 2, nl;
  napi_value argv[2];
  int64_t token;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  float *logits = typed_array(env, argv[0], napi_float32_array, &nl);
  if (argc < 2 || !logits || !number(env, argv[1], &token) || token < 0 || token >= (int64_t)nl) return fail(env, "rank: logits and a token of them");
  return int_value(env, rank_of(logits, (int)nl, (int32_t)token));
}

/** biasWeigh(weights, factors, out: Int32Array): out = the weights times their tokens' multipliers. */
static napi_value js_bias_weigh(napi_env env, napi_callback_info info) {
  size_t argc = 3, nw, nf, no;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t *w = argc >= 3 ? typed_array(env, argv[0], napi_int32_array, &nw) : NULL, *factors = w ? typed_array(env, argv[1], napi_int32_array, &nf) : NULL;
  int32_t *out = factors ? typed_array(env, argv[2], napi_int32_array, &no) : NULL;
  if (!out || nf != nw || no != nw) return fail(env, "biasWeigh: weights, multipliers and an output of one vocabulary");
  bias_weigh(w, factors, out, (int)nw);
  return NULL;
}

/** biasSettle(bias, learned, multipliers: Int32Array (2049), factors): a step's learning into b, and b's multipliers. */
static napi_value js_bias_settle(napi_env env, napi_callback_info info) {
  size_t argc = 4, nb, nl, nm, nf;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t *b = argc >= 4 ? typed_array(env, argv[0], napi_int32_array, &nb) : NULL, *learned = b ? typed_array(env, argv[1], napi_int32_array, &nl) : NULL;
  int32_t *m = learned ? typed_array(env, argv[2], napi_int32_array, &nm) : NULL, *factors = m ? typed_array(env, argv[3], napi_int32_array, &nf) : NULL;
  if (!factors || nl != nb || nf != nb || nm != 2049) return fail(env, "biasSettle: biases, learning and multipliers of one vocabulary, and the 2049 of the table");
  for (size_t j = 0; j < nb; j++)
    if (b[j] < -(1 << 22) || b[j] > (1 << 22) || learned[j] < -(1 << 30) || learned[j] > (1 << 30)) return fail(env, "biasSettle: a bias or a step's learning out of bounds");
  bias_settle(b, learned, m, factors, (int)nb);
  return NULL;
}

/** biasLearn(freqs, learned: Int32Array, rate, precision): the bias's learning of one row (without its token's gain). */
static napi_value js_bias_learn(napi_env env, napi_callback_info info) {
  size_t argc = 4, nf, nl;
  napi_value argv[4];
  int64_t rate, precision;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t *f = argc >= 4 ? typed_array(env, argv[0], napi_int32_array, &nf) : NULL, *learned = f ? typed_array(env, argv[1], napi_int32_array, &nl) : NULL;
  if (!learned || nl != nf || !number(env, argv[2], &rate) || !number(env, argv[3], &precision) || rate < 0 || rate > 255 || precision < 12 || precision > 30)
    return fail(env, "biasLearn: frequencies and learning of one vocabulary, a rate and a precision");
  bias_learn(f, learned, (int)nf, rate, (int)precision);
  return NULL;
}

bool ranks_define(napi_env env, napi_value exports) {
  napi_property_descriptor calls[] = {
      {"frequencies", NULL, js_frequencies, NULL, NULL, NULL, napi_default, NULL},
      {"share", NULL, js_share, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"find", NULL, js_find, NULL, NULL, NULL, napi_default, NULL},
      {"rank", NULL, js_rank, NULL, NULL, NULL, napi_default, NULL},
      {"biasWeigh", NULL, js_bias_weigh, NULL, NULL, NULL, napi_default, NULL},
      {"biasLearn", NULL, js_bias_learn, NULL, NULL, NULL, napi_default, NULL},
      {"biasSettle", NULL, js_bias_settle, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof calls / sizeof *calls, calls) == napi_ok;
}
