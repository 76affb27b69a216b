"""A model folder's int8 weights -> onnx/integer.onnx, the graph whose every number is an integer, so it computes
the same bits on any CPU or GPU (docs/INTEGER.md specifies the arithmetic; src/integer.ts is the independent
implementation the tests compare it with).

Every value is an integer. The operands of matrix products are float32 holding small integers whose every partial
sum stays below 2^24, which float32 adds exactly in any order, with or without FMA, on any kernel. The other wide
tensors are float64 holding integers below 2^53, where +, -, * and powers of two are exact, and a correctly
rounded division followed by Floor gives the exact quotient when the quotient is small against 2^53 / divisor
(argued where used); per-row scalars are int64. Normalisation, rotary positions, softmax and SiLU are shifts,
divisions and table lookups.

The weights are the folder's int8 weights (onnxruntime's dynamic quantization, per tensor, as quantize.py writes
it), read from its int8 graph where there is one, else quantized from its fp32 graph. Tensors already in a
weights file are referenced where they are, so llmc-base gains no weights; others go to onnx/integer.onnx_data.
The 7-bit matrices the products use, computed from the weights, go to onnx/integer.7bit.
Also writes onnx/integer.json: every constant of the graph (shifts, multipliers, tables) and where each weight
tensor lies, which is all src/integer.ts needs.

Usage: python integer.py --model_dir=../models/llmc-base [--calibration=calibration.json]
calibration.json (from train/calibrate.ts) holds the largest |q|, |k|, |v| per layer on corpus text; it sets
the static shifts of the attention's operands. Without it the previous integer.json's shifts are kept.
"""
import json
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from configure import override
from quantize import quantize

model_dir = 'model'  # a folder with config.json and an int8 (or fp32) stepper graph
calibration = ''  # calibration.json from train/calibrate.ts

ARITHMETIC = 'integer-1'
R = 10  # the residual stream, and the outputs of the projections, are integers in units of 2^-R
Q = 20  # per-row scale factors are integers in units of 2^-Q
GAIN_BITS = 12  # RMSNorm gains in units of 2^-GAIN_BITS
TRIG_BITS = 14  # rotary cos/sin tables
RSQRT_BITS = 24  # 1/sqrt(m) table, m in [1, 4096)
ATTN_EXP_BITS, ATTN_EXP_SIZE = 15, 4096  # exp(-k/256) for attention scores: 512 of them sum below 2^24
HEAD_EXP_BITS, HEAD_EXP_SIZE = 24, 4864  # exp(-k/256) for the next-token distribution
SIG_BITS, SIG_SIZE = 15, 8192  # sigmoid over [-16, 16) in steps of 1/256
HEAD_SHIFT = 18  # the head's scale in units of 2^-HEAD_SHIFT
PROB_BITS = 12  # attention probabilities in units of 2^-PROB_BITS
Q_LIMIT, V_LIMIT = 511, 2047  # |query|, |key| and |value| operands: 10 and 12 bits
WEIGHTS_DATA = 'integer.onnx_data'  # weights quantized here (from an fp32 graph): part of the model's fingerprint
DERIVED_DATA = 'integer.7bit'  # what the graph computes from the weights once: not part of it


