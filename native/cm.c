// The cm coder of src/cm.ts in C (docs/CM.md): the same integers step for step, so the same stream, about ten times
// faster. src/cm.ts is the reference, and the coder where the addon does not build; test/floor.test.ts holds the two
// to each other. Every value is an unsigned 32-bit hash, or an integer whose range the comments of src/cm.ts bound.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm.h"
#include "napi.h"

static const int SQUASH_KNOTS[33] = {1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047, 2549, 2994, 3348, 3607, 3785, 3901, 3975, 4024, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094};

enum { HASHED = 11, INPUTS = 1 + 2 * (HASHED + 1) + 2, COUNT_LIMIT = 255, MIN_MATCH = 6, LONG_MATCH = 12, HASHED_LIMIT = 30 };
#define MAX_WEIGHT (1 << 22)
#define MAX_MATCH 65535

static int squash(int d) {
  if (d > 2047) return 4095;
  if (d < -2047) return 1;
  int w = d & 127, k = (d >> 7) + 16;
  return (SQUASH_KNOTS[k] * (128 - w) + SQUASH_KNOTS[k + 1] * w + 64) >> 7;
}

static int16_t STRETCH[4096];
static int32_t RATE[COUNT_LIMIT + 1];

static void make_tables(void) {
  int pi = 0;
  for (int x = -2047; x <= 2047; x++) {
    int v = squash(x);
    for (int j = pi; j <= v; j++) STRETCH[j] = (int16_t)x;
    pi = v + 1;
  }
  for (int j = pi; j < 4096; j++) STRETCH[j] = 2047;
  for (int n = 0; n <= COUNT_LIMIT; n++) RATE[n] = (int32_t)floor(16384.0 / (n + 1.5));
}

static inline int learning_rate(int pos) { return pos < 4096 ? 12 : pos < 32768 ? 6 : 4; }
static inline int min_int(int a, int b) { return a < b ? a : b; }

static inline uint32_t hash2(uint32_t a, uint32_t b) { return ((a * 0x2f0b4c27u ^ b) * 0x9e3779b1u) ^ (b >> 15); }

/**
 * A counter's probability and count side by side, since the hashed tables are far larger than the caches: one miss.
 * The probability is kept as p XOR 2^15, so that a table starts as zeros (calloc: no pass over it, pages as touched).
 */
typedef struct {
  uint16_t p_flipped;
  uint8_t n;
} Cell;

typedef struct {
  Cell *cells;
} Counters;

static bool counters(Counters *c, size_t size) { return (c->cells = calloc(size, sizeof(Cell))) != NULL; }

static inline int probability(const Counters *c, uint32_t i) { return c->cells[i].p_flipped ^ 32768; }

static inline void count(Counters *c, uint32_t i, int bit, int limit) {
  Cell *cell = c->cells + i;
  int n = cell->n, p = cell->p_flipped ^ 32768;
  cell->p_flipped = (uint16_t)((p + ((((bit << 16) - bit - p) * RATE[n]) >> 14)) ^ 32768);
  if (n < limit) cell->n = (uint8_t)(n + 1);
}

typedef struct {
  uint16_t *t;
  int index, rate;
} Apm;

static bool apm(Apm *a, int contexts, int rate) {
  a->index = 0, a->rate = rate;
  if (!(a->t = malloc(sizeof(uint16_t) * contexts * 33))) return false;
  for (int c = 0; c < contexts; c++)
    for (int j = 0; j < 33; j++) a->t[c * 33 + j] = (uint16_t)(squash((j - 16) * 128) * 16);
  return true;
}

static inline int refine(Apm *a, int p, int context) {
  int s = STRETCH[p] + 2048, lo = s >> 7, w = s & 127, base = context * 33 + lo;
  a->index = base + (w >> 6);
  return (a->t[base] * (128 - w) + a->t[base + 1] * w) >> 11;
}

