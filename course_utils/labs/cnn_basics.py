"""Notebook 02's machinery: the by-hand convolution and pooling run through Keras, to compare.

The by-hand versions live in :mod:`course_utils.conv`; these run the same fixed weights
through ``keras.layers.Conv2D`` and the pooling layers (float32), so the notebook can
check that both agree.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..conv import as_image, as_kernel, check_padding
from ..validators import positive_int


def keras_conv2d(
    x: object,
    kernel: object,
    stride: int = 1,
    padding: Literal["valid", "same"] = "valid",
    dilation: int = 1,
    bias: object = None,
) -> np.ndarray:
    """Run one image through ``keras.layers.Conv2D`` with the given fixed weights.

    The reference the hand-written functions are checked against: same
    arguments and result layout as :func:`conv2d` (``padding`` only 'valid' or
    'same', as Keras has no integer padding), computed by TensorFlow in float32.
    Keras refuses ``stride > 1`` together with ``dilation > 1``.
    """
    import keras

    x3, x_flat = as_image(x)
    k4, k_flat = as_kernel(kernel, x3.shape[2])
    if check_padding(padding) not in ("valid", "same"):
        raise ValueError(f"Keras pads only 'valid' or 'same'; got padding={padding!r}")
    layer = keras.layers.Conv2D(
        k4.shape[3],
        k4.shape[:2],
        strides=positive_int("stride", stride),
        padding=padding,
        dilation_rate=positive_int("dilation", dilation),
        use_bias=bias is not None,
    )
    layer.build((None, *x3.shape))
    weights = [k4.astype(np.float32)]
    if bias is not None:
        weights.append(np.asarray(bias, np.float32).reshape(-1))
    layer.set_weights(weights)
    y = np.asarray(layer(x3[None].astype(np.float32)))[0]
    return y[:, :, 0] if x_flat and k_flat else y


def keras_pool2d(
    x: object, pool_size: int = 2, stride: int | None = None, op: Literal["max", "avg"] = "max"
) -> np.ndarray:
    """Run one image through ``keras.layers.MaxPooling2D`` / ``AveragePooling2D`` (float32).

    The reference for :func:`pool2d`; same arguments and result layout.
    """
    import keras

    x3, flat = as_image(x)
    if op not in ("max", "avg"):
        raise ValueError(f"op must be 'max' or 'avg', got {op!r}")
    cls = keras.layers.MaxPooling2D if op == "max" else keras.layers.AveragePooling2D
    layer = cls(pool_size=positive_int("pool_size", pool_size), strides=stride)
    y = np.asarray(layer(x3[None].astype(np.float32)))[0]
    return y[:, :, 0] if flat else y
