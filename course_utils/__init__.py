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
exercises  self-checking exercise answers
conv       output size, 'same' padding, im2col; the slides' conv examples (02)
training   the LeNet recipe and its cached model (notebooks 03, 06, 07)
energy     energy counters (RAPL, NVML) or labelled TDP x time estimates
casestudy  time / energy / money of a workload on a platform (seed 000)
bench      the CPU-vs-GPU benchmark and its reference files (notebook 04)
efficiency depthwise-separable costs, MobileNet tables, per-layer timing
quantize   number formats, affine quantization, LiteRT conversion, energy per op
compress   magnitude and filter pruning, gzip size, distillation
roofline_plot  placing measured layers under a roof, roofline figures
classreport  the class's results packs on one offline HTML page (instructors)
========== ==============================================================

Importing this package first sets TensorFlow's environment knobs (see ``tfenv``).
"""

from .tfenv import configure as _configure

_configure()

__version__ = "0.1.0"
