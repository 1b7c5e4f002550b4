"""LiteRT (formerly TensorFlow Lite), the format notebooks 06 and 07 deploy to: the converter's
quantization modes (ai.google.dev/edge/litert, 'Post-training quantization'), a runner for
accuracy and batch-1 calls, and a reader of the file's constant tensors (codes, scales, zero points).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .numerics import round_half_away
from .validators import integer, one_of

#: The converter's four post-training modes, and 'qat' (see :func:`to_tflite`).
TFLITE_MODES = ("float32", "float16", "dynamic_int8", "full_int8", "qat")

#: What the converter and the runtime print on stderr that says nothing to a student.
_LITERT_NOISE = ("fully_quantize:", "Created TensorFlow Lite XNNPACK delegate", "Ignored output_format",
                 "Ignored drop_control_dependency", "Estimated count of arithmetic ops")
_TFLITE_IDENTIFIER = b"TFL3"


@contextlib.contextmanager
def _quiet_litert() -> Iterator[None]:
    """Silence the converter's stdout ('Saved artifact at ...'), its known stderr lines, its
    INFO log lines and warnings about TensorFlow's plumbing; real errors pass through."""
    from .tfenv import NOISE, filtered_stderr

    disabled = logging.root.manager.disable
    with contextlib.redirect_stdout(io.StringIO()), filtered_stderr(NOISE + _LITERT_NOISE), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Statistics for quantized inputs.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        logging.disable(logging.WARNING)  # 'INFO:tensorflow:Assets written to: /tmp/...'
        try:
            yield
        finally:
            logging.disable(disabled)


def to_tflite(model: Any, mode: str = "float32", representative_data: Any = None) -> bytes:
    """Convert a Keras model to a LiteRT flatbuffer (``.tflite`` bytes) in one of :data:`TFLITE_MODES`.

    * ``'float32'``: the graph as is.
    * ``'float16'``: weights stored as fp16 (half the bytes); CPUs widen them to fp32 at
      load time, GPUs may compute in fp16.
    * ``'dynamic_int8'``: weight tensors of at least 1,024 elements become int8 (symmetric,
      per output channel), smaller ones stay float32; activations stay float between layers
      and are quantized on the fly inside each matrix multiply ("dynamic range").
    * ``'full_int8'``: weights *and* activations int8, input and output int8 too (what
      microcontrollers and NPUs such as the Edge TPU need). Activation ranges come from
      ``representative_data``: a float32 array (N, ...) of typical inputs, each fed once.
    * ``'qat'``: the model's own ``tf.quantization.fake_quant_*`` nodes set each tensor's
      range and bits; weights fake-quantized to 4 bits or fewer are stored as INT4 (two per
      byte), which none of the post-training modes writes.

    Uses ``from_keras_model`` (``from_concrete_functions`` wrote NaN-producing models here).
    """
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
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with _quiet_litert():
        return bytes(converter.convert())


