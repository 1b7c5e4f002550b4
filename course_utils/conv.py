"""Convolution arithmetic: the slides' examples, output sizes, 'same' padding and im2col.

Notebook 02 writes the convolution, pooling and im2col by hand; this module holds what
those hand-written versions are checked against and what other code reuses:

* the worked examples of seed 002 (Aarhus ITMAL lesson 09, '2D Convolution with a
  Kernel: Principle', 'CNN Pooling'), as arrays;
* the output-size formula (Dumoulin & Visin, "A guide to convolution arithmetic", 2016)
  and TensorFlow's 'same' padding rule, which puts an odd zero at the bottom/right;
* :func:`im2col`, the lowering of seed 004 (Hot Chips 2018, '2D Convolutional Layers':
  "can be lowered to a matrix-matrix multiply using a Toeplitz matrix"), written with
  strided copies so that it is fast enough to time.

Conventions are Keras': images channels-last ``(H, W)`` or ``(H, W, in_ch)``, kernels
``(f_dim, f_dim, in_ch, out_ch)``, "convolution" without a kernel flip (a
cross-correlation), ``padding`` an int (zeros on each side), ``'valid'`` or ``'same'``.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from .validators import positive_int

Padding = int | Literal["valid", "same"]

#: seed 002, '2D Convolution with a Kernel: Principle': the 5x5 image (before padding).
SEED_IMAGE = np.array(
    [
        [60, 113, 56, 139, 85],
        [73, 121, 54, 84, 128],
        [131, 99, 70, 129, 127],
        [80, 57, 115, 69, 134],
        [104, 126, 123, 95, 130],
    ]
)
#: seed 002: the sharpen kernel; the first output is 5*60 - 113 - 73 = 114.
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
#: seed 002, '2D Convolution with a Kernel: Different Kernels': the three example kernels.
SEED_KERNELS = (
    np.array([[-0.2, 0.0, 0.5], [1.0, 0.3, -0.6], [0.0, 0.0, 0.8]]),
    np.array([[0.0, 0.0, 0.0], [0.8, -0.5, 0.8], [0.0, -0.2, 0.0]]),
    np.array([[0.4, 0.2, -0.2], [-0.8, 0.0, 0.8], [0.0, -0.5, 0.2]]),
)
#: seed 002, 'CNN Pooling', max-pooling slide input (2x2 pools -> [[100, 184], [12, 45]]).
SEED_POOL_INPUT_MAX = np.array(
    [[29, 15, 28, 184], [0, 100, 70, 38], [12, 12, 7, 2], [12, 12, 45, 6]]
)
#: seed 002, average-pooling slide input: the same table but 31 (not 29) in the top-left corner.
SEED_POOL_INPUT_AVG = np.array(
    [[31, 15, 28, 184], [0, 100, 70, 38], [12, 12, 7, 2], [12, 12, 45, 6]]
)


def check_padding(padding: object) -> Padding:
    """``padding`` if it is an int >= 0, 'valid' or 'same'; TypeError/ValueError otherwise."""
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be an int >= 0, 'valid' or 'same'; got {padding!r}")
        return padding  # type: ignore[return-value]
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)):
        raise TypeError(f"padding must be an int >= 0, 'valid' or 'same'; got {padding!r}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0 (zeros added on each side), got {padding}")
    return int(padding)


def effective_kernel_size(f_dim: int, dilation: int = 1) -> int:
    """Side of the input window a dilated kernel spans: ``dilation * (f_dim - 1) + 1``.

    A 3x3 kernel with dilation 2 touches every second pixel of a 5x5 window
    (Yu & Koltun 2016, "dilated convolutions"); dilation 1 is the ordinary kernel.
    """
    return positive_int("dilation", dilation) * (positive_int("f_dim", f_dim) - 1) + 1


def padding_amounts(
    n: int, f_dim: int, stride: int = 1, padding: Padding = 0, dilation: int = 1
) -> tuple[int, int]:
    """Zeros added ``(before, after)`` to one side of a length-``n`` input, as Keras pads.

    An int ``p`` adds ``p`` on both sides; ``'valid'`` adds none; ``'same'`` adds just
    enough for ``ceil(n / stride)`` outputs, an odd zero at the end (bottom/right), as
    TensorFlow/Keras do (PyTorch's integer padding is symmetric). Notebook 02's exercise 1
    derives the rule; tests check it against Keras' outputs.
    """
    n = positive_int("n", n)
    stride = positive_int("stride", stride)
    k_eff = effective_kernel_size(f_dim, dilation)
    padding = check_padding(padding)
    if padding == "valid":
        return 0, 0
    if padding == "same":
        total = max((math.ceil(n / stride) - 1) * stride + k_eff - n, 0)
        return total // 2, total - total // 2
    return padding, padding


def conv_output_size(
    n: int, f_dim: int, stride: int = 1, padding: Padding = 0, dilation: int = 1
) -> int:
    """Output side of a convolution (or pooling) window sliding over a side of ``n`` pixels.

    .. math:: n_{out} = \\left\\lfloor \\frac{n + 2p - d\\,(k - 1) - 1}{s} \\right\\rfloor + 1

    with kernel side ``k = f_dim``, padding ``p`` on each side, stride ``s`` and
    dilation ``d`` (for ``d = 1``: ``floor((n + 2p - k) / s) + 1``; Dumoulin & Visin
    2016, eq. 15). ``'same'`` gives ``ceil(n / s)``, ``'valid'`` means ``p = 0``.
    Seed 002's 5x5 image with ``p = 1`` and a 3x3 kernel gives a 5x5 output.

    Raises ValueError when the (padded) input is smaller than the kernel's window.
    """
    before, after = padding_amounts(n, f_dim, stride, padding, dilation)
    k_eff = effective_kernel_size(f_dim, dilation)
    if n + before + after < k_eff:
        raise ValueError(
            f"the {k_eff}-pixel kernel window (f_dim={f_dim}, dilation={dilation}) does not fit "
            f"the input of n={n} pixels with padding {before}+{after}: add padding or use a "
            "smaller kernel"
        )
    return (n + before + after - k_eff) // stride + 1


def im2col(
    x: object, f_dim: int, stride: int = 1, padding: Padding = 0, dilation: int = 1
) -> np.ndarray:
    """Lower an image to the patch matrix whose product with the kernels is the convolution.

    Row ``i * out_w + j`` holds the (padded) input window under output pixel ``(i, j)``,
    flattened in ``(u, v, c)`` order, so that for a Keras-layout kernel ``w``::

        conv(x, w) == (im2col(x, f_dim) @ w.reshape(-1, out_ch)).reshape(out_h, out_w, out_ch)

    Seed 004's "Toeplitz matrix" ('2D Convolutional Layers'): matrix x vector for one
    input and one output channel, matrix x matrix for several. Each input pixel is copied
    into up to ``f_dim**2`` rows: the price of the lowering is memory.

    Args:
        x: ``(H, W)`` or ``(H, W, in_ch)``, channels last.
        f_dim, stride, padding, dilation: as in ``keras.layers.Conv2D`` (``padding`` may
            also be an int: zeros on each side).
    Returns an ``(out_h * out_w, f_dim * f_dim * in_ch)`` array of ``x``'s dtype, built
    with one strided copy per kernel offset ``(u, v)`` (not one per window: fast).
    """
    x3 = np.asarray(x)
    if x3.dtype == object or not np.issubdtype(x3.dtype, np.number):
        raise TypeError(f"x must be a numeric array, got dtype {x3.dtype}")
    if x3.ndim == 2:
        x3 = x3[:, :, None]
    if x3.ndim != 3:
        raise ValueError(
            f"x must have shape (H, W) or (H, W, in_ch), channels last; got {x3.shape}"
        )
    k = positive_int("f_dim", f_dim)
    stride = positive_int("stride", stride)
    (h, w, in_ch), d = x3.shape, positive_int("dilation", dilation)
    out_h, out_w = (conv_output_size(side, k, stride, padding, d) for side in (h, w))
    pads = [padding_amounts(side, k, stride, padding, d) for side in (h, w)]
    xp = np.pad(x3, (*pads, (0, 0)))
    cols = np.empty((out_h, out_w, k, k, in_ch), dtype=x3.dtype)
    for u in range(k):
        for v in range(k):
            # the (u, v) neighbour of every output pixel at once: one strided view of the input
            cols[:, :, u, v, :] = xp[
                u * d : u * d + stride * (out_h - 1) + 1 : stride,
                v * d : v * d + stride * (out_w - 1) + 1 : stride,
            ]
    return cols.reshape(out_h * out_w, k * k * in_ch)