static inline void apm_update(Apm *a, int bit) {
  int g = (bit << 16) + (bit << a->rate) - bit - bit;
  a->t[a->index] = (uint16_t)(a->t[a->index] + ((g - a->t[a->index]) >> a->rate));
}

typedef struct {
  const uint8_t *history;
  size_t length;
  int shift, match_bits;
  Counters order0, order1, hashed[HASHED], match_counters;
  uint32_t contexts[HASHED], slots[HASHED];
  int32_t *match, *long_match, *weights;
  int32_t inputs[INPUTS];
  Apm apm0, apm1, apm_match;
  uint16_t followed[65536];
  uint32_t field_hash, c4, word, last_word;
  int32_t shape[8];
  bool in_digits;
  int c0, bit_count, pos, line_start, last_line_start;
  int32_t fields_a[64], fields_b[64], *fields, *last_fields;
  int field_count, last_field_count;
  int match_ptr, match_length, expected_byte;
  int weight_set, weight_set2, mixed1, mixed2, pr;
} Predictor;

static void predictor_free(Predictor *m) {
  free(m->order0.cells), free(m->order1.cells), free(m->match_counters.cells);
  for (int i = 0; i < HASHED; i++) free(m->hashed[i].cells);
  free(m->match), free(m->long_match), free(m->weights), free(m->apm0.t), free(m->apm1.t), free(m->apm_match.t);
  free(m);
}

static inline int byte_at(const Predictor *m, int i) { return i >= 0 && (size_t)i < m->length ? m->history[i] : -1; }

static int match_slot(const Predictor *m) {
  int l = m->match_length;
  return l < 16 ? l : l < 32 ? 16 + ((l - 16) >> 1) : l < 64 ? 24 + ((l - 32) >> 2) : min_int(63, 32 + ((l - 64) >> 4));
}

static int dot(const Predictor *m, int set) {
  const int32_t *w = m->weights + set * INPUTS;
  int64_t sum = 0;
  for (int i = 0; i < INPUTS; i++) sum += (int64_t)m->inputs[i] * w[i];
  int64_t floored = sum >= 0 ? sum / 65536 : -((-sum + 65535) / 65536);
  return (int)(floored > 2047 ? 2047 : floored < -2047 ? -2047 : floored);
}

static void train(Predictor *m, int set, int output, int bit, int rate) {
  int32_t *w = m->weights + set * INPUTS;
  int err = ((bit << 12) - output) * rate;
  for (int i = 0; i < INPUTS; i++) {
    int32_t v = w[i] + ((m->inputs[i] * err) >> 12);
    w[i] = v > MAX_WEIGHT ? MAX_WEIGHT : v < -MAX_WEIGHT ? -MAX_WEIGHT : v;
  }
}

/** The slot of context i's counter for the bits c0 of this byte so far. */
static inline uint32_t slot_of(const Predictor *m, int i, int c0, uint32_t salt) { return (((m->contexts[i] ^ salt) * 0x85ebca6bu) ^ ((uint32_t)c0 << 3)) >> m->shift; }

/** Asks the memory for the next bit's counters while this bit's learning runs: the tables are far larger than the caches. */
static inline void prefetch_next(const Predictor *m, int c0) {
  uint32_t salt = (uint32_t)c0 * 0x6f4f2a35u;
  for (int i = 0; i < HASHED; i++) __builtin_prefetch(m->hashed[i].cells + slot_of(m, i, c0, salt), 1);
}

