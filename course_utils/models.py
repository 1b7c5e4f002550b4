"""The course's models, built from the tables in the lecture material: each builder returns a
built ``keras.Model`` with random weights (``weights=None``: nothing downloaded, offline).
:func:`build` looks one up by name (:data:`BUILDERS`; ``python -m course_utils profile`` too).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import keras
from keras import layers

from .validators import fraction, positive_int


def lenet5(input_shape: tuple[int, int, int] = (32, 32, 1), classes: int = 10) -> keras.Model:
    """LeNet-5 (LeCun et al. 1998) as in seed 002's 'Table 14-1. LeNet-5 architecture'.

    In 32x32x1 -> C1 6@5x5 tanh (28x28) -> S2 avg pool 2 (14x14) -> C3 16@5x5 tanh
    (10x10) -> S4 avg pool 2 (5x5) -> C5 120@5x5 tanh (1x1) -> F6 84 tanh -> Out 10.

    Simplifications, as in most modern re-implementations: the output layer's RBF units
    are replaced by a softmax Dense layer; C3 connects every S2 map (the original
    wires each C3 map to a subset: 1,516 instead of 2,416 parameters); S2 and S4 are
    plain average pooling (the original has a trainable coefficient, bias and tanh).
    61,706 parameters.
    """
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(6, 5, activation="tanh", name="C1"),
        layers.AveragePooling2D(pool_size=2, name="S2"),
        layers.Conv2D(16, 5, activation="tanh", name="C3"),
        layers.AveragePooling2D(pool_size=2, name="S4"),
        layers.Conv2D(120, 5, activation="tanh", name="C5"),
        layers.Flatten(name="flatten"),
        layers.Dense(84, activation="tanh", name="F6"),
        layers.Dense(classes, activation="softmax", name="output"),
    ], name="lenet5")  # fmt: skip


def lenet_keras(input_shape: tuple[int, int, int] = (32, 32, 1), classes: int = 10) -> keras.Model:
    """The Keras 'LeNet-5 like' model of seed 002 ('A LeNET-5 Like Architecture'): 81,194 params.

    Conv2D 6@3x3 relu -> AveragePooling2D 2 -> Conv2D 16@3x3 relu -> AveragePooling2D 2
    -> Flatten -> Dense 120 relu -> Dense 84 relu -> Dense 10 softmax. Keras 3 needs an
    explicit ``pool_size`` and a ``keras.Input`` where the slide (Keras 2) wrote
    ``AveragePooling2D()`` and ``input_shape=(32, 32, 1)``.
    """
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(filters=6, kernel_size=(3, 3), activation="relu"),
        layers.AveragePooling2D(pool_size=2),
        layers.Conv2D(filters=16, kernel_size=(3, 3), activation="relu"),
        layers.AveragePooling2D(pool_size=2),
        layers.Flatten(),
        layers.Dense(units=120, activation="relu"),
        layers.Dense(units=84, activation="relu"),
        layers.Dense(units=classes, activation="softmax"),
    ], name="lenet_keras")  # fmt: skip


def mlp(
    width: int = 512, depth: int = 2, dropout: float = 0.2, input_dim: int = 784, classes: int = 10
) -> keras.Model:
    """The MLP of seed 002's CPU-vs-GPU sweep: input_dim -> (Dense width relu, Dropout) x depth
    -> Dense classes softmax.

    ``width``: units per hidden layer (the sweep's n); ``depth``: hidden layers; ``dropout``:
    rate after each hidden layer (0 for none); ``input_dim``: input features (784 = a flattened
    28x28 MNIST image). With ``width=4096`` it is the slide's 'i=12, n=4096' model:
    3,215,360 + 16,781,312 + 40,970 = 20,037,642 parameters.
    """
    width, depth = positive_int("width", width), positive_int("depth", depth)
    input_dim = positive_int("input_dim", input_dim)
    dropout = fraction("dropout", dropout, allow_one=False)
    stack: list[Any] = [keras.Input((input_dim,))]
    for _ in range(depth):
        stack.append(layers.Dense(width, activation="relu"))
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(classes, activation="softmax"))
    return keras.Sequential(stack, name=f"mlp_{width}x{depth}")


def alexnet(input_shape: tuple[int, int, int] = (227, 227, 3), classes: int = 1000) -> keras.Model:
    """AlexNet (Krizhevsky, Sutskever & Hinton 2012), the original two-GPU version.

    conv1 96@11x11/4 -> max 3/2 -> conv2 256@5x5 (2 groups) -> max 3/2 -> conv3 384@3x3
    -> conv4 384@3x3 (2 groups) -> conv5 256@3x3 (2 groups) -> max 3/2 -> FC 4096 ->
    FC 4096 -> FC classes; ReLU, dropout 0.5 after FC6 and FC7. The two GPUs become
    ``groups=2``; local response normalisation (no weights, few ops) is left out; the input
    is 227x227, the size that makes the paper's arithmetic work (its text says 224).

    Seed 004's tables: CONV WEIGHTS 2.332704 M, FC WEIGHTS 58.621952 M (kernels, no biases)
    and CONV 1.332 GOPs match exactly. Its FC 0.044 GOPs does not: the FC layers do
    58,621,952 MACs = 0.117 GOPs (2 x FC weights, as the slide's own VGG16 row has it).
    """
    conv = dict(activation="relu", padding="same")
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1"),
        layers.MaxPooling2D(pool_size=3, strides=2, name="pool1"),
        layers.Conv2D(256, 5, groups=2, name="conv2", **conv),
        layers.MaxPooling2D(pool_size=3, strides=2, name="pool2"),
        layers.Conv2D(384, 3, name="conv3", **conv),
        layers.Conv2D(384, 3, groups=2, name="conv4", **conv),
        layers.Conv2D(256, 3, groups=2, name="conv5", **conv),
        layers.MaxPooling2D(pool_size=3, strides=2, name="pool5"),
        layers.Flatten(name="flatten"),
        layers.Dense(4096, activation="relu", name="fc6"),
        layers.Dropout(0.5, name="drop6"),
        layers.Dense(4096, activation="relu", name="fc7"),
        layers.Dropout(0.5, name="drop7"),
        layers.Dense(classes, activation="softmax", name="fc8"),
    ], name="alexnet")  # fmt: skip


# Darknet-19 as printed by darknet in seed 002: (filters, size) per conv, "M" = max 2/2
_DARKNET19 = [
    (32, 3), "M",
    (64, 3), "M",
    (128, 3), (64, 1), (128, 3), "M",
    (256, 3), (128, 1), (256, 3), "M",
    (512, 3), (256, 1), (512, 3), (256, 1), (512, 3), "M",
    (1024, 3), (512, 1), (1024, 3), (512, 1), (1024, 3),
]  # fmt: skip


def darknet19(
    input_shape: tuple[int, int, int] = (256, 256, 3), classes: int = 1000
) -> keras.Model:
    """Darknet-19 (Redmon & Farhadi, YOLO9000, 2017) as in seed 002's darknet layer print.

    Layers 0-22: 3x3 and 1x1 'same' convolutions, each followed by batch normalisation
    and leaky ReLU (slope 0.1) as in Darknet, with 2x2/2 max pools; layer 23: a 1x1
    conv to ``classes`` maps (linear, with bias, no BN); 24: global average pool; 25:
    softmax. The convolutions before BN have no bias (BN's beta replaces it); MACs
    are unaffected. Layers are named by the print's index ('0_conv', '1_max', ...).
    At 256x256x3 each conv's 2 x MACs / 1e9 equals the print's BFLOPs column
    (0.113, 0.604, ...; 0.131 for layer 23).
    """
    x = inputs = keras.Input(input_shape)
    for idx, spec in enumerate(_DARKNET19):
        if spec == "M":
            x = layers.MaxPooling2D(pool_size=2, strides=2, name=f"{idx}_max")(x)
            continue
        filters, size = spec
        x = layers.Conv2D(filters, size, padding="same", use_bias=False, name=f"{idx}_conv")(x)
        x = layers.BatchNormalization(name=f"{idx}_bn")(x)
        x = layers.LeakyReLU(negative_slope=0.1, name=f"{idx}_leaky")(x)
    n = len(_DARKNET19)
    x = layers.Conv2D(classes, 1, padding="same", name=f"{n}_conv")(x)
    x = layers.GlobalAveragePooling2D(name=f"{n + 1}_avg")(x)
    outputs = layers.Softmax(name=f"{n + 2}_softmax")(x)
    return keras.Model(inputs, outputs, name="darknet19")


def mobilenet_v1(alpha: float = 1.0, resolution: int = 224, classes: int = 1000) -> keras.Model:
    """MobileNet V1 (Howard et al. 2017), seed 003's 'Table 1. MobileNet Body Architecture'.

    ``keras.applications.MobileNet`` with random weights; ``alpha`` is the paper's width
    multiplier (Table 6), ``resolution`` its input side (Table 7). The classifier, a 1x1
    Conv2D on the pooled 1x1x1024 map, is the paper's FC layer. Profiled
    (:func:`course_utils.profiler.profile`), the MACs of every row of Tables 6 and 7 are
    within 0.3 % of the paper's: 568.7 M at alpha 1 (paper 569), 41.0 M at alpha 0.25 (41);
    4.23 M trainable parameters at alpha 1 (paper 4.2 M; Keras' total 4,253,864 adds
    BatchNorm's moving statistics).
    """
    return keras.applications.MobileNet(
        input_shape=(resolution, resolution, 3), alpha=alpha, weights=None, classes=classes
    )


def mobilenet_v2(alpha: float = 1.0, resolution: int = 224, classes: int = 1000) -> keras.Model:
    """MobileNet V2 (Sandler et al. 2018), seed 003's inverted residuals and linear bottlenecks.

    ``keras.applications.MobileNetV2`` with random weights (paper: 300 M multiply-adds
    and 3.4 M parameters at alpha 1.0, 224x224). Profiled: 300.8 M MACs, 3,504,872
    trainable parameters (3,538,984 with BatchNorm's moving statistics).
    """
    return keras.applications.MobileNetV2(
        input_shape=(resolution, resolution, 3), alpha=alpha, weights=None, classes=classes
    )


def vgg16(input_shape: tuple[int, int, int] = (224, 224, 3), classes: int = 1000) -> keras.Model:
    """VGG16 (Simonyan & Zisserman 2014), ``keras.applications.VGG16`` with random weights.

    Seed 004's tables: CONV WEIGHTS 14.710464 M, FC WEIGHTS 123.633664 M (kernels, no
    biases), CONV 30.693 GOPs, FC 0.247 GOPs.
    """
    return keras.applications.VGG16(input_shape=input_shape, weights=None, classes=classes)


def resnet50(input_shape: tuple[int, int, int] = (224, 224, 3), classes: int = 1000) -> keras.Model:
    """ResNet-50 (He et al. 2015), ``keras.applications.ResNet50`` with random weights.

    Seed 004's tables: CONV WEIGHTS 23.454912 M (conv kernels, no biases), FC WEIGHTS
    2.048 M, CONV 7.712 GOPs, FC 0.004 GOPs. Keras' 25,636,712 parameters are torchvision's
    25,557,032 plus conv biases (26,560) and BatchNorm's moving statistics (53,120). The
    profiler reproduces the seed's int8 inference example (7.7 G operations, 25.5 MB of
    weights, 10.1 MB of activations): 7.72 GFLOPs, conv input activations 10.14 MB.
    """
    return keras.applications.ResNet50(input_shape=input_shape, weights=None, classes=classes)


#: Builder functions by name.
BUILDERS: dict[str, Callable[..., keras.Model]] = {f.__name__: f for f in (
    lenet5, lenet_keras, mlp, alexnet, darknet19, mobilenet_v1, mobilenet_v2, vgg16, resnet50
)}  # fmt: skip


def build(name: str, **kwargs: Any) -> keras.Model:
    """Build the model called ``name`` (a key of :data:`BUILDERS`), passing ``kwargs`` on.
    An unknown name raises ValueError with close names and the list of all."""
    if name not in BUILDERS:
        close = difflib.get_close_matches(str(name), BUILDERS, n=3)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(BUILDERS)
        raise ValueError(f"build: unknown model {name!r}.{hint} Known models: {known}.")
    return BUILDERS[name](**kwargs)