def tables():
    """The lookup tables (int64), computed in float64 and rounded."""
    k = np.arange(max(ATTN_EXP_SIZE, HEAD_EXP_SIZE), dtype=np.float64)
    m = np.arange(4096, dtype=np.float64)
    m[0] = 1
    s = (np.arange(SIG_SIZE, dtype=np.float64) - SIG_SIZE // 2) / 256
    return {
        'rsqrt': np.round(2.0 ** RSQRT_BITS / np.sqrt(m)).astype(np.int64),
        'attn_exp': np.round(2.0 ** ATTN_EXP_BITS * np.exp(-k[:ATTN_EXP_SIZE] / 256)).astype(np.int64),
        # at least 1: every token keeps a probability above 0
        'head_exp': np.maximum(1, np.round(2.0 ** HEAD_EXP_BITS * np.exp(-k[:HEAD_EXP_SIZE] / 256))).astype(np.int64),
        'sigmoid': np.round(2.0 ** SIG_BITS / (1 + np.exp(-s))).astype(np.int64),
    }


def rotary_tables(window, head_dim, theta):
    """cos and sin of position p and pair j (units of 2^-TRIG_BITS), [window, head_dim / 2] each."""
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.arange(window, dtype=np.float64)[:, None] * inv_freq[None]
    return (np.round(np.cos(angles) * 2 ** TRIG_BITS).astype(np.int64), np.round(np.sin(angles) * 2 ** TRIG_BITS).astype(np.int64))


def multiplier(scale, bits=15):
    """(m, shift) with m = round(scale * 2^shift) in [2^bits, 2^(bits+1))."""
    shift = bits - math.floor(math.log2(scale))
    return int(round(scale * 2.0 ** shift)), shift


class Weights:
    """The int8 weights of a folder, by role, and where each lies (a weights file and offset, or in memory)."""

    def __init__(self, folder):
        onnx_dir = os.path.join(folder, 'onnx')
        quantized = os.path.join(onnx_dir, 'stepper_quantized.onnx')
        self.where = {}
        if os.path.exists(quantized):
            graph = onnx.load(quantized, load_external_data=False)
            for i in graph.graph.initializer:  # where each lies, before loading replaces it with its bytes
                if i.data_location == TensorProto.EXTERNAL:
                    self.where[i.name] = {e.key: e.value for e in i.external_data}
            onnx.external_data_helper.load_external_data_for_model(graph, onnx_dir)
        else:
            graph = quantize(onnx.load(os.path.join(onnx_dir, 'stepper.onnx')))
        self.init = {i.name: i for i in graph.graph.initializer}
        self.matrices = []  # (node name, weight name) of each linear layer, in graph order
        for node in graph.graph.node:
            if node.op_type in ('MatMulInteger', 'MatMul') and node.input[1] in self.init:
                self.matrices.append((node.name, node.input[1]))

    def array(self, name):
        return numpy_helper.to_array(self.init[name])

    def scale(self, name):
        return float(self.array(name.removesuffix('_quantized') + '_scale'))


class Graph:
    """A small ONNX builder: every op returns its output's name."""

    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0
        self.derived = set()  # initializers computed from the weights, saved to DERIVED_DATA

    def const(self, value, dtype=np.int64, name=None):
        self.count += 1
        name = name or f'c{self.count}'
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type, inputs, **attrs):
        self.count += 1
        out = f'{op_type.lower()}{self.count}'
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def num(self, value):
        """A float64 constant (integer-valued, or a power of two)."""
        return self.const(value, np.float64)

    def to_int(self, x):
        return self.op('Cast', [x], to=TensorProto.INT64)

    def to_float(self, x):
        return self.op('Cast', [x], to=TensorProto.FLOAT)

    def to_double(self, x):
        return self.op('Cast', [x], to=TensorProto.DOUBLE)

    def fshift(self, x, s, mult=None):
        """Round(x * mult * 2^-s) on float64 integers, half to even (ONNX Round), with x * mult below 2^53: the
        power of two is folded into the multiplier, which is exact, and so is the product."""
        factor = (1.0 if mult is None else np.asarray(mult, np.float64)) * 2.0 ** -s
        scaled = x if np.all(factor == 1) else self.op('Mul', [x, self.num(factor)])
        return scaled if s <= 0 else self.op('Round', [scaled])

    def rdiv(self, a, d):
        """floor((a + floor(d / 2)) / d) for a >= 0, d > 0: division rounded half up."""
        return self.op('Div', [self.op('Add', [a, self.op('Div', [d, self.const(2)])]), d])

    def rowmax_abs(self, x):
        """max |x| of each row (float64), at least 1."""
        return self.op('Max', [self.op('ReduceMax', [self.op('Abs', [x])], axes=[-1], keepdims=1), self.num(1)])

    def quant8(self, x, a):
        """round(127 x / a) + 128 in [1, 255] for |x| <= a < 2^40, as floor((254 x + 257 a) / 2a), in uint8 for an
        integer matrix product. The quotient is below 256, so Floor of the rounded float64 division is exact."""
        num = self.op('Add', [self.op('Mul', [x, self.num(254)]), self.op('Mul', [a, self.num(257)])])
        q = self.op('Floor', [self.op('Div', [num, self.op('Mul', [a, self.num(2)])])])
        return self.op('Cast', [q], to=TensorProto.UINT8)

    def weights7(self, name, w8, peak):
        """int8 weights [K, N] to 7 bits per column: round(63 w / peak_j) in [-63, 63] (peak_j = max(63, max |w_.j|),
        so columns already within 7 bits stay as they are), rounded half up: floor((126 w + 129 peak) / 2 peak) - 64.
        Computed here, and stored beside the graph (derived from the weights, so no fingerprint covers them): folding
        them at load doubled the time onnxruntime takes to open the graph."""
        w = w8.astype(np.int64)
        peak = np.asarray(peak, np.int64)[None, :]
        w7 = np.floor_divide(126 * w + 129 * peak, 2 * peak) - 64
        assert w7.min() >= -64 and w7.max() <= 63
        self.derived.add(name)
        return self.const(w7.astype(np.int8), np.int8, name)

    def matmul_u8s7(self, a, b):
        """a (uint8, zero point 128) times b (int8 within [-64, 63]): every pair of products a u8 x s8 kernel adds in
        16 bits stays within 2 * 255 * 64 < 2^15, so no kernel saturates (AVX2's vpmaddubsw included), and the
        int32 sums are exact. As float64."""
        return self.op('Cast', [self.op('MatMulInteger', [a, b, self.const(128, np.uint8)])], to=TensorProto.DOUBLE)