static void predict_bit(Predictor *m) {
  int c0 = m->c0;
  uint32_t salt = (uint32_t)c0 * 0x6f4f2a35u;
  for (int i = 0; i < HASHED; i++) m->slots[i] = slot_of(m, i, c0, salt);
  m->inputs[0] = STRETCH[probability(&m->order0, (uint32_t)c0) >> 4];
  int p1 = probability(&m->order1, ((m->c4 & 0xff) << 8) | (uint32_t)c0) >> 4;
  m->inputs[1] = STRETCH[p1];
  m->inputs[2 + HASHED] = (p1 - 2048) >> 2;
  for (int i = 0; i < HASHED; i++) {
    int p = probability(&m->hashed[i], m->slots[i]) >> 4;
    m->inputs[2 + i] = STRETCH[p];
    m->inputs[3 + HASHED + i] = (p - 2048) >> 2;
  }
  int bucket = 0;
  if (m->expected_byte >= 0 && ((m->expected_byte | 256) >> (8 - m->bit_count)) == c0) {
    int expected = (m->expected_byte >> (7 - m->bit_count)) & 1;
    m->inputs[INPUTS - 2] = STRETCH[probability(&m->match_counters, (uint32_t)(match_slot(m) * 2 + expected)) >> 4];
    bucket = m->match_length < 16 ? 1 : m->match_length < 32 ? 2 : 3;
  } else {
    m->expected_byte = -1;
    m->inputs[INPUTS - 2] = 0;
  }
  m->inputs[INPUTS - 1] = 256;
  m->weight_set = bucket * 256 + c0;
  m->weight_set2 = 1024 + (int)((m->c4 & 0xff) << 3) + m->bit_count;
  int s1 = dot(m, m->weight_set), s2 = dot(m, m->weight_set2);
  m->mixed1 = squash(s1), m->mixed2 = squash(s2);
  int mixed = squash((s1 + s2) >> 1);
  int a0 = refine(&m->apm0, mixed, c0);
  int a1 = refine(&m->apm1, mixed, (int)((m->c4 & 0xff) << 8) | c0);
  int a2 = refine(&m->apm_match, mixed, min_int(m->match_length, 7) * 256 + c0);
  int p = (2 * mixed + a0 + 3 * a1 + 2 * a2 + 4) >> 3;
  m->pr = p > 4095 ? 4095 : p < 1 ? 1 : p;
}

static void find_match(Predictor *m, int32_t *table, int length) {
  uint32_t h = 0;
  for (int i = m->pos - length; i < m->pos; i++) h = hash2(h, m->history[i]);
  uint32_t slot = h >> (32 - m->match_bits);
  int candidate = table[slot];
  if (m->match_length == 0 && candidate >= 0) {
    int agree = 0;
    while (agree < 32 && candidate - agree > 0 && m->history[candidate - agree - 1] == m->history[m->pos - agree - 1]) agree++;
    if (agree >= length) m->match_length = agree, m->match_ptr = candidate;
  }
  table[slot] = m->pos;
}

static void byte_contexts(Predictor *m) {
  uint32_t *cx = m->contexts, c4 = m->c4;
  int pos = m->pos;
  cx[0] = hash2(1, c4 & 0xffff);
  cx[1] = hash2(2, c4 & 0xffffff);
  cx[2] = hash2(3, c4);
  uint32_t c8 = pos >= 6 ? ((uint32_t)m->history[pos - 5] << 8) | m->history[pos - 6] : 0;
  cx[3] = hash2(hash2(4, c4), c8);
  cx[4] = hash2(hash2(5, m->word), m->last_word);
  int column = pos - m->line_start;
  uint32_t above = m->last_line_start + column < m->line_start ? m->history[m->last_line_start + column] : 0;
  int field = m->field_count;
  int field_start = field == 0 ? m->line_start : m->fields[field - 1];
  int last_start = field == 0 ? m->last_line_start : field <= m->last_field_count ? m->last_fields[field - 1] : -1;
  int last_end = field < m->last_field_count ? m->last_fields[field] : m->line_start;
  int at = last_start + pos - field_start;
  uint32_t field_above = last_start >= 0 && at < last_end ? m->history[at] : 0;
  cx[5] = hash2(hash2(6, above), ((uint32_t)min_int(column, 255) << 8) | (c4 & 0xff));
  cx[7] = hash2(hash2(8, field_above), ((uint32_t)min_int(field, 63) << 8) | (c4 & 0xff));
  cx[6] = hash2(hash2(7, m->word), c4 & 0xff);
  cx[8] = hash2(hash2(9, m->followed[c4 & 0xffff]), c4 & 0xff);
  cx[9] = hash2(hash2(10, m->field_hash), (uint32_t)min_int(field, 63));
  uint32_t shape = 11;
  for (int k = 0; k < 8; k++) shape = hash2(shape, (uint32_t)m->shape[k]);
  cx[10] = shape;
  m->expected_byte = m->match_length > 0 ? byte_at(m, m->match_ptr) : -1;
}

