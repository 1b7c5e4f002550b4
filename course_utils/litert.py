"""LiteRT (formerly TensorFlow Lite), where notebooks 06 and 07 deploy: the converter's modes
(ai.google.dev/edge/litert, 'Post-training quantization'), a runner (accuracy, batch-1 calls,
execution plan) and a reader of the file's constant tensors."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .numerics import round_half_away
from .validators import instance, integer, one_of

#: The converter's four post-training modes, and 'qat' (see :func:`to_tflite`).
TFLITE_MODES = ("float32", "float16", "dynamic_int8", "full_int8", "qat")

#: What the converter and the runtime print on stderr that says nothing to a student.
_LITERT_NOISE = ("fully_quantize:", "Created TensorFlow Lite XNNPACK delegate", "Ignored output_format",
                 "Ignored drop_control_dependency", "Estimated count of arithmetic ops")


@contextlib.contextmanager
def _quiet_litert() -> Iterator[None]:
    """Silence the converter's stdout, known stderr and INFO lines and plumbing warnings."""
    from .tfenv import NOISE, filtered_stderr

    disabled = logging.root.manager.disable
    with contextlib.redirect_stdout(io.StringIO()), filtered_stderr(NOISE + _LITERT_NOISE), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*(Statistics for quantized inputs|tf.lite.Interpreter is deprecated)")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        logging.disable(logging.WARNING)  # 'INFO:tensorflow:Assets written to: /tmp/...'
        try:
            yield
        finally:
            logging.disable(disabled)


