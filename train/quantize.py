"""int8 dynamic quantization of the exported graphs, and saving graphs that share one weights file.

The quantization is onnxruntime's quantize_dynamic (QInt8 weights, per tensor) written out, so the export needs
no onnxruntime: linear weights become symmetric int8 and each MatMul a MatMulInteger over its input quantized on
the fly (DynamicQuantizeLinear) followed by a rescale; the embedding table becomes asymmetric uint8 with a
DequantizeLinear after its Gather. On our models it gives onnxruntime's weights bit for bit.
"""
import hashlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _scale_zero_point(w, qmin, qmax, symmetric):
    rmin, rmax = min(float(w.min()), 0.0), max(float(w.max()), 0.0)
    if symmetric:
        rmax = max(abs(rmin), abs(rmax))
        rmin = -rmax
    scale = np.float64(rmax - rmin) / (qmax - qmin)
    zero_point = 0 if symmetric else round(qmin - rmin / scale)
    return np.float32(scale), zero_point


def _quantized(w, dtype, qmin, qmax, symmetric):
    scale, zero_point = _scale_zero_point(w, qmin, qmax, symmetric)
    q = np.clip(np.round(w.astype(np.float32) / scale) + zero_point, qmin, qmax).astype(dtype)
    return q, scale, np.array(zero_point, dtype)


def quantize(model, weights_only=False):
    """A copy of `model` with every MatMul by a 2-D initializer and every Gather from one quantized. weights_only:
    the 8-bit weights are widened back to float32 in the graph (Cast, Mul by the scale) for float32 products, as
    onnxruntime's WebGPU kernels have no MatMulInteger; the stored weights are the same bytes either way."""
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    keep, added, nodes, activations = set(weights), [], [], set()

    def add(name, array):
        added.append(numpy_helper.from_array(array, name))

    for node in graph.node:
        if node.op_type == 'MatMul' and node.input[1] in weights and len(weights[node.input[1]].dims) == 2:
            x, w, out = node.input[0], node.input[1], node.output[0]
            q, scale, zero_point = _quantized(numpy_helper.to_array(weights[w]), np.int8, -127, 127, True)
            add(f'{w}_quantized', q), add(f'{w}_scale', scale)
            keep.discard(w)
            if weights_only:
                nodes += [
                    helper.make_node('Cast', [f'{w}_quantized'], [f'{w}_widened'], to=TensorProto.FLOAT, name=f'{w}_widen'),
                    helper.make_node('Mul', [f'{w}_widened', f'{w}_scale'], [f'{w}_dequantized'], name=f'{w}_rescale'),
                    helper.make_node('MatMul', [x, f'{w}_dequantized'], [out], name=node.name),
                ]
                continue
            add(f'{w}_zero_point', zero_point)
            if x not in activations:  # one dynamic quantization per activation, shared by its MatMuls
                activations.add(x)
                nodes.append(helper.make_node('DynamicQuantizeLinear', [x], [f'{x}_quantized', f'{x}_scale', f'{x}_zero_point'],
                                              name=f'{x}_QuantizeLinear'))
            nodes += [
                helper.make_node('Mul', [f'{x}_scale', f'{w}_scale'], [f'{node.name}_quant_scales_mul:0'], name=f'{node.name}_quant_scales_mul'),
                helper.make_node('MatMulInteger', [f'{x}_quantized', f'{w}_quantized', f'{x}_zero_point', f'{w}_zero_point'],
                                 [f'{out}_output_quantized'], name=f'{node.name}_quant'),
                helper.make_node('Cast', [f'{out}_output_quantized'], [f'{out}_output_quantized_cast_output'], to=TensorProto.FLOAT,
                                 name=f'{out}_output_quantized_cast'),
                helper.make_node('Mul', [f'{out}_output_quantized_cast_output', f'{node.name}_quant_scales_mul:0'], [out],
                                 name=f'{node.name}_quant_output_scale_mul'),
            ]
        elif node.op_type == 'Gather' and node.input[0] in weights:
            w, out = node.input[0], node.output[0]
            q, scale, zero_point = _quantized(numpy_helper.to_array(weights[w]), np.uint8, 0, 255, False)
            add(f'{w}_quantized', q), add(f'{w}_scale', scale), add(f'{w}_zero_point', zero_point)
            keep.discard(w)
            if weights_only:  # the table widened whole, then gathered (onnxruntime folds constants like these at load)
                nodes += [
                    helper.make_node('Cast', [f'{w}_quantized'], [f'{w}_widened'], to=TensorProto.FLOAT, name=f'{w}_widen'),
                    helper.make_node('Cast', [f'{w}_zero_point'], [f'{w}_zero_point_widened'], to=TensorProto.FLOAT, name=f'{w}_zero_point_widen'),
                    helper.make_node('Sub', [f'{w}_widened', f'{w}_zero_point_widened'], [f'{w}_centered'], name=f'{w}_center'),
                    helper.make_node('Mul', [f'{w}_centered', f'{w}_scale'], [f'{w}_dequantized'], name=f'{w}_rescale'),
                    helper.make_node('Gather', [f'{w}_dequantized', node.input[1]], [out], name=node.name,
                                     **{a.name: helper.get_attribute_value(a) for a in node.attribute}),
                ]
                continue
            nodes += [
                helper.make_node('Gather', [f'{w}_quantized', node.input[1]], [f'{out}_quantized'], name=node.name,
                                 **{a.name: helper.get_attribute_value(a) for a in node.attribute}),
                helper.make_node('DequantizeLinear', [f'{out}_quantized', f'{w}_scale', f'{w}_zero_point'], [out],
                                 name=f'{out}_DequantizeLinear'),
            ]
        else:
            nodes.append(node)
    quantized = onnx.ModelProto()
    quantized.CopyFrom(model)
    del quantized.graph.node[:], quantized.graph.initializer[:]
    quantized.graph.node.extend(nodes)
    quantized.graph.initializer.extend([weights[n] for n in weights if n in keep] + added)
    return quantized


def save_sharing_weights(models, data_path, min_bytes=1024):
    """Saves {path: model} so that every initializer of at least min_bytes lives once in data_path (a file next to
    them), referenced by offset from each graph that holds it: two graphs of one model cost one set of weights."""
    offsets, data = {}, bytearray()
    for model in models.values():
        for tensor in model.graph.initializer:
            raw = numpy_helper.to_array(tensor).tobytes()
            if len(raw) < min_bytes:
                continue
            key = (tensor.data_type, hashlib.sha256(raw).digest())
            if key not in offsets:
                data += bytes(-len(data) % 64)  # aligned, so the runtime can map tensors in place
                offsets[key] = len(data)
                data += raw
            tensor.ClearField('raw_data')
            for field in ('float_data', 'int32_data', 'int64_data'):
                tensor.ClearField(field)
            tensor.data_location = TensorProto.EXTERNAL
            del tensor.external_data[:]
            for k, v in (('location', data_path.rsplit('/', 1)[-1]), ('offset', str(offsets[key])), ('length', str(len(raw)))):
                tensor.external_data.add(key=k, value=v)
    with open(data_path, 'wb') as f:
        f.write(data)
    for path, model in models.items():
        onnx.save(model, path)