static void end_byte(Predictor *m, int byte) {
  m->pos++;
  uint32_t pair = m->c4 & 0xffff;
  m->followed[pair] = (uint16_t)((m->followed[pair] << 8) | byte);
  m->field_hash = byte == 0x20 || byte == 0x0a ? 0 : hash2(m->field_hash + 1, (uint32_t)byte);
  m->c4 = (m->c4 << 8) | (uint32_t)byte;
  bool digit = byte >= 0x30 && byte <= 0x39;
  if (!(digit && m->in_digits)) {
    memmove(m->shape + 1, m->shape, sizeof(int32_t) * 7);
    m->shape[0] = digit ? 256 : byte;
  }
  m->in_digits = digit;
  bool letter = (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || byte >= 0x80;
  if (letter) m->word = hash2(m->word + 1, (uint32_t)(byte | 0x20));
  else if (m->word != 0) m->last_word = m->word, m->word = 0;
  if (byte == 0x0a) {
    m->last_line_start = m->line_start;
    m->line_start = m->pos;
    int32_t *swap = m->fields;
    m->fields = m->last_fields, m->last_fields = swap;
    m->last_field_count = m->field_count;
    m->field_count = 0;
  } else if (byte == 0x20 && m->field_count < 64) {
    m->fields[m->field_count++] = m->pos;
  }
  if (m->match_length > 0 && byte_at(m, m->match_ptr) == byte) {
    m->match_length = min_int(MAX_MATCH, m->match_length + 1);
    m->match_ptr++;
  } else {
    m->match_length = 0;
  }
  if (m->pos >= LONG_MATCH) find_match(m, m->long_match, LONG_MATCH);
  if (m->pos >= MIN_MATCH) find_match(m, m->match, MIN_MATCH);
  byte_contexts(m);
}

static void update(Predictor *m, int bit) {
  int rate = learning_rate(m->pos), c0 = m->c0;
  if (m->bit_count < 7) prefetch_next(m, (c0 << 1) | bit);
  train(m, m->weight_set, m->mixed1, bit, rate);
  train(m, m->weight_set2, m->mixed2, bit, rate);
  apm_update(&m->apm0, bit), apm_update(&m->apm1, bit), apm_update(&m->apm_match, bit);
  count(&m->order0, (uint32_t)c0, bit, 60);
  count(&m->order1, ((m->c4 & 0xff) << 8) | (uint32_t)c0, bit, 255);
  for (int i = 0; i < HASHED; i++) count(&m->hashed[i], m->slots[i], bit, HASHED_LIMIT);
  if (m->expected_byte >= 0) {
    int expected = (m->expected_byte >> (7 - m->bit_count)) & 1;
    count(&m->match_counters, (uint32_t)(match_slot(m) * 2 + expected), bit, 255);
    if (expected != bit) m->expected_byte = -1;
  }
  m->c0 = (c0 << 1) | bit;
  if (++m->bit_count == 8) {
    end_byte(m, m->c0 & 0xff);
    m->c0 = 1, m->bit_count = 0;
  }
  predict_bit(m);
}

/** Table bits for a block of `length` bytes: ceil(log2(length + 1)) + 4, from 16 to 22. */
static int table_bits(size_t length) {
  int bits = 0;
  while (((size_t)1 << bits) < length + 1) bits++;
  return bits + 4 < 16 ? 16 : bits + 4 > 22 ? 22 : bits + 4;
}

/** A predictor over `history` (length bytes), or NULL when memory runs out. */
static Predictor *predictor(const uint8_t *history, size_t length) {
  Predictor *m = calloc(1, sizeof(Predictor));
  if (!m) return NULL;
  m->history = history, m->length = length;
  int bits = table_bits(length);
  m->shift = 32 - bits;
  m->match_bits = bits - 2 > 12 ? bits - 2 : 12;
  bool ok = counters(&m->order0, 256) && counters(&m->order1, 65536) && counters(&m->match_counters, 64 * 2) && apm(&m->apm0, 256, 7) && apm(&m->apm1, 65536, 7) && apm(&m->apm_match, 2048, 7);
  for (int i = 0; ok && i < HASHED; i++) ok = counters(&m->hashed[i], (size_t)1 << bits);
  size_t slots = (size_t)1 << m->match_bits, weights = (size_t)(1024 + 2048) * INPUTS;
  ok = ok && (m->match = malloc(sizeof(int32_t) * slots)) && (m->long_match = malloc(sizeof(int32_t) * slots)) && (m->weights = malloc(sizeof(int32_t) * weights));
  if (!ok) return predictor_free(m), NULL;
  for (size_t i = 0; i < slots; i++) m->match[i] = m->long_match[i] = -1;
  for (size_t i = 0; i < weights; i++) m->weights[i] = 1 << 12;
  m->fields = m->fields_a, m->last_fields = m->fields_b;
  m->c0 = 1, m->expected_byte = -1, m->mixed1 = m->mixed2 = m->pr = 2048;
  byte_contexts(m);
  predict_bit(m);
  return m;
}

/** Where [x1, x2] splits for a bit whose probability of being 1 is p/4096. */
static inline uint32_t split(uint32_t x1, uint32_t x2, int p) {
  uint32_t range = x2 - x1;
  return x1 + (range >> 12) * (uint32_t)p + (((range & 4095) * (uint32_t)p) >> 12);
}

/** cmEncode(bytes, ceiling) → the stream, or null when, from a quarter of the way on, it projects above `ceiling` bytes. */
static napi_value js_cm_encode(napi_env env, napi_callback_info info) {
  size_t argc = 2, length;
  napi_value argv[2], out;
  double ceiling;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const uint8_t *bytes = argc == 2 ? typed_array(env, argv[0], napi_uint8_array, &length) : NULL;
  if (!bytes || napi_get_value_double(env, argv[1], &ceiling) != napi_ok) return fail(env, "cmEncode: a Uint8Array and a ceiling in bytes");
  Predictor *m = predictor(bytes, length);
  size_t room = length / 2 + 64, used = 0;
  uint8_t *stream = malloc(room);
  if (!m || !stream) return free(stream), m ? predictor_free(m) : (void)0, fail(env, "cm: out of memory");
  // the stream's bytes at every 4096th input byte, for the give-up's rate of the latter half
  size_t *used_at = calloc((length >> 12) + 1, sizeof *used_at);
  if (!used_at) return free(stream), predictor_free(m), fail(env, "cm: out of memory");
  uint32_t x1 = 0, x2 = 0xffffffffu;
  bool given_up = false;
  for (size_t i = 0; i < length && !given_up; i++) {
    if ((i & 4095) == 0 && i > 0) {
      used_at[i >> 12] = used;
      // the rule of src/codec.ts projectsAbove, in the same float64 steps, from the last check at or before i / 2
      size_t half = i >> 13;
      double bits = (double)(8 * used), from_bits = (double)(8 * used_at[half]), from_done = (double)(half << 12);
      if (4.0 * (double)i >= (double)length && (bits + ((bits - from_bits) * ((double)length - (double)i)) / ((double)i - from_done)) / 8 > ceiling) {
        given_up = true;
        break;
      }
    }
    int c = bytes[i];
    for (int j = 7; j >= 0; j--) {
      int bit = (c >> j) & 1;
      uint32_t xmid = split(x1, x2, m->pr);
      if (bit) x2 = xmid;
      else x1 = xmid + 1;
      update(m, bit);
      while (((x1 ^ x2) & 0xff000000u) == 0) {
        if (used + 8 > room) {
          uint8_t *grown = realloc(stream, room *= 2);
          if (!grown) return free(stream), free(used_at), predictor_free(m), fail(env, "cm: out of memory");
          stream = grown;
        }
        stream[used++] = (uint8_t)(x2 >> 24);
        x1 <<= 8;
        x2 = (x2 << 8) | 255;
      }
    }
  }
  predictor_free(m);
  free(used_at);
  if (given_up) return free(stream), napi_get_null(env, &out), out;
  // the fewest bytes that, followed by the zeros a decoder reads past the end, lie in [x1, x2]
  for (int k = 1; k <= 4; k++) {
    uint64_t unit = (uint64_t)1 << (32 - 8 * k), v = (x1 + unit - 1) / unit * unit;
    if (v <= x2) {
      for (int b = 0; b < k; b++) stream[used++] = (uint8_t)(v >> (24 - 8 * b));
      break;
    }
  }
  void *data;
  napi_value buffer;
  napi_create_arraybuffer(env, used, &data, &buffer);
  memcpy(data, stream, used);
  free(stream);
  napi_create_typedarray(env, napi_uint8_array, used, buffer, 0, &out);
  return out;
}

/** cmDecode(stream, length) → exactly `length` bytes; a stream that ends early reads as zeros, up to 3 bytes past its end. */
static napi_value js_cm_decode(napi_env env, napi_callback_info info) {
  size_t argc = 2, size;
  napi_value argv[2], out, buffer;
  double wanted;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const uint8_t *stream = argc == 2 ? typed_array(env, argv[0], napi_uint8_array, &size) : NULL;
  if (!stream || napi_get_value_double(env, argv[1], &wanted) != napi_ok || wanted < 0 || wanted > (double)((size_t)1 << 40)) return fail(env, "cmDecode: a Uint8Array and a length");
  size_t length = (size_t)wanted, at = 0;
  uint8_t *bytes;
  if (napi_create_arraybuffer(env, length, (void **)&bytes, &buffer) != napi_ok) return fail(env, "cm: out of memory");
  Predictor *m = predictor(bytes, length);
  if (!m) return fail(env, "cm: out of memory");
  uint32_t x1 = 0, x2 = 0xffffffffu, x = 0;
  for (int k = 0; k < 4; k++) {
    if (at >= size + 3) return predictor_free(m), fail(env, "the stream ends early");
    x = (x << 8) | (at < size ? stream[at] : 0), at++;
  }
  for (size_t i = 0; i < length; i++) {
    int c = 0;
    for (int j = 0; j < 8; j++) {
      uint32_t xmid = split(x1, x2, m->pr);
      int bit = x <= xmid;
      if (bit) x2 = xmid;
      else x1 = xmid + 1;
      c = (c << 1) | bit;
      if (j == 7) bytes[i] = (uint8_t)c;
      update(m, bit);
      while (((x1 ^ x2) & 0xff000000u) == 0) {
        if (at >= size + 3) return predictor_free(m), fail(env, "the stream ends early");
        x1 <<= 8;
        x2 = (x2 << 8) | 255;
        x = (x << 8) | (at < size ? stream[at] : 0), at++;
      }
    }
  }
  predictor_free(m);
  napi_create_typedarray(env, napi_uint8_array, length, buffer, 0, &out);
  return out;
}

bool cm_define(napi_env env, napi_value exports) {
  make_tables();
  napi_property_descriptor calls[] = {
      {"cmEncode", NULL, js_cm_encode, NULL, NULL, NULL, napi_default, NULL},
      {"cmDecode", NULL, js_cm_decode, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof calls / sizeof *calls, calls) == napi_ok;
}
