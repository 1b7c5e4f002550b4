"""Test-session set-up shared by the unit tests and the notebook tests (nbval).

* Keras, matplotlib and Jupyter write under the user's home; tests must not
  depend on it, so they get a private, temporary home for their config files.
  Notebook kernels started by nbval inherit this environment.
* TensorFlow's knobs (log level, oneDNN) are set by importing course_utils first.
"""

import os
import tempfile

_tmp_home = tempfile.mkdtemp(prefix="course-test-home-")
os.environ.setdefault("KERAS_HOME", os.path.join(_tmp_home, "keras"))
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_tmp_home, "matplotlib"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("IPYTHONDIR", os.path.join(_tmp_home, "ipython"))
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")

import course_utils  # noqa: E402,F401  (sets TF_CPP_MIN_LOG_LEVEL, TF_ENABLE_ONEDNN_OPTS)
