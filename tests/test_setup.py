"""The environment knobs, versions and notebook set-up shared by every notebook."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import notebook, plots, tfenv, versions

ROOT = Path(__file__).resolve().parent.parent


def test_tf_knobs_are_set_before_tensorflow():
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    if "TF_ENABLE_ONEDNN_OPTS" in tfenv.DEFAULTS:
        assert os.environ["TF_ENABLE_ONEDNN_OPTS"] in ("0", "1")


def test_user_value_wins_and_late_import_warns():
    code = (
        "import os, warnings; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '0'\n"
        "import course_utils; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "0"
    code = "import tensorflow\nimport course_utils"
    env = {k: v for k, v in os.environ.items() if k not in tfenv.DEFAULTS}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "Import course_utils first" in out.stderr


def test_versions_check_and_errors():
    found = versions.check()
    assert set(found) == set(versions.MINIMUM)
    with pytest.raises(RuntimeError, match="too old.*course setup"):
        versions.check({"numpy": "999.0"})
    with pytest.raises(RuntimeError, match="not installed"):
        versions.check({"surely-not-a-package-xyz": "1.0"})


def test_minimums_agree_with_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    for name, least in versions.MINIMUM.items():
        assert f'"{name}>={least}"' in text, (
            f"pyproject.toml and versions.MINIMUM disagree on {name}"
        )


def test_setup_reports_and_warns_without_gpu():
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        info = notebook.setup(need_gpu=True, quiet=True)
        assert info["gpus"]
    else:
        with pytest.warns(UserWarning, match="No GPU found"):
            info = notebook.setup(need_gpu=True, quiet=True)
        assert info["gpus"] == []
    assert info["versions"]["tensorflow"] and info["cpu"]
    assert info["colab"] is False


def test_si_format():
    assert plots.si(1.86e11, "FLOP/s") == "186 GFLOP/s"
    assert plots.si(0.0025, "s") == "2.5 ms"
    assert plots.si(0) == "0"


def test_tensorflow_import_is_quiet_but_real_errors_pass():
    code = "from course_utils.tfenv import import_tensorflow; tf = import_tensorflow(); print(tf.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "absl::InitializeLog" not in out.stderr and "oneDNN custom operations" not in out.stderr
    code = (
        "import os\nfrom course_utils.tfenv import filtered_stderr\n"
        "with filtered_stderr():\n"
        "    os.write(2, b'oneDNN custom operations are on\\nreal problem here\\n')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stderr.strip() == "real problem here"
