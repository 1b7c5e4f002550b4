"""Convolution and pooling by hand: what a conv layer computes, in plain NumPy.

The worked examples of seed 002 (Aarhus ITMAL lesson 09, '2D Convolution with a
Kernel: Principle' and 'CNN Pooling') and the lowering of seed 004 (Hot Chips
2018, '2D Convolutional Layers': "can be lowered to a matrix-matrix multiply
using a Toeplitz matrix"), written to be read next to the slides.

Conventions are those of Keras/TensorFlow, so every result here can be checked
against ``keras.layers.Conv2D`` and the pooling layers:

* images are channels-last: ``(H, W)`` or ``(H, W, in_ch)``;
* kernels are ``(f_dim, f_dim)`` or ``(f_dim, f_dim, in_ch, out_ch)``, the layout
  of a Keras ``Conv2D`` layer's ``kernel``;
* "convolution" means *cross-correlation* (the kernel is not flipped), as in every
  deep-learning framework; :func:`flip_kernel` gives the mathematician's
  convolution;
* ``padding`` is a number of zero rows/columns added on each side, or Keras'
  ``'valid'`` (none) / ``'same'`` (enough for ``ceil(n / stride)`` outputs; an odd
  total puts the extra zero at the bottom/right, as TensorFlow does).

Functions come in two speeds on purpose: :func:`conv2d` is the definition, one
small dot product per output value; :func:`conv2d_im2col` rearranges the input
into one big matrix (:func:`im2col`) and does one matrix multiply (GEMM), which
is how libraries make convolution fast.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from .validators import positive_int

Padding = int | Literal["valid", "same"]

# ------------------------------------------------------------------ the slides' examples

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


# ------------------------------------------------------------------ argument checks


def _kernel_dims(f_dim: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(f_dim, tuple):
        if len(f_dim) != 2:
            raise ValueError(f"f_dim must be an int or a (height, width) pair, got {f_dim!r}")
        return positive_int("f_dim", f_dim[0]), positive_int("f_dim", f_dim[1])
    k = positive_int("f_dim", f_dim)
    return k, k


def check_padding(padding: object) -> Padding:
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be an int >= 0, 'valid' or 'same'; got {padding!r}")
        return padding  # type: ignore[return-value]
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)):
        raise TypeError(f"padding must be an int >= 0, 'valid' or 'same'; got {padding!r}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0 (zeros added on each side), got {padding}")
    return int(padding)


# ------------------------------------------------------------------ sizes


def effective_kernel_size(f_dim: int, dilation: int = 1) -> int:
    """Side of the input window a dilated kernel spans: ``dilation * (f_dim - 1) + 1``.

    A 3x3 kernel with dilation 2 touches every second pixel of a 5x5 window
    (Yu & Koltun 2016, "dilated convolutions"); dilation 1 is the ordinary kernel.
    """
    return positive_int("dilation", dilation) * (positive_int("f_dim", f_dim) - 1) + 1


def padding_amounts(
    n: int, f_dim: int, stride: int = 1, padding: Padding = 0, dilation: int = 1
) -> tuple[int, int]:
    """Zeros added ``(before, after)`` one side of a length-``n`` input.

    An int ``p`` adds ``p`` on both sides; ``'valid'`` adds none; ``'same'`` adds
    ``max((ceil(n / stride) - 1) * stride + k_eff - n, 0)`` in total, the odd one at
    the end (bottom/right), exactly as TensorFlow/Keras do.
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
    dilation ``d`` (for ``d = 1`` this is the familiar ``floor((n + 2p - k) / s) + 1``;
    Dumoulin & Visin, "A guide to convolution arithmetic", 2016). ``'same'`` gives
    ``ceil(n / s)``, ``'valid'`` means ``p = 0``. Seed 002's 5x5 image with ``p = 1``
    and a 3x3 kernel gives a 5x5 output.

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


# ------------------------------------------------------------------ convolution


def as_image(x: object, name: str = "x") -> tuple[np.ndarray, bool]:
    """``x`` as (H, W, C) and whether it came in without a channel axis."""
    arr = np.asarray(x)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        return arr[:, :, None], True
    if arr.ndim == 3:
        return arr, False
    raise ValueError(
        f"{name} must have shape (H, W) or (H, W, in_ch), channels last; got {arr.shape}. "
        "For a batch, loop over the images (or use keras.layers.Conv2D)."
    )


