"""Notebook 02's references: Keras runs what the notebook computes by hand (convolution, pooling,
receptive fields), with the same fixed weights or window geometry in float32, so both can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from ..validators import one_of, positive_int


def keras_conv2d(x: object, kernel: object, stride: int = 1, padding: Literal["valid", "same"] = "valid",
                 dilation: int = 1, bias: object = None) -> np.ndarray:
    """One image through ``keras.layers.Conv2D`` with the given fixed weights (float32).

    ``x`` is ``(H, W)`` or ``(H, W, in_ch)``; ``kernel`` ``(f_dim, f_dim)`` (one channel
    in and out) or Keras' ``(f_dim, f_dim, in_ch, out_ch)``; ``bias`` ``(out_ch,)`` or None.
    Returns ``(out_h, out_w)`` for a 2-D kernel, else ``(out_h, out_w, out_ch)``. Keras
    pads only 'valid' or 'same' and refuses ``stride > 1`` together with ``dilation > 1``.
    Runs on the CPU: on an Ampere or newer GPU TensorFlow convolves in TF32 by default
    (10-bit mantissa, errors ~1e-3), too coarse for a reference.
    """
    import keras
    import tensorflow as tf

    x3, k = np.asarray(x, np.float32), np.asarray(kernel, np.float32)
    x3 = x3[:, :, None] if x3.ndim == 2 else x3
    k4 = k[:, :, None, None] if k.ndim == 2 else k
    if x3.ndim != 3 or k4.ndim != 4 or k4.shape[2] != x3.shape[2]:
        raise ValueError(f"x {np.shape(x)} and kernel {k.shape} do not fit: give x as (H, W) or (H, W, in_ch) "
                         "and the kernel as (f_dim, f_dim) or (f_dim, f_dim, in_ch, out_ch)")
    stride, dilation = positive_int("stride", stride), positive_int("dilation", dilation)
    padding, out_ch = one_of("padding", padding, ("valid", "same")), k4.shape[3]
    b = np.zeros(out_ch, np.float32) if bias is None else np.asarray(bias, np.float32).ravel()
    with tf.device("/CPU:0"):
        layer = keras.layers.Conv2D(out_ch, k4.shape[:2], stride, padding, dilation_rate=dilation)
        layer.build((1, *x3.shape))
        layer.set_weights([k4, b])
        y = np.asarray(layer(x3[None]))[0]
    return y[:, :, 0] if k.ndim == 2 else y


def receptive_field_probe(layers: Sequence[tuple[int, int]], n: int) -> int:
    """Side of the input region that reaches one output pixel, measured with Keras.

    ``layers`` are ``(f_dim, stride)`` windows in order. Each becomes a one-channel
    'valid' ``Conv2D`` with all-ones weights (a pool has the same window geometry; an
    average lets every pixel's gradient through, a max only the largest). The gradient
    of the centre output with respect to an ``n x n`` input is non-zero exactly on that
    output's receptive field (Araujo et al., "Computing receptive fields of CNNs",
    Distill 2019); its side is returned. ``n`` must exceed the receptive field.
    """
    import keras
    import tensorflow as tf

    convs = [keras.layers.Conv2D(1, k, strides=s, use_bias=False, kernel_initializer="ones") for k, s in layers]
    model = keras.Sequential([keras.Input((positive_int("n", n), n, 1)), *convs])
    x = tf.Variable(tf.ones((1, n, n, 1)))
    with tf.GradientTape() as tape:
        y = model(x)
        centre = y[0, y.shape[1] // 2, y.shape[2] // 2, 0]
    rows = np.flatnonzero(np.asarray(tape.gradient(centre, x))[0, :, :, 0].any(axis=1))
    return int(rows[-1] - rows[0] + 1)
