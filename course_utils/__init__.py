"""course_utils: the helper package of the 'Deep Learning meets Hardware' course.

The notebooks write each idea in a few lines and check it against this package. One
concept per module, readable next to the slide it implements, in layers: a module
imports only from its own or lower layers (``tests/test_layering.py`` checks it).

basics (standard library and NumPy)
    validators   argument checks: TypeError for a wrong type, ValueError for a bad value
    units        numbers as people read them: SI prefixes, durations, energy, money, bytes
    paths        the repository, datasets/ and artifacts/ folders
    versions     the minimum versions and the Keras APIs the notebooks need
    tfenv        TensorFlow's environment knobs, set before TensorFlow is imported
formulas (NumPy only)
    costs        closed-form costs of seed 004 and friends: FC/conv/RNN, model size,
                 training FLOPs, separable convolution, utilisation, FLOPS per $ and per W,
                 E = P t, energy per operation (Horowitz)
    roofline     the roofline model (Williams, Waterman & Patterson 2009)
    conv         output size, 'same' padding, im2col; the slides' conv examples
    numerics     number formats and affine quantization (Jacob et al. 2018)
measurement
    timing       latency and throughput done properly; TimedFlops, the one achieved-FLOP/s
                 rule; per-layer timing; interleaved comparisons; one device policy
    machine      this machine: CPU, caches, SIMD and int8 instructions, theoretical peak,
                 GEMM and STREAM probes
    hardware     the sourced device catalogue (data/devices.json), seed 002's table
    profiler     per-layer params / MACs / FLOPs / bytes of any built Keras model
    energy       energy counters (RAPL, NVML) for the device that did the work
models, data, training
    models       model builders from the lecture tables (all ``weights=None``)
    data         the shipped MNIST, verified by checksum
    training     the LeNet recipe and its cached model (notebooks 03, 05, 06, 07)
    litert       LiteRT conversion and a runner for accuracy and latency (06, 07)
presentation
    plots        one style for the course's figures
    notebook     the setup cell every notebook runs
    results      each notebook's results card, and a student's pack of them
    exercises    self-checking exercises: predict, write code, explain
    classreport  the class's packs on one offline HTML page (instructors)
labs (one notebook's own machinery; imported only by notebooks, tests and the CLI)
    labs.metrics (01), labs.cnn_basics (02), labs.lenet (03), labs.cpu_vs_gpu (04),
    labs.mobilenet (05), labs.quantization (06), labs.pruning (07), labs.rooflines (08),
    labs.scaling (09)

Importing this package first sets TensorFlow's environment knobs (see ``tfenv``).
"""

from .tfenv import configure as _configure

_configure()

__version__ = "0.1.0"