def as_kernel(kernel: object, in_ch: int) -> tuple[np.ndarray, bool]:
    """``kernel`` as (kh, kw, in_ch, out_ch) and whether it came in 2-D."""
    k = np.asarray(kernel)
    if k.dtype == object or not np.issubdtype(k.dtype, np.number):
        raise TypeError(f"kernel must be a numeric array, got dtype {k.dtype}")
    if k.ndim == 2:
        if in_ch != 1:
            raise ValueError(
                f"a 2-D kernel works on one channel, but x has in_ch={in_ch}; give the kernel "
                "the Keras layout (f_dim, f_dim, in_ch, out_ch)"
            )
        return k[:, :, None, None], True
    if k.ndim == 4:
        if k.shape[2] != in_ch:
            raise ValueError(
                f"kernel has in_ch={k.shape[2]} (axis 2 of {k.shape}) but x has in_ch={in_ch}"
            )
        return k, False
    raise ValueError(
        f"kernel must have shape (f_dim, f_dim) or (f_dim, f_dim, in_ch, out_ch); got {k.shape}"
    )


def _prepare(
    x: object, kernel: object, stride: int, padding: Padding, dilation: int, bias: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[int, int], bool]:
    """Shared checks of conv2d / conv2d_im2col: padded x, 4-D kernel, bias, output size."""
    x3, x_flat = as_image(x)
    k4, k_flat = as_kernel(kernel, x3.shape[2])
    stride = positive_int("stride", stride)
    dilation = positive_int("dilation", dilation)
    dtype = np.result_type(x3.dtype, k4.dtype, np.float32)
    b = None
    if bias is not None:
        b = np.asarray(bias, dtype=dtype).reshape(-1)
        if b.shape != (k4.shape[3],):
            raise ValueError(f"bias must have out_ch={k4.shape[3]} values, got shape {b.shape}")
    kh, kw = k4.shape[:2]
    out_h = conv_output_size(x3.shape[0], kh, stride, padding, dilation)
    out_w = conv_output_size(x3.shape[1], kw, stride, padding, dilation)
    pad_h = padding_amounts(x3.shape[0], kh, stride, padding, dilation)
    pad_w = padding_amounts(x3.shape[1], kw, stride, padding, dilation)
    xp = np.pad(x3.astype(dtype, copy=False), (pad_h, pad_w, (0, 0)))
    return xp, k4.astype(dtype, copy=False), b, (out_h, out_w), x_flat and k_flat


def conv2d(
    x: object,
    kernel: object,
    stride: int = 1,
    padding: Padding = 0,
    dilation: int = 1,
    bias: object = None,
) -> np.ndarray:
    """2-D convolution (cross-correlation) straight from its definition.

    .. math:: y[i, j, o] = b[o] + \\sum_{u, v, c} x_p[i s + u d,\\; j s + v d,\\; c]\\; w[u, v, c, o]

    where ``x_p`` is the zero-padded input, ``s`` the stride, ``d`` the dilation:
    one dot product of ``f_dim * f_dim * in_ch`` numbers per output value (seed
    002, '2D Convolution with a Kernel: Principle'; seed 004, '2D Convolutional
    Layers': "slide the window till one feature map is complete", then "compute
    next channel"). Deliberately slow: compare :func:`conv2d_im2col`.

    Args:
        x: image ``(H, W)`` or ``(H, W, in_ch)``.
        kernel: ``(f_dim, f_dim)`` or ``(f_dim, f_dim, in_ch, out_ch)`` (Keras layout).
        stride, padding, dilation: as in ``keras.layers.Conv2D`` (``padding`` may
            also be an int: zeros on each side).
        bias: optional ``(out_ch,)`` values added to each output channel.

    Returns ``(out_h, out_w)`` when ``x`` and ``kernel`` are both 2-D, else
    ``(out_h, out_w, out_ch)``; float64, or float32 when both inputs are float32.
    """
    xp, w, b, (out_h, out_w), flat = _prepare(x, kernel, stride, padding, dilation, bias)
    kh, kw, _, out_ch = w.shape
    span_h = effective_kernel_size(kh, dilation)
    span_w = effective_kernel_size(kw, dilation)
    y = np.zeros((out_h, out_w, out_ch), dtype=w.dtype)
    for i in range(out_h):
        for j in range(out_w):
            top, left = i * stride, j * stride
            window = xp[top : top + span_h : dilation, left : left + span_w : dilation, :]
            for o in range(out_ch):
                y[i, j, o] = np.sum(window * w[:, :, :, o])
    if b is not None:
        y += b
    return y[:, :, 0] if flat else y