def column_peaks(w8):
    """max(63, max |w| of each column) of an int8 matrix [K, N]."""
    return np.maximum(63, np.abs(w8.astype(np.int64)).max(axis=0))


def build(folder, shifts):
    config = json.load(open(os.path.join(folder, 'config.json')))
    D, H, Hk = config['hidden_size'], config['num_attention_heads'], config['num_key_value_heads']
    dh, F, V, L = config['head_dim'], config['intermediate_size'], config['vocab_size'], config['num_hidden_layers']
    positions = max(config['llmc']['window'], config['llmc']['settings'].get('block_size', 0))  # as trained
    eps = config['rms_norm_eps']
    w = Weights(folder)
    assert len(w.matrices) == 7 * L + 1, f'expected {7 * L + 1} linear layers, found {len(w.matrices)}'
    g = Graph()
    spec = {'arithmetic': ARITHMETIC, 'R': R, 'Q': Q, 'layers': []}  # what src/integer.ts reads
    files = {}  # tensor name -> its location, for integer.json
    stored = []  # (name, array) of each weight tensor, in the order integer.onnx_data takes those it holds

    def weight(name, dtype, in_graph=True):
        """A weight tensor, listed in integer.json where it lies (for src/integer.ts); in the graph, referenced there."""
        array = w.array(name)
        assert array.dtype == dtype, (name, array.dtype)
        if in_graph:
            g.inits.append(numpy_helper.from_array(array, name))
        files[name] = {'shape': list(array.shape), 'dtype': str(array.dtype), **w.where.get(name, {})}
        stored.append((name, array))
        return name

    def weights7(name, peaks):
        """A linear layer's int8 weights as the graph multiplies them: 7 bits per column."""
        weight(name, np.int8, in_graph=False)
        return g.weights7(f'{name}.7bit', w.array(name), peaks)

    t = tables()
    cos, sin = rotary_tables(positions, dh, config['rope_theta'])
    rsqrt = g.const(t['rsqrt'])  # per-row scalars are int64
    attn_exp, sigmoid = g.num(t['attn_exp']), g.num(t['sigmoid'])  # the head's exp table is used outside the graph
    pow2 = g.const([1 << i for i in range(63)])
    pow4 = g.const([1 << (2 * i) for i in range(32)])
    norm_den = g.const([127 << (RSQRT_BITS + i - Q) for i in range(32)])
    cos_full, sin_full = g.num(np.concatenate([cos, cos], 1)), g.num(np.concatenate([-sin, sin], 1))
    E = max(1, round(eps * 2 ** (2 * R)))
    spec.update(positions=positions, eps=E, tables={k: v.tolist() for k, v in t.items()}, cos=cos.tolist(), sin=sin.tolist())

    def normq(x, gain_name):
        """RMSNorm and int8 quantization of each row: q in [-127, 127] and its row factor PHI (units of 2^-Q), with
        q * PHI * 2^-Q the normalised (and gained) row."""
        gain = np.round(w.array(gain_name).astype(np.float64) * 2 ** GAIN_BITS).astype(np.int64)
        xg = g.fshift(x, GAIN_BITS, gain)
        a_wide = g.rowmax_abs(xg)
        q = g.quant8(xg, a_wide)
        a = g.to_int(a_wide)
        ss = g.to_int(g.op('ReduceSum', [g.op('Mul', [x, x]), g.const([-1])], keepdims=1))  # below 2^53: exact in any order
        ms = g.op('Add', [g.op('Div', [ss, g.const(D)]), g.const(E)])
        bits = g.op('ReduceSum', [g.to_int(g.op('GreaterOrEqual', [ms, pow2])), g.const([-1])], keepdims=1)
        e = g.op('Div', [g.op('Sub', [g.op('Max', [bits, g.const(12)]), g.const(11)]), g.const(2)])
        m = g.op('Div', [ms, g.op('Gather', [pow4, e])])
        phi = g.rdiv(g.op('Mul', [a, g.op('Gather', [rsqrt, m])]), g.op('Gather', [norm_den, e]))
        return q, phi, gain.tolist()

    def quantize_rows(x, unit_bits):
        """Rows of float64 integers in units of 2^-unit_bits to int8 (uint8 + 128) and their row factor
        PHI = round(a * 2^(Q - unit_bits) / 127), a = max |x|, so that q * PHI * 2^-Q is the row."""
        a = g.rowmax_abs(x)
        phi = g.rdiv(g.op('Mul', [g.to_int(a), g.const(1 << Q)]), g.const(127 << unit_bits))
        return g.quant8(x, a), phi

    def linear(q, phi, names):
        """q (uint8, round(127 x / a) + 128) times the int8 matrices `names` side by side, each brought to 7 bits per
        column, rescaled by their column scales and the row factor phi to units of 2^-R."""
        peaks = [column_peaks(w.array(n)) for n in names]
        scales = np.concatenate([w.scale(n) * p / 63 for n, p in zip(names, peaks)])
        wb = multiplier(float(scales.max()))[1]  # the largest scale's multiplier in [2^15, 2^16)
        mw = np.round(scales * 2.0 ** wb).astype(np.int64)
        mats = [weights7(n, p) for n, p in zip(names, peaks)]
        mat = mats[0] if len(mats) == 1 else g.op('Concat', mats, axis=1)
        acc = g.matmul_u8s7(q, mat)
        s1 = 16
        s2 = wb + Q - R - s1
        assert s2 > 0
        out = g.op('Round', [g.op('Mul', [g.fshift(acc, s1, mw), g.op('Mul', [g.to_double(phi), g.num(2.0 ** -s2)])])])
        return out, {'weights': names, 'mult': mw.tolist(), 's1': s1, 's2': s2}

    ids, positions = 'input_ids', 'position_ids'
    # The embedding: uint8 with a zero point, rescaled to units of 2^-R.
    emb = 'model.embed_tokens.weight_quantized'
    weight(emb, np.uint8)
    emb_zero = int(w.array('model.embed_tokens.weight_zero_point'))
    emb_mult, emb_shift = multiplier(w.scale(emb) * 2 ** R)
    x = g.fshift(g.op('Sub', [g.to_double(g.op('Gather', [emb, ids])), g.num(emb_zero)]), emb_shift, emb_mult)
    spec['embedding'] = {'weights': emb, 'zero': emb_zero, 'mult': emb_mult, 'shift': emb_shift}

    cos_p = g.op('Unsqueeze', [g.op('Gather', [cos_full, positions]), g.const([1])])  # [B, 1, T, dh]
    sin_p = g.op('Unsqueeze', [g.op('Gather', [sin_full, positions]), g.const([1])])
    steps = g.op('Gather', [g.op('Shape', [ids]), g.const(1)])
    seq = g.op('Range', [g.const(0), steps, g.const(1)])
    causal = g.op('LessOrEqual', [g.op('Unsqueeze', [seq, g.const([0])]), g.op('Unsqueeze', [seq, g.const([1])])])  # [T, T]
    # Masked scores (float32) sink by 2^30, past the end of the exp table, to weight 0.
    penalty = g.const(-2.0 ** 30, np.float32)
    new_penalty = g.op('Mul', [g.op('Tile', [g.op('Sub', [g.const(1, np.float32), g.to_float(causal)]), g.const([H // Hk, 1])]), penalty])  # [gT, T]
    slot_penalty = g.op('Mul', [g.op('Unsqueeze', [g.op('Sub', [g.const(1, np.float32), g.to_float('slot_mask')]), g.const([1, 2])]), penalty])  # [B,1,1,S]
    outputs = []

    def heads(x2, n):
        """[B, T, n*dh] -> [B, n, T, dh]"""
        return g.op('Transpose', [g.op('Reshape', [x2, g.const([0, 0, n, dh])])], perm=[0, 2, 1, 3])

    def rotate(x4, s):
        half = dh // 2
        swapped = g.op('Concat', [g.op('Slice', [x4, g.const([half]), g.const([dh]), g.const([3])]),
                                  g.op('Slice', [x4, g.const([0]), g.const([half]), g.const([3])])], axis=3)
        rotated = g.op('Add', [g.op('Mul', [x4, cos_p]), g.op('Mul', [swapped, sin_p])])
        return g.to_float(g.op('Clip', [g.fshift(rotated, TRIG_BITS + s), g.num(-Q_LIMIT), g.num(Q_LIMIT)]))

    layer_names = w.matrices[:-1]
    for l in range(L):
        sq, sk, sv = shifts[l]
        q_name, k_name, v_name, o_name, gate_name, up_name, down_name = [n for _, n in layer_names[7 * l: 7 * l + 7]]
        roles = [nm for nm, _ in layer_names[7 * l: 7 * l + 7]]
        assert [r.split('/')[-2].split('_proj')[0] + '_proj' for r in roles] == ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], roles
        layer = {'shifts': [sq, sk, sv]}
        q, phi, layer['gain1'] = normq(x, f'model.layers.{l}.input_layernorm.weight')
        qkv, layer['qkv'] = linear(q, phi, [q_name, k_name, v_name])
        qq = g.op('Slice', [qkv, g.const([0]), g.const([H * dh]), g.const([2])])
        kk = g.op('Slice', [qkv, g.const([H * dh]), g.const([(H + Hk) * dh]), g.const([2])])
        vv = g.op('Slice', [qkv, g.const([(H + Hk) * dh]), g.const([(H + 2 * Hk) * dh]), g.const([2])])
        q10 = rotate(heads(qq, H), sq)
        k10 = rotate(heads(kk, Hk), sk)
        v12 = g.to_float(g.op('Clip', [g.fshift(heads(vv, Hk), sv), g.num(-V_LIMIT), g.num(V_LIMIT)]))
        slots_k, slots_v = f'slots.{l}.key', f'slots.{l}.value'
        qg = g.op('Reshape', [q10, g.const([0, Hk, -1, dh])])  # [B, Hk, gT, dh]
        # The cached keys times the queries, not the other way round: a product packs its second operand each call,
        # and the queries are the small one (a decoder's step: 5-7% faster, the same integers).
        s_slots = g.op('Add', [g.op('Transpose', [g.op('MatMul', [slots_k, g.op('Transpose', [qg], perm=[0, 1, 3, 2])])], perm=[0, 1, 3, 2]), slot_penalty])
        s_new = g.op('Add', [g.op('MatMul', [qg, g.op('Transpose', [k10], perm=[0, 1, 3, 2])]), new_penalty])
        scores = g.op('Concat', [s_slots, s_new], axis=3)  # float32 integers below 2^24 where not masked
        d = g.op('Sub', [g.op('ReduceMax', [scores], axes=[-1], keepdims=1), scores])
        # Score differences in units of 1/256 nat are d * 2^(sq + sk - 2R) / sqrt(dh) * 256 = d * 2^-attn_shift. In
        # float32 d is exact below 2^24, and whatever rounds lies past the table's end (asserted).
        scale = score_scale(sq, sk, dh)
        attn_shift = -round(math.log2(scale))
        assert scale == 2.0 ** -attn_shift, 'the attention scale must be a power of two'
        assert exact_in_float32(scale), f'layer {l}: shifts q {sq} and k {sk} leave score differences inexact in float32'
        idx = g.op('Min', [g.op('Round', [g.op('Mul', [d, g.const(scale, np.float32)])]), g.const(ATTN_EXP_SIZE - 1, np.float32)])
        e = g.op('Gather', [attn_exp, g.to_int(idx)])  # float64
        # P = floor(e * floor(2^36 / sum e) / 2^24): the quotient is below 2^21, far from 2^53 / 2^24, so Floor of the
        # division is exact; the products are below 2^36.
        inv = g.op('Floor', [g.op('Div', [g.num(2.0 ** 36), g.op('ReduceSum', [e, g.const([-1])], keepdims=1)])])
        p = g.to_float(g.op('Floor', [g.op('Mul', [e, g.op('Mul', [inv, g.num(2.0 ** -24)])])]))
        n_slots = g.op('Shape', [slots_k], start=2, end=3)
        p_slots = g.op('Slice', [p, g.const([0]), n_slots, g.const([3])])
        p_new = g.op('Slice', [p, n_slots, g.const([1 << 62]), g.const([3])])
        o = g.op('Add', [g.op('MatMul', [p_slots, slots_v]), g.op('MatMul', [p_new, v12])])  # [B, Hk, gT, dh]
        o = g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [o, g.const([0, H, -1, dh])])], perm=[0, 2, 1, 3]), g.const([0, 0, H * dh])])
        out, layer['o'] = linear(*quantize_rows(g.to_double(o), PROB_BITS + R - sv), [o_name])
        x = g.op('Add', [x, out])
        layer['attn'] = {'shift': attn_shift}
        outputs += [(k10, f'new.{l}.key'), (v12, f'new.{l}.value')]

        q, phi, layer['gain2'] = normq(x, f'model.layers.{l}.post_attention_layernorm.weight')
        gu, layer['gate_up'] = linear(q, phi, [gate_name, up_name])
        gate = g.op('Slice', [gu, g.const([0]), g.const([F]), g.const([2])])
        up = g.op('Slice', [gu, g.const([F]), g.const([2 * F]), g.const([2])])
        sidx = g.op('Clip', [g.op('Add', [g.fshift(gate, R - 8), g.num(SIG_SIZE // 2)]), g.num(0), g.num(SIG_SIZE - 1)])
        silu = g.fshift(g.op('Mul', [gate, g.op('Gather', [sigmoid, g.to_int(sidx)])]), SIG_BITS)
        hidden = g.fshift(g.op('Mul', [silu, up]), R)
        out, layer['down'] = linear(*quantize_rows(hidden, R), [down_name])
        x = g.op('Add', [x, out])
        spec['layers'].append(layer)

    # The head runs on the last `predict` positions: 1 a step; an encoder, which knows the tokens, feeds many.
    last = g.op('Slice', [x, g.op('Neg', ['predict']), g.const([1 << 62]), g.const([1])])  # [B, P, D]
    q, phi, spec['gain_final'] = normq(last, 'model.norm.weight')  # phi: int64
    head = w.matrices[-1][1]
    head_peaks = column_peaks(w.array(head))
    head7 = weights7(head, head_peaks)
    # The integer logits: each column's sum times its scale relative to the largest (15 bits), shifted back below
    # 2^24 so that float32 holds them exactly: in units of the largest column scale / 4.
    head_scales = w.scale(head) * head_peaks / 63
    column_mult = np.round(head_scales / head_scales.max() * 2 ** 15).astype(np.int64)
    # The graph gives the int32 sums; the caller (src/model.ts) scales them to logits, column_mult over 2^13, as
    # src/integer.ts does: three float64 passes over the vocabulary here cost more than all the layers together.
    acc = g.op('MatMulInteger', [q, head7, g.const(128, np.uint8)])  # [B, P, V]
    head_scale_real = head_scales.max() / 4
    # Logit differences in units of 1/256 nat are (max - logit) * head_scale * 2^-HEAD_SHIFT; the exp table turns
    # them into the coder's weights outside the graph too, row by row.
    head_mult, head_shift = multiplier(head_scale_real * 256 * 2.0 ** (-Q) * 2 ** HEAD_SHIFT, 15)
    head_scale = g.op('Reshape', [g.to_int(g.fshift(g.to_double(phi), head_shift, head_mult)), g.const([0, -1])])  # [B, P]
    spec['head'] = {'weights': head, 'column_mult': column_mult.tolist(), 'column_shift': 13, 'mult': head_mult, 'shift': head_shift, 'final_shift': HEAD_SHIFT}
    spec['files'] = files

    g.nodes.append(helper.make_node('Identity', [acc], ['head_sums'], name='head_sums'))
    g.nodes.append(helper.make_node('Identity', [head_scale], ['head_scale'], name='head_scale'))
    for src, name in outputs:
        g.nodes.append(helper.make_node('Identity', [src], [name], name=name))
    B, Tn, S = 'batch_size', 'sequence_length', 'slots'
    inputs = [helper.make_tensor_value_info('input_ids', TensorProto.INT64, [B, Tn]),
              helper.make_tensor_value_info('position_ids', TensorProto.INT64, [B, Tn]),
              helper.make_tensor_value_info('slot_mask', TensorProto.BOOL, [B, S]),
              helper.make_tensor_value_info('predict', TensorProto.INT64, [1])]
    for l in range(L):
        for kv in ('key', 'value'):
            inputs.append(helper.make_tensor_value_info(f'slots.{l}.{kv}', TensorProto.FLOAT, [B, Hk, S, dh]))
    P = 'predicted'
    outs = [helper.make_tensor_value_info('head_sums', TensorProto.INT32, [B, P, V]),
            helper.make_tensor_value_info('head_scale', TensorProto.INT64, [B, P])]
    for l in range(L):
        for kv in ('key', 'value'):
            outs.append(helper.make_tensor_value_info(f'new.{l}.{kv}', TensorProto.FLOAT, [B, Hk, Tn, dh]))
    graph = helper.make_graph(g.nodes, 'llmc-integer', inputs, outs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='llmc integer.py')
    model.ir_version = 8
    return model, spec, stored, g.derived


def save(model, spec, stored, derived, folder):
    """Writes integer.onnx, with weights already in a file referenced there, the other weights in integer.onnx_data
    and the tensors derived from them (the 7-bit matrices) in DERIVED_DATA."""
    onnx_dir = os.path.join(folder, 'onnx')
    data = {WEIGHTS_DATA: bytearray(), DERIVED_DATA: bytearray()}

    def put(name, array):
        raw = array.tobytes()
        data[name] += bytes(-len(data[name]) % 64)
        place = {'location': name, 'offset': str(len(data[name])), 'length': str(len(raw))}
        data[name] += raw
        return place

    for name, array in stored:
        if 'location' not in spec['files'][name]:  # in memory (quantized here): goes to integer.onnx_data
            spec['files'][name].update(put(WEIGHTS_DATA, array))
    for tensor in model.graph.initializer:
        place = put(DERIVED_DATA, numpy_helper.to_array(tensor)) if tensor.name in derived else spec['files'].get(tensor.name)
        if place is None:
            continue
        tensor.ClearField('raw_data')
        tensor.data_location = TensorProto.EXTERNAL
        del tensor.external_data[:]
        for k in ('location', 'offset', 'length'):
            tensor.external_data.add(key=k, value=place[k])
    for name, raw in data.items():
        if raw:
            with open(os.path.join(onnx_dir, name), 'wb') as f:
                f.write(raw)
    onnx.save(model, os.path.join(onnx_dir, 'integer.onnx'))
    json.dump(spec, open(os.path.join(onnx_dir, 'integer.json'), 'w'), separators=(',', ':'))


def choose_shifts(folder, calibration=''):
    """Per layer (sq, sk, sv): the smallest shifts that keep the calibration's largest |q|, |k| (units of 2^-R,
    after rotation) within Q_LIMIT and |v| within V_LIMIT, and score differences exact in build's float32."""
    config = json.load(open(os.path.join(folder, 'config.json')))
    layers = config['num_hidden_layers']
    dh = config.get('head_dim') or config['hidden_size'] // config['num_attention_heads']
    if calibration:
        cal = json.load(open(calibration))
        assert cal['tokens'] > 0, f'{calibration} measured no tokens'
        fit = lambda m, limit: max(0, math.ceil(math.log2(max(m, 1) / limit)))
        return [[*exact_scores(fit(c['q'], Q_LIMIT), fit(c['k'], Q_LIMIT), dh), fit(c['v'], V_LIMIT)] for c in cal['layers']]
    previous = os.path.join(folder, 'onnx', 'integer.json')
    if os.path.exists(previous):
        return [layer['shifts'] for layer in json.load(open(previous))['layers']]
    return [[4, 4, 2]] * layers


def exact_scores(sq, sk, dh):
    """Raises the smaller of q's and k's shifts until every score difference that the attention table can tell apart
    stays below 2^24 (build's assertion). A layer whose |q| and |k| are small would otherwise get shifts of 0: a
    deepened model's copied layers start with near-uniform attention (deepen.py), and one of v4's kept it."""
    while not exact_in_float32(score_scale(sq, sk, dh)):
        sq, sk = (sq + 1, sk) if sq <= sk else (sq, sk + 1)
    return sq, sk


def score_scale(sq, sk, dh):
    """What turns a score difference d (q10 · k10 products, integers) into units of 1/256 nat."""
    return 2.0 ** (sq + sk - 2 * R) / math.sqrt(dh) * 256


def exact_in_float32(scale):
    """Whether every difference the attention table tells apart (d · scale below ATTN_EXP_SIZE) has d below 2^24,
    where float32 holds integers exactly."""
    return 2.0 ** 24 * scale >= ATTN_EXP_SIZE


def write_integer_graph(folder, calibration=''):
    """Builds and saves onnx/integer.onnx and integer.json for a folder (export.py calls this too)."""
    model, spec, stored, derived = build(folder, choose_shifts(folder, calibration))
    save(model, spec, stored, derived, folder)
    print(f'wrote {folder}/onnx/integer.onnx: {len(model.graph.node)} nodes, shifts {[l["shifts"] for l in spec["layers"]]}', flush=True)


if __name__ == '__main__':
    override(globals())
    write_integer_graph(model_dir, calibration)