def to_tflite(model: Any, mode: str = "float32", representative_data: Any = None) -> bytes:
    """Convert a Keras model to ``.tflite`` bytes in one of :data:`TFLITE_MODES`: ``'float32'``
    as is; ``'float16'`` weights (CPUs widen them at load); ``'dynamic_int8'``: weight tensors of
    >= 1,024 elements int8 (symmetric, per output channel), activations float, quantized on the
    fly inside each matmul; ``'full_int8'``: weights, activations, input and output int8, ranges
    calibrated on ``representative_data`` (float32 (N, ...) typical inputs); ``'qat'``: the
    model's ``tf.quantization.fake_quant_*`` nodes set ranges and bits (<= 4-bit weights are
    stored as INT4). Uses ``from_keras_model`` (``from_concrete_functions`` wrote NaN models)."""
    import tensorflow as tf

    one_of("mode", mode, TFLITE_MODES)
    if (mode == "full_int8") != (representative_data is not None):
        raise ValueError("mode='full_int8' needs representative_data (a float32 array (N, ...) of "
                         f"100-500 typical inputs); other modes take none (mode={mode!r})")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float32":  # also for 'qat': DEFAULT makes the converter honour fake-quant nodes
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "full_int8":
        rep = np.asarray(representative_data, dtype=np.float32)
        if rep.shape[1:] != tuple(model.input_shape[1:]) or len(rep) == 0:
            raise ValueError(f"representative_data has shape {rep.shape}; the model takes "
                             f"(N >= 1, {', '.join(map(str, model.input_shape[1:]))})")
        converter.representative_dataset = lambda: ([rep[i : i + 1]] for i in range(len(rep)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
    with _quiet_litert():
        return bytes(converter.convert())


def _tflite_bytes(model_content: bytes | str | Path) -> bytes:
    """A ``.tflite`` flatbuffer's bytes, from bytes or a path, checked for its 'TFL3' identifier."""
    if isinstance(model_content, str | Path):
        model_content = Path(model_content).read_bytes()
    instance("model_content", model_content, (bytes, bytearray), "bytes object (.tflite) or a path")
    if bytes(model_content[4:8]) != b"TFL3":
        raise ValueError("model_content is not a LiteRT flatbuffer (no 'TFL3' identifier)")
    return bytes(model_content)


def interpreter_class() -> type:
    """``ai_edge_litert``'s Interpreter; ``tf.lite.Interpreter`` where it does not import (Intel macOS)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the same class as tf.lite.Interpreter
        from tensorflow.lite.python.interpreter import Interpreter
    return Interpreter


class LiteRTModel:
    """A ``.tflite`` model on the CPU (``num_threads=1``: one core): predictions, accuracy, a
    batch-1 call, its execution plan. Inputs and outputs are float32 as for the Keras model (an
    int8 model's input is quantized with its (S, Z), its output dequantized)."""

    def __init__(self, model_content: bytes | str | Path) -> None:
        self.model_content = _tflite_bytes(model_content)
        self._interpreters: dict[int, Any] = {}
        it = self._interpreter(1)
        inputs, output = it.get_input_details(), it.get_output_details()[0]
        if len(inputs) != 1:
            raise ValueError("LiteRTModel runs single-input models only")
        self.input_shape = tuple(int(d) for d in inputs[0]["shape"][1:])
        self.input_dtype, self.output_dtype = np.dtype(inputs[0]["dtype"]), np.dtype(output["dtype"])
        #: (S, Z) of an int8 input or output (the converter's calibration); (0.0, 0) for float
        self.input_quantization, self.output_quantization = inputs[0]["quantization"], output["quantization"]
        self.size_bytes = len(self.model_content)  #: size of the ``.tflite`` file in bytes

    def _interpreter(self, batch_size: int) -> Any:
        if batch_size not in self._interpreters:
            with _quiet_litert():
                it = interpreter_class()(model_content=self.model_content, num_threads=1)
                detail = it.get_input_details()[0]
                it.resize_tensor_input(detail["index"], [batch_size, *detail["shape"][1:]])
                it.allocate_tensors()
            self._interpreters[batch_size] = it
        return self._interpreters[batch_size]

    def predict(self, x: Any, batch_size: int = 1000) -> np.ndarray:
        """Float32 outputs for the float32 inputs ``x`` (N, ...), ``batch_size`` at a time."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"x has samples of shape {x.shape[1:]}; the model takes {self.input_shape}")
        batch_size = integer("batch_size", batch_size, 1)
        y = np.concatenate([self.call(x[i : i + batch_size])() for i in range(0, len(x), batch_size)])
        if np.issubdtype(self.output_dtype, np.integer):  # r = S (q - Z)
            scale, zero = self.output_quantization
            return ((y.astype(np.float64) - zero) * scale).astype(np.float32)
        return y.astype(np.float32)

    def accuracy(self, x: Any, y: Any, batch_size: int = 1000) -> float:
        """Fraction of ``x`` whose arg-max output equals the label in ``y``."""
        y = np.asarray(y).reshape(-1)
        if len(y) != len(x):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels")
        return float(np.mean(np.argmax(self.predict(x, batch_size), axis=-1) == y))

    def call(self, x: Any = None) -> Callable[[], np.ndarray]:
        """A zero-argument call (set the input, ``invoke()``, read the raw output) for
        :func:`course_utils.timing.compare_latency`. ``x``: one sample (default zeros) or a
        batch, converted to the model's input type here, once."""
        feed = np.zeros(self.input_shape) if x is None else np.asarray(x, np.float64)
        feed = feed.reshape(-1, *self.input_shape)
        if np.issubdtype(self.input_dtype, np.integer):  # q = clip(round(r / S) + Z)
            (scale, zero), info = self.input_quantization, np.iinfo(self.input_dtype)
            feed = np.clip(round_half_away(feed / scale) + zero, info.min, info.max)
        feed = feed.astype(self.input_dtype)
        it = self._interpreter(len(feed))
        inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]

        def invoke() -> np.ndarray:
            it.set_tensor(inp, feed)
            it.invoke()
            return it.get_tensor(out)

        return invoke

    def execution_plan(self) -> list[tuple[str, tuple[str, ...]]]:
        """The steps the CPU interpreter runs, in graph order: ``('XNNPACK', ops)`` for each
        partition XNNPACK (LiteRT's default CPU delegate) took over, ``('built-in', (op,))``
        for each op left to LiteRT's own kernels (one XNNPACK lacks at this precision)."""
        graph = self._interpreter(1)._interpreter  # no public API for the C++ graph's nodes
        nodes = [(graph.NodeName(i), set(graph.NodeInputs(i).tolist()), graph.NodeOutputs(i).tolist())
                 for i in range(graph.NumNodes())]  # the model's ops, then one DELEGATE per partition
        producer = {t: i for i, (name, _, outs) in enumerate(nodes) if name != "DELEGATE" for t in outs}
        steps, taken = [], set()
        for name, inputs, outputs in nodes:
            part, stack = set(), list(outputs) if name == "DELEGATE" else []
            while stack:  # walk back from the partition's outputs to its inputs
                t = stack.pop()
                if t not in inputs and t in producer and producer[t] not in part:
                    part.add(producer[t])
                    stack.extend(nodes[producer[t]][1])
            if part:
                taken |= part
                steps.append((min(part), "XNNPACK", tuple(nodes[i][0] for i in sorted(part))))
        steps += [(i, "built-in", (n[0],)) for i, n in enumerate(nodes) if n[0] != "DELEGATE" and i not in taken]
        return [(runner, ops) for _, runner, ops in sorted(steps)]


@dataclass(frozen=True)
class TfliteTensor:
    """One constant tensor of a ``.tflite`` file: ``dtype`` as the schema names it ('int8',
    'int4', ...); ``shape`` output channels first (Dense (out, in), Conv2D (out_ch, f_dim, f_dim,
    in_ch)); ``nbytes`` in the file; ``scale`` and ``zero_point`` per channel along ``axis``
    (empty when not quantized): codes q stand for r = scale (q - zero_point)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int
    raw: bytes = field(repr=False)

    def values(self) -> np.ndarray:
        """The stored numbers, shaped: integer codes (INT4 unpacked, low nibble first) or floats."""
        if self.dtype == "int4":
            packed = np.frombuffer(self.raw, np.uint8)
            nibbles = np.stack([packed & 0xF, packed >> 4], axis=-1).reshape(-1).astype(np.int8)
            return np.where(nibbles > 7, nibbles - 16, nibbles)[: int(np.prod(self.shape))].reshape(self.shape)
        return np.frombuffer(self.raw, np.dtype(self.dtype)).reshape(self.shape)


@dataclass(frozen=True)
class TfliteAnatomy:
    """Where the bytes of a ``.tflite`` file go: ``constants`` (weights, biases, shapes) in
    graph order; ``quant_param_bytes``, all tensors' quantization parameters (4 bytes per
    float32 scale, 8 per int64 zero point, as the schema stores them)."""

    total_bytes: int
    constants: tuple[TfliteTensor, ...]
    quant_param_bytes: int

    @property
    def constant_bytes(self) -> dict[str, int]:
        """Bytes of constant data by dtype, largest first."""
        out: Counter[str] = Counter()
        for t in self.constants:
            out[t.dtype] += t.nbytes
        return dict(out.most_common())

    @property
    def other_bytes(self) -> int:
        """Graph structure, names, shapes, signatures, metadata: the rest of the file."""
        return self.total_bytes - sum(t.nbytes for t in self.constants) - self.quant_param_bytes


def tflite_anatomy(model_content: bytes | str | Path) -> TfliteAnatomy:
    """The constant tensors and quantization parameters of a ``.tflite`` file (bytes or a path)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model_content = _tflite_bytes(model_content)
    dtype_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if k.isupper()}
    model = schema.Model.GetRootAsModel(model_content, 0)
    constants, quant = [], 0
    for graph in map(model.Subgraphs, range(model.SubgraphsLength())):
        for i in range(graph.TensorsLength()):
            tensor, q = graph.Tensors(i), graph.Tensors(i).Quantization()
            scale = q.ScaleAsNumpy() if q and q.ScaleLength() else np.zeros(0)
            zero = q.ZeroPointAsNumpy() if q and q.ZeroPointLength() else np.zeros(0)
            quant += 4 * np.size(scale) + 8 * np.size(zero)
            buffer = model.Buffers(tensor.Buffer())
            if buffer.DataLength():
                shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
                constants.append(TfliteTensor(
                    tensor.Name().decode(), dtype_names.get(tensor.Type(), str(tensor.Type())),
                    shape, buffer.DataLength(), np.asarray(scale, np.float32), np.asarray(zero, np.int64),
                    q.QuantizedDimension() if q else 0, buffer.DataAsNumpy().tobytes()))
    return TfliteAnatomy(len(model_content), tuple(constants), quant)