def flip_kernel(kernel: object) -> np.ndarray:
    """The kernel rotated by 180 degrees in its two spatial axes.

    ``conv2d(x, flip_kernel(k))`` is the *mathematical* convolution
    ``sum x[i - u, j - v] k[u, v]``; deep-learning layers compute the
    cross-correlation ``conv2d(x, k)``. The two agree for kernels that are
    symmetric under this rotation, such as seed 002's sharpen kernel. For learned
    kernels the difference does not matter: training simply learns the flipped
    kernel.
    """
    k = np.asarray(kernel)
    if k.ndim not in (2, 4):
        raise ValueError(
            f"kernel must have shape (f_dim, f_dim) or (f_dim, f_dim, in_ch, out_ch); got {k.shape}"
        )
    return k[::-1, ::-1, ...].copy()


# ------------------------------------------------------------------ lowering to a GEMM


def im2col(
    x: object,
    f_dim: int | tuple[int, int],
    stride: int = 1,
    padding: Padding = 0,
    dilation: int = 1,
) -> np.ndarray:
    """Lower an image to the patch matrix whose product with the kernel is the convolution.

    Row ``i * out_w + j`` holds the (padded) input window under output pixel
    ``(i, j)``, flattened in ``(u, v, c)`` order, so that::

        conv2d(x, w) == (im2col(x, f_dim) @ w.reshape(-1, out_ch)).reshape(out_h, out_w, out_ch)

    This is the "Toeplitz matrix" of seed 004 ('2D Convolutional Layers: can be
    lowered to a matrix-matrix multiply'): with 1 input and 1 output channel the
    product is matrix x vector, with 3 input and 2 output channels matrix x matrix.
    (For a 1-D signal and a flipped kernel its entries ``x[i - u]`` are constant
    along diagonals: a Toeplitz matrix.) The price is memory: each input pixel is
    copied into up to ``f_dim**2`` rows (:func:`im2col_expansion`).

    Returns an ``(out_h * out_w, kh * kw * in_ch)`` array, built with one strided
    copy per kernel offset ``(u, v)``.
    """
    kh, kw = _kernel_dims(f_dim)
    x3, _ = as_image(x)
    stride = positive_int("stride", stride)
    dilation = positive_int("dilation", dilation)
    out_h = conv_output_size(x3.shape[0], kh, stride, padding, dilation)
    out_w = conv_output_size(x3.shape[1], kw, stride, padding, dilation)
    pad_h = padding_amounts(x3.shape[0], kh, stride, padding, dilation)
    pad_w = padding_amounts(x3.shape[1], kw, stride, padding, dilation)
    xp = np.pad(x3, (pad_h, pad_w, (0, 0)))
    in_ch = x3.shape[2]
    cols = np.empty((out_h, out_w, kh, kw, in_ch), dtype=x3.dtype)
    for u in range(kh):
        for v in range(kw):
            top, left = u * dilation, v * dilation
            # every output pixel's (u, v) neighbour at once: a strided view of the input
            cols[:, :, u, v, :] = xp[
                top : top + stride * (out_h - 1) + 1 : stride,
                left : left + stride * (out_w - 1) + 1 : stride,
                :,
            ]
    return cols.reshape(out_h * out_w, kh * kw * in_ch)


