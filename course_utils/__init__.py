"""course_utils: the helper package of the 'Deep Learning meets Hardware' course.

One concept per module, each readable next to the slide it implements:

========== ==============================================================
costs      closed-form cost formulas of seed 004 (FC, conv, RNN, model size)
profiler   per-layer params / MACs / FLOPs / bytes of any built Keras model
timing     latency and throughput measurement done properly
hardware   the device catalogue, this machine, GEMM and bandwidth probes
roofline   the roofline model (Williams, Waterman & Patterson 2009)
models     model builders from the lecture tables (all ``weights=None``)
data       the shipped MNIST, verified by checksum
results    each notebook's results card (artifacts/results/*.json)
plots      one style for the course's figures
notebook   the setup cell every notebook runs
========== ==============================================================

Importing this package first sets TensorFlow's environment knobs (see ``_env``).
"""

from ._env import configure as _configure

_configure()

__version__ = "0.1.0"