def interpreter_class() -> type:
    """LiteRT's ``ai_edge_litert.interpreter.Interpreter``; where that package does not import
    (no wheel for Intel macOS, for one), TensorFlow's older copy ``tf.lite.Interpreter``."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter


class LiteRTModel:
    """A ``.tflite`` model ready to run on the CPU: predictions, accuracy, a batch-1 call.

    Inputs and outputs are float32 as for the Keras model: an int8 model's input is quantized
    with its (S, Z) and its output dequantized here. ``num_threads=1``: one core, as on a
    small device. ``LiteRTModel(to_tflite(model, "full_int8", x[:200])).accuracy(x, y)``.
    """

    def __init__(self, model_content: bytes | str | Path, num_threads: int = 1) -> None:
        if isinstance(model_content, str | Path):
            model_content = Path(model_content).read_bytes()
        if not isinstance(model_content, bytes | bytearray):
            raise TypeError("model_content must be .tflite bytes (from to_tflite) or a path, "
                            f"got {type(model_content).__name__}")
        if bytes(model_content[4:8]) != _TFLITE_IDENTIFIER:
            raise ValueError("model_content is not a LiteRT flatbuffer (no 'TFL3' identifier)")
        self.model_content = bytes(model_content)
        self.num_threads = integer("num_threads", num_threads, 1)
        self._interpreters: dict[int, Any] = {}
        inputs, output = self._interpreter(1).get_input_details(), self._interpreter(1).get_output_details()[0]
        if len(inputs) != 1:
            raise ValueError("LiteRTModel runs single-input models only")
        self.input_shape = tuple(int(d) for d in inputs[0]["shape"][1:])
        self.input_dtype, self.output_dtype = np.dtype(inputs[0]["dtype"]), np.dtype(output["dtype"])
        #: (S, Z) of an int8 input or output (the converter's calibration); (0.0, 0) for float
        self.input_quantization, self.output_quantization = inputs[0]["quantization"], output["quantization"]

    @property
    def size_bytes(self) -> int:
        """Size of the ``.tflite`` file in bytes."""
        return len(self.model_content)

    def _interpreter(self, batch_size: int) -> Any:
        if batch_size not in self._interpreters:
            with _quiet_litert():
                it = interpreter_class()(model_content=self.model_content, num_threads=self.num_threads)
                if batch_size != 1:
                    detail = it.get_input_details()[0]
                    it.resize_tensor_input(detail["index"], [batch_size, *detail["shape"][1:]])
                it.allocate_tensors()
            self._interpreters[batch_size] = it
        return self._interpreters[batch_size]

    def _to_input(self, x: Any) -> np.ndarray:
        if np.issubdtype(self.input_dtype, np.integer):  # q = round(r / S) + Z, clipped
            (scale, zero), info = self.input_quantization, np.iinfo(self.input_dtype)
            q = round_half_away(np.asarray(x, np.float64) / scale) + zero
            return np.clip(q, info.min, info.max).astype(self.input_dtype)
        return np.asarray(x, dtype=self.input_dtype)

    def _run(self, x: np.ndarray) -> np.ndarray:
        it = self._interpreter(len(x))
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        it.set_tensor(inp["index"], self._to_input(x))
        it.invoke()
        y = it.get_tensor(out["index"])
        if np.issubdtype(self.output_dtype, np.integer):  # r = S (q - Z)
            scale, zero = self.output_quantization
            return ((y.astype(np.float64) - zero) * scale).astype(np.float32)
        return y.astype(np.float32)

    def predict(self, x: Any, batch_size: int = 1000) -> np.ndarray:
        """Float32 outputs for the float32 inputs ``x`` (N, ...), ``batch_size`` at a time."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"x has samples of shape {x.shape[1:]}; the model takes {self.input_shape}")
        batch_size = integer("batch_size", batch_size, 1)
        return np.concatenate([self._run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])

    def accuracy(self, x: Any, y: Any, batch_size: int = 1000) -> float:
        """Fraction of ``x`` whose arg-max output equals the label in ``y``."""
        y = np.asarray(y).reshape(-1)
        if len(y) != len(x):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels")
        return float(np.mean(np.argmax(self.predict(x, batch_size), axis=-1) == y))

    def call(self, x: Any = None) -> Callable[[], np.ndarray]:
        """A zero-argument batch-1 call (set the input, ``invoke()``, read the output) on
        ``num_threads`` threads, for :func:`course_utils.timing.compare_latency`. ``x`` is one
        input sample (default zeros); it is converted to the model's input type here, once."""
        it = self._interpreter(1)
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        sample = np.zeros((1, *self.input_shape), np.float32) if x is None else np.asarray(x)
        feed = self._to_input(sample.reshape(1, *self.input_shape))

        def invoke() -> np.ndarray:
            it.set_tensor(inp["index"], feed)
            it.invoke()
            return it.get_tensor(out["index"])

        return invoke


@dataclass(frozen=True)
class TfliteTensor:
    """One constant tensor of a ``.tflite`` file, as stored: ``name``; ``dtype``, the schema's
    type in lower case ('float32', 'int8', 'int4', ...); ``shape`` in LiteRT's layout, output
    channels first (a Dense kernel is (out, in), a Conv2D kernel (out_ch, f_dim, f_dim,
    in_ch)); ``nbytes`` in the file; ``scale`` and ``zero_point``, one per channel along
    ``axis`` (empty when not quantized): the codes q stand for r = scale (q - zero_point).
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int
    raw: bytes = field(repr=False)

    def values(self) -> np.ndarray:
        """The stored numbers, shaped: a quantized tensor's integer codes (INT4, packed two
        to a byte, low nibble first, unpacked to int8), a float tensor's floats."""
        if self.dtype == "int4":
            packed = np.frombuffer(self.raw, np.uint8)
            nibbles = np.stack([packed & 0xF, packed >> 4], axis=-1).reshape(-1).astype(np.int8)
            codes = np.where(nibbles > 7, nibbles - 16, nibbles)
            return codes[: int(np.prod(self.shape))].reshape(self.shape)
        return np.frombuffer(self.raw, np.dtype(self.dtype)).reshape(self.shape)


@dataclass(frozen=True)
class TfliteAnatomy:
    """Where the bytes of a ``.tflite`` file go: ``total_bytes``; ``constants``, its constant
    tensors (weights, biases, shapes) in graph order; ``quant_param_bytes``, the quantization
    parameters of all tensors (4 bytes per float32 scale, 8 per int64 zero point, as the
    schema stores them)."""

    total_bytes: int
    constants: tuple[TfliteTensor, ...]
    quant_param_bytes: int

    @property
    def constant_bytes(self) -> dict[str, int]:
        """Bytes of constant data by dtype, largest first."""
        out: dict[str, int] = {}
        for t in self.constants:
            out[t.dtype] = out.get(t.dtype, 0) + t.nbytes
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    @property
    def other_bytes(self) -> int:
        """Graph structure, names, shapes, signatures, metadata: the rest of the file."""
        return self.total_bytes - sum(t.nbytes for t in self.constants) - self.quant_param_bytes


def tflite_anatomy(model_content: bytes) -> TfliteAnatomy:
    """Read a ``.tflite`` flatbuffer (LiteRT's schema): its constant tensors with their
    quantization parameters, and the bytes of all quantization parameters."""
    from tensorflow.lite.python import schema_py_generated as schema

    if bytes(model_content[4:8]) != _TFLITE_IDENTIFIER:
        raise ValueError("model_content is not a LiteRT flatbuffer (no 'TFL3' identifier)")
    dtype_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if k.isupper()}
    model = schema.Model.GetRootAsModel(model_content, 0)
    constants: list[TfliteTensor] = []
    quant = 0
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
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