def conv2d_im2col(
    x: object,
    kernel: object,
    stride: int = 1,
    padding: Padding = 0,
    dilation: int = 1,
    bias: object = None,
) -> np.ndarray:
    """The same convolution as :func:`conv2d`, lowered to one matrix multiply (seed 004).

    ``Y = im2col(x) @ W`` with ``W = kernel.reshape(f_dim * f_dim * in_ch, out_ch)``:
    a ``(out_h * out_w) x (f_dim^2 in_ch)`` times ``(f_dim^2 in_ch) x out_ch`` GEMM.
    One large GEMM runs at a good fraction of the machine's peak because a BLAS
    library splits it into cache-sized blocks, reuses each loaded number many
    times and keeps the SIMD units busy; the many small dot products of
    :func:`conv2d` pay interpreter and memory overhead on every one of them.
    Arguments and result as :func:`conv2d`.
    """
    xp, w, b, (out_h, out_w), flat = _prepare(x, kernel, stride, padding, dilation, bias)
    kh, kw, in_ch, out_ch = w.shape
    cols = im2col(xp, (kh, kw), stride, 0, dilation)  # xp is already padded
    y = (cols @ w.reshape(kh * kw * in_ch, out_ch)).reshape(out_h, out_w, out_ch)
    if b is not None:
        y += b
    return y[:, :, 0] if flat else y


def im2col_expansion(
    n: int, f_dim: int, stride: int = 1, padding: Padding = 0, dilation: int = 1
) -> float:
    """How many times larger the im2col matrix is than the ``n x n`` input it came from.

    ``out_n**2 * f_dim**2 / n**2`` (``in_ch`` cancels): about ``f_dim**2`` for stride
    1 and 'same' padding (9x for 3x3 kernels), about ``f_dim**2 / stride**2`` with a
    stride. The memory cost of lowering convolution to a GEMM (seed 004).
    """
    out_n = conv_output_size(n, f_dim, stride, padding, dilation)
    return out_n**2 * positive_int("f_dim", f_dim) ** 2 / n**2


# ------------------------------------------------------------------ pooling


def pool2d(
    x: object,
    pool_size: int = 2,
    stride: int | None = None,
    op: Literal["max", "avg"] = "max",
) -> np.ndarray:
    """Max or average pooling over ``pool_size x pool_size`` windows, no padding.

    Each output is ``max`` (or the mean) of one window, channel by channel (seed
    002, 'CNN Pooling'; seed 004, 'Pooling Layer': ``n00 = Max(i00, i01, i10, i11)``).
    ``stride`` defaults to ``pool_size`` (non-overlapping windows), as in Keras'
    ``MaxPooling2D`` / ``AveragePooling2D`` with their default ``padding='valid'``.

    Args:
        x: ``(H, W)`` or ``(H, W, channels)``.
        op: ``'max'`` or ``'avg'``.
    Returns the pooled array, same number of axes as ``x``; the average is
    float64 (float32 for float32 input), the max keeps ``x``'s dtype.
    """
    x3, flat = as_image(x)
    pool_size = positive_int("pool_size", pool_size)
    stride = pool_size if stride is None else positive_int("stride", stride)
    if op not in ("max", "avg"):
        raise ValueError(f"op must be 'max' or 'avg', got {op!r}")
    out_h = conv_output_size(x3.shape[0], pool_size, stride, "valid")
    out_w = conv_output_size(x3.shape[1], pool_size, stride, "valid")
    dtype = x3.dtype if op == "max" else np.result_type(x3.dtype, np.float32)
    y = np.empty((out_h, out_w, x3.shape[2]), dtype=dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = x3[i * stride : i * stride + pool_size, j * stride : j * stride + pool_size]
            y[i, j] = window.max(axis=(0, 1)) if op == "max" else window.mean(axis=(0, 1))
    return y[:, :, 0] if flat else y


def max_pool2d(x: object, pool_size: int = 2, stride: int | None = None) -> np.ndarray:
    """Max pooling (seed 002, 'Max Pooling'): :func:`pool2d` with ``op='max'``."""
    return pool2d(x, pool_size, stride, "max")


def avg_pool2d(x: object, pool_size: int = 2, stride: int | None = None) -> np.ndarray:
    """Average pooling (seed 002, 'Average Pooling'): :func:`pool2d` with ``op='avg'``."""
    return pool2d(x, pool_size, stride, "avg")


# ------------------------------------------------------------------ the Keras reference


