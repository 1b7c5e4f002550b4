"""LiteRT (formerly TensorFlow Lite): convert a Keras model, run it, time it.

The deployment format notebooks 06 (quantization) and 07 (pruning) measure: the
converter's four post-training modes (ai.google.dev/edge/litert, 'Post-training
quantization') and a small runner for accuracy and batch-1 latency.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .numerics import round_half_away
from .validators import integer

#: The four post-training modes of the LiteRT converter (ai.google.dev/edge/litert, 'Post-
#: training quantization'): no quantization; fp16 weights; int8 weights with float
#: activations ('dynamic range': activations quantized on the fly inside each kernel);
#: everything int8, activation ranges calibrated on representative data.
TFLITE_MODES = ("float32", "float16", "dynamic_int8", "full_int8")


#: What the converter and the runtime print on stderr that says nothing to a student.
_LITERT_NOISE = (
    "fully_quantize:",
    "Created TensorFlow Lite XNNPACK delegate",
    "Ignored output_format",
    "Ignored drop_control_dependency",
    "Estimated count of arithmetic ops",
)


@contextlib.contextmanager
def _quiet_litert() -> Iterator[None]:
    """Silence the converter's stdout ('Saved artifact at ...'), its known stderr lines, its
    INFO log lines and Python warnings that concern TensorFlow's plumbing; other stderr lines
    (real errors) pass through."""
    from .tfenv import NOISE, filtered_stderr

    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    levels = [logger.level for logger in loggers]
    with (
        contextlib.redirect_stdout(io.StringIO()),
        filtered_stderr(NOISE + _LITERT_NOISE),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message=".*Statistics for quantized inputs.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        for logger in loggers:  # 'INFO:tensorflow:Assets written to: /tmp/...' in notebooks
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def to_tflite(
    model: Any,
    mode: str = "float32",
    representative_data: Any = None,
    per_channel: bool = True,
) -> bytes:
    """Convert a Keras model to a LiteRT flatbuffer (``.tflite`` bytes) in one of :data:`TFLITE_MODES`.

    * ``'float32'``: the graph as is.
    * ``'float16'``: weights stored as fp16 (half the bytes); CPUs dequantize them to fp32
      at load time, GPUs may compute in fp16.
    * ``'dynamic_int8'``: weights int8 (symmetric); activations stay float between layers
      and are quantized on the fly inside each matrix multiply ("dynamic range").
    * ``'full_int8'``: weights *and* activations int8, input and output int8 too (what
      microcontrollers and NPUs such as the Edge TPU need). Activation ranges come from
      ``representative_data``: a float32 array (N, ...) of typical inputs, each fed once.

    ``per_channel=False`` gives one scale per weight tensor instead of one per output channel
    (the converter's ``_experimental_disable_per_channel``): fewer scale/zero-point entries in
    the file, usually a little more error. Uses ``TFLiteConverter.from_keras_model``
    (``from_concrete_functions`` writes unfrozen weights that output NaN on this stack).
    """
    import tensorflow as tf

    if mode not in TFLITE_MODES:
        raise ValueError(f"mode={mode!r} is not one of {', '.join(map(repr, TFLITE_MODES))}")
    if mode == "full_int8":
        if representative_data is None:
            raise ValueError(
                "mode='full_int8' needs representative_data: a float32 array (N, ...) of typical "
                "inputs (e.g. 100-500 training images) to calibrate the activation ranges"
            )
        rep = np.asarray(representative_data, dtype=np.float32)
        expected = tuple(model.input_shape[1:])
        if rep.ndim != len(expected) + 1 or any(
            e is not None and e != s for e, s in zip(expected, rep.shape[1:], strict=True)
        ):
            raise ValueError(
                f"representative_data has shape {rep.shape}; the model takes (N, "
                f"{', '.join(map(str, expected))})"
            )
        if len(rep) == 0:
            raise ValueError("representative_data is empty: pass at least one input")
    elif representative_data is not None:
        raise ValueError(
            f"representative_data is only used by mode='full_int8', not mode={mode!r}; drop it"
        )
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "full_int8":
        converter.representative_dataset = lambda: ([rep[i : i + 1]] for i in range(len(rep)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if not per_channel:
        converter._experimental_disable_per_channel = True
    with _quiet_litert():
        return bytes(converter.convert())


def interpreter_class() -> type:
    """LiteRT's ``ai_edge_litert.interpreter.Interpreter``; where that package does not import
    (no wheel for Intel macOS, for one), TensorFlow's older copy ``tf.lite.Interpreter``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter
    return Interpreter


_TFLITE_IDENTIFIER = b"TFL3"


class LiteRTModel:
    """A ``.tflite`` model ready to run: predictions, accuracy and batch-1 latency.

    Inputs are float32 as for the Keras model; for an int8 model they are quantized with
    the input tensor's (S, Z) and the int8 outputs dequantized, so callers never see the
    difference. ``num_threads=1`` by default: latency on one core, as on a small device.

    >>> lite = LiteRTModel(to_tflite(model, "full_int8", x_train[:200]))  # doctest: +SKIP
    >>> lite.accuracy(x_test, y_test), lite.latency().median               # doctest: +SKIP
    """

    def __init__(self, model_content: bytes | str | Path, num_threads: int = 1) -> None:
        if isinstance(model_content, str | Path):
            model_content = Path(model_content).read_bytes()
        if not isinstance(model_content, bytes | bytearray):
            raise TypeError(
                f"model_content must be .tflite bytes (from to_tflite) or a path, got "
                f"{type(model_content).__name__}"
            )
        if bytes(model_content[4:8]) != _TFLITE_IDENTIFIER:
            raise ValueError("model_content is not a LiteRT flatbuffer (no 'TFL3' identifier)")
        self.model_content = bytes(model_content)
        self.num_threads = integer("num_threads", num_threads, 1)
        self._interpreters: dict[int, Any] = {}
        details = self._interpreter(1).get_input_details()
        if len(details) != 1:
            raise ValueError(f"LiteRTModel runs single-input models; this one has {len(details)}")
        self.input_shape = tuple(int(d) for d in details[0]["shape"][1:])
        self.input_dtype = np.dtype(details[0]["dtype"])
        self.output_dtype = np.dtype(self._interpreter(1).get_output_details()[0]["dtype"])

    @property
    def size_bytes(self) -> int:
        """Size of the ``.tflite`` file in bytes."""
        return len(self.model_content)

    def _interpreter(self, batch_size: int) -> Any:
        if batch_size not in self._interpreters:
            with _quiet_litert():
                it = interpreter_class()(
                    model_content=self.model_content, num_threads=self.num_threads
                )
                if batch_size != 1:
                    index = it.get_input_details()[0]["index"]
                    shape = list(it.get_input_details()[0]["shape"])
                    it.resize_tensor_input(index, [batch_size, *shape[1:]])
                it.allocate_tensors()
            self._interpreters[batch_size] = it
        return self._interpreters[batch_size]

    def _to_input(self, x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
        if np.issubdtype(self.input_dtype, np.integer):
            scale, zero = detail["quantization"]
            info = np.iinfo(self.input_dtype)
            q = round_half_away(np.asarray(x, np.float64) / scale) + zero
            return np.clip(q, info.min, info.max).astype(self.input_dtype)
        return np.asarray(x, dtype=self.input_dtype)

    def _from_output(self, y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
        if np.issubdtype(self.output_dtype, np.integer):
            scale, zero = detail["quantization"]
            return ((y.astype(np.float64) - zero) * scale).astype(np.float32)
        return y.astype(np.float32)

    def _run(self, x: np.ndarray) -> np.ndarray:
        it = self._interpreter(len(x))
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        it.set_tensor(inp["index"], self._to_input(x, inp))
        it.invoke()
        return self._from_output(it.get_tensor(out["index"]), out)

    def predict(self, x: Any, batch_size: int = 1000) -> np.ndarray:
        """Float32 outputs for the float32 inputs ``x`` (N, ...), ``batch_size`` at a time."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise ValueError(
                f"x has samples of shape {x.shape[1:]}; the model takes {self.input_shape}"
            )
        batch_size = integer("batch_size", batch_size, 1)
        outs = [self._run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs)

    def accuracy(self, x: Any, y: Any, batch_size: int = 1000) -> float:
        """Fraction of ``x`` whose arg-max output equals the label in ``y``."""
        y = np.asarray(y).reshape(-1)
        if len(y) != len(x):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels")
        return float(np.mean(np.argmax(self.predict(x, batch_size), axis=-1) == y))

    def call(self, x: Any = None) -> Any:
        """A zero-argument batch-1 call (set the input, ``invoke()``, read the output) on
        ``num_threads`` threads, for :func:`course_utils.timing.compare_latency`. ``x`` is one
        input sample (default zeros); it is converted to the model's input type here, once."""
        it = self._interpreter(1)
        inp, out = it.get_input_details()[0], it.get_output_details()[0]
        sample = np.zeros((1, *self.input_shape), np.float32) if x is None else np.asarray(x)
        feed = self._to_input(sample.reshape(1, *self.input_shape), inp)

        def invoke() -> np.ndarray:
            it.set_tensor(inp["index"], feed)
            it.invoke()
            return it.get_tensor(out["index"])

        return invoke

    def latency(self, x: Any = None, warmup: int = 20, repeats: int = 200) -> Any:
        """Batch-1 latency in seconds of :meth:`call` (:func:`course_utils.timing.measure_latency`)."""
        from .timing import measure_latency

        return measure_latency(self.call(x), warmup=warmup, repeats=repeats)

    def anatomy(self) -> TfliteAnatomy:
        """What the file is made of: see :func:`tflite_anatomy`."""
        return tflite_anatomy(self.model_content)

    def __repr__(self) -> str:
        return (
            f"LiteRTModel({self.size_bytes:,} bytes, input {self.input_dtype.name}"
            f"{list(self.input_shape)}, {self.num_threads} thread(s))"
        )


@dataclass(frozen=True)
class TfliteAnatomy:
    """Where the bytes of a ``.tflite`` file go.

    Attributes:
        total_bytes: the file.
        constant_bytes: constant tensors' data (weights, biases), by dtype name.
        quant_param_bytes: quantization parameters: 4 bytes per scale (float32) and 8 per
            zero point (int64), as the schema stores them, per tensor or per channel.
        tensors: number of tensors in the graph.
        ops: operator counts by name ('CONV_2D': 2, ...).
    """

    total_bytes: int
    constant_bytes: dict[str, int]
    quant_param_bytes: int
    tensors: int
    ops: dict[str, int] = field(default_factory=dict)

    @property
    def weight_bytes(self) -> int:
        """All constant data (weights and biases)."""
        return sum(self.constant_bytes.values())

    @property
    def other_bytes(self) -> int:
        """Graph structure, names, shapes, signatures, metadata: the rest of the file."""
        return self.total_bytes - self.weight_bytes - self.quant_param_bytes


def tflite_anatomy(model_content: bytes) -> TfliteAnatomy:
    """Read a ``.tflite`` flatbuffer (LiteRT's schema) and total its constant data by dtype,
    its quantization parameters and the rest; count its operators."""
    from tensorflow.lite.python import schema_py_generated as schema

    if bytes(model_content[4:8]) != _TFLITE_IDENTIFIER:
        raise ValueError("model_content is not a LiteRT flatbuffer (no 'TFL3' identifier)")
    dtype_names = {
        v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")
    }
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(model_content, 0)
    constant: dict[str, int] = {}
    quant = tensors = 0
    ops: dict[str, int] = {}
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        tensors += graph.TensorsLength()
        for t in range(graph.TensorsLength()):
            tensor = graph.Tensors(t)
            size = model.Buffers(tensor.Buffer()).DataLength()
            if size:
                name = dtype_names.get(tensor.Type(), str(tensor.Type()))
                constant[name] = constant.get(name, 0) + size
            q = tensor.Quantization()
            if q is not None:
                quant += 4 * q.ScaleLength() + 8 * q.ZeroPointLength()
        for o in range(graph.OperatorsLength()):
            code = model.OperatorCodes(graph.Operators(o).OpcodeIndex())
            op = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            ops[op] = ops.get(op, 0) + 1
    constant = dict(sorted(constant.items(), key=lambda kv: -kv[1]))
    return TfliteAnatomy(len(model_content), constant, quant, tensors, ops)
