"""The Colab path: the setup cell clones the course and installs it as a wheel; notebooks run outside
the repository they were opened from.

What Colab does, reproduced as far as a test machine can (with this environment's versions:
tests/colab_path.py replays it with Colab's own TensorFlow, Keras and NumPy):

* a fresh Python environment with TensorFlow, Keras, NumPy, ... preinstalled and no course_utils:
  a new venv that sees this environment's packages through a ``.pth`` file (a folder of links
  to them, course_utils left out), the way Colab's image has them;
* the notebooks' setup cell, verbatim from notebooks/CONTRIBUTING.md, runs there in a bare
  working folder (Colab's /content): it finds no course_utils, makes a shallow clone of the
  repository URL and pip-installs the package from that clone. git is told to fetch the URL
  from this clone (``url.file://<clone>.insteadOf``), so the committed repository is what gets
  cloned and built: pip makes a wheel, installs it (not editable) and reuses the preinstalled
  TensorFlow;
* a small notebook runs in that working folder with the network cut (``unshare -rn`` where
  possible) and ``COLAB_RELEASE_TAG`` set as on Colab: its setup cell finds course_utils (no
  second clone or install), warns that no GPU is selected and says how to pick one; the
  package finds the clone it was installed from, so MNIST loads from the clone's
  ``datasets/mnist.npz`` offline and the artifacts go into the clone;
* with the clone gone (a package installed from elsewhere), setup warns what is missing and
  MNIST falls back to Keras' download, which fails offline with a message saying what to do;
* from inside another clone, the installed package uses that clone.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_utils.notebook import REPO
from slides.course_map import standard_setup_cell

ROOT = Path(__file__).resolve().parent.parent
REPO_URL = f"https://github.com/{REPO}"

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="the fresh-venv layout below is Linux's"
)


def _site_packages(prefix: Path) -> Path:
    return prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"


def _clean_env(home: Path) -> dict[str, str]:
    """This process's environment without anything that points at the clone or this venv."""
    drop = {"COURSE_ROOT", "PYTHONPATH", "VIRTUAL_ENV", "KERAS_HOME", "IPYTHONDIR", "PYTHONHOME"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        HOME=str(home), MPLBACKEND="Agg", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1"
    )
    return env


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """A Colab-like venv in which the setup cell has installed course_utils from the repository."""
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("needs a git clone of the course and git (pip installs from the repository)")
    tmp = tmp_path_factory.mktemp("colab")
    venv, home, work = tmp / "venv", tmp / "home", tmp / "work"
    home.mkdir()
    work.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # the "preinstalled" packages: everything in this environment except course_utils itself
    view = tmp / "preinstalled"
    view.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower()
        if name.startswith(("course_utils", "__editable__")) or name.endswith(".pth"):
            continue
        (view / entry.name).symlink_to(entry)
    (_site_packages(venv) / "_colab_preinstalled.pth").write_text(f"{view}\n")
    python = venv / "bin" / "python"

    env = _clean_env(home)
    # pip clones REPO_URL: let git take it from this clone instead of the network
    env.update(
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0=f"url.{ROOT.as_uri()}.insteadOf",
        GIT_CONFIG_VALUE_0=REPO_URL,
    )
    before = subprocess.run(
        [str(python), "-c", "import importlib.util; print(importlib.util.find_spec('course_utils'))"],
        capture_output=True, text=True, cwd=work, env=env, check=True,
    )  # fmt: skip
    assert before.stdout.strip() == "None", "the fresh venv must start without course_utils"
    setup = subprocess.run(
        [str(python), "-c", standard_setup_cell()],
        capture_output=True, text=True, cwd=work, env=env, timeout=300,
    )  # fmt: skip
    assert setup.returncode == 0, f"the setup cell failed:\n{setup.stdout}\n{setup.stderr[-4000:]}"
    # a kernel for nbclient that runs this venv's Python
    subprocess.run(
        [str(python), "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
        capture_output=True, check=True, env=env,
    )  # fmt: skip
    clone = work / "dl-meets-hardware"
    return {
        "python": python, "venv": venv, "home": home, "work": work, "setup": setup, "env": env,
        "clone": clone,
    }  # fmt: skip


def test_setup_cell_clones_installs_a_wheel_and_reuses_preinstalled_tensorflow(colab):
    clone = colab["clone"]
    assert (clone / "datasets" / "mnist.npz").is_file() and (clone / "notebooks").is_dir()
    shallow = subprocess.run(
        ["git", "-C", str(clone), "rev-list", "--count", "HEAD"], capture_output=True, text=True
    )
    assert shallow.stdout.strip() == "1", "the setup cell must make a shallow clone"
    site = _site_packages(colab["venv"])
    dists = sorted(p.name for p in site.glob("*.dist-info"))
    assert [d.split("-")[0] for d in dists] == ["course_utils"], (
        f"pip installed more than course_utils into the fresh venv: {dists}"
    )
    assert not (site / "tensorflow").exists() and not (site / "keras").exists()
    (dist,) = site.glob("course_utils-*.dist-info")
    origin = json.loads((dist / "direct_url.json").read_text())
    assert origin["url"] == clone.as_uri()
    assert not origin.get("dir_info", {}).get("editable"), "must be a real (wheel) install"
    assert (site / "course_utils" / "notebook.py").is_file()
    out = colab["setup"].stdout
    assert "tensorflow" in out and "keras" in out and "CPU:" in out, out


def _run_notebook_offline(colab, cells: list[str]) -> list[str]:
    """Execute a notebook of ``cells`` in the venv's kernel, outside the repository, offline.

    Returns each code cell's text output (stdout, stderr, results, errors) joined.
    """
    work = colab["work"]
    nb = new_notebook(
        cells=[new_code_cell(c) for c in cells],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    src, dst = work / "colab_check.ipynb", work / "colab_check.out.ipynb"
    nbformat.write(nb, src)
    runner = (
        "import sys, nbformat, nbclient\n"
        "from jupyter_client.manager import KernelManager\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "km = KernelManager(kernel_name='python3', transport='ipc')\n"  # no TCP: works offline
        "nbclient.NotebookClient(nb, km=km, timeout=300, allow_errors=True,\n"
        "    resources={'metadata': {'path': '.'}}).execute()\n"
        "nbformat.write(nb, sys.argv[2])\n"
    )
    env = {**colab["env"], "COLAB_RELEASE_TAG": "course-test"}  # what Colab sets
    for key in ("GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"):
        env.pop(key)
    prefix = []
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        prefix = [unshare, "-rn"]  # a network namespace with no interface up: truly offline
    else:
        env.update(http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    result = subprocess.run(
        [*prefix, str(colab["python"]), "-c", runner, str(src), str(dst)],
        capture_output=True, text=True, cwd=work, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"running the notebook failed:\n{result.stderr[-4000:]}"
    texts = []
    for cell in nbformat.read(dst, as_version=4).cells:
        parts = []
        for o in cell.outputs:
            if o.output_type == "stream":
                parts.append(o.text)
            elif o.output_type == "error":
                parts.append(f"{o.ename}: {o.evalue}")
            else:
                parts.append(o.get("data", {}).get("text/plain", ""))
        texts.append("".join(parts))
    return texts


_WHERE = (
    "import sys, course_utils\nfrom course_utils import paths\n"
    "print('prefix', sys.prefix)\nprint('package', course_utils.__file__)\n"
    "print('root', paths.repo_root())\nprint('artifacts', paths.artifacts_dir())"
)
_MNIST = (
    "from course_utils.data import DatasetError, load_mnist\n"
    "try:\n    (x, y), _ = load_mnist()\n    print('loaded', x.shape)\n"
    "except DatasetError as exc:\n    print('DatasetError:', exc)"
)


def test_notebook_next_to_the_clone_offline(colab):
    setup_cell = standard_setup_cell().replace("nb.setup()", "nb.setup(colab_gpu=True)")  # as 03, 04
    setup_out, where_out, mnist_out = _run_notebook_offline(colab, [setup_cell, _WHERE, _MNIST])
    # setup: found course_utils (no second clone or install, which would fail offline), on "Colab"
    assert "Running on Colab." in setup_out, setup_out
    assert "No GPU found" in setup_out and "Runtime > Change runtime type > GPU" in setup_out
    assert "No clone of the course" not in setup_out, setup_out
    assert "Error" not in setup_out.replace("UserWarning", ""), setup_out
    # the package is the installed wheel; its root is the clone it was installed from
    lines = dict(line.split(" ", 1) for line in where_out.strip().splitlines())
    assert Path(lines["prefix"]) == colab["venv"]
    assert Path(lines["package"]).is_relative_to(_site_packages(colab["venv"]))
    assert Path(lines["root"]) == colab["clone"].resolve()
    assert Path(lines["artifacts"]) == colab["clone"].resolve() / "artifacts"
    assert mnist_out.strip() == "loaded (60000, 28, 28)", mnist_out


def test_notebook_without_the_clone_offline(colab):
    moved = colab["work"].parent / "moved-away"
    colab["clone"].rename(moved)
    try:
        setup_out, where_out, mnist_out = _run_notebook_offline(
            colab, [standard_setup_cell() + "\nprint('installed:', nb.__file__)", _WHERE, _MNIST]
        )
    finally:
        moved.rename(colab["clone"])
    # course_utils is installed, so the cell does not clone again; setup says what is missing
    assert "installed:" in setup_out and "No clone of the course found" in setup_out, setup_out
    assert "git clone --depth 1 https://github.com/" in setup_out
    lines = dict(line.split(" ", 1) for line in where_out.strip().splitlines())
    assert lines["root"] == "None"
    assert Path(lines["artifacts"]) == colab["work"].resolve() / "artifacts"
    # no clone, no network: MNIST fails with the message that says what to do
    assert "DatasetError: No local datasets/mnist.npz" in mnist_out, mnist_out
    assert "Keras could not download MNIST" in mnist_out
    assert "clone the repository" in mnist_out and "path=" in mnist_out


def test_installed_package_uses_the_shipped_mnist_inside_a_clone(colab):
    code = (
        "import course_utils, sys\nfrom course_utils import data, paths\n"
        "(x, y), (xt, yt) = data.load_mnist()\n"
        "print(course_utils.__file__); print(paths.repo_root()); print(x.shape, xt.shape)"
    )
    out = subprocess.run(
        [str(colab["python"]), "-c", code],
        capture_output=True, text=True, cwd=ROOT / "notebooks", env=colab["env"], timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    package, root, shapes = out.stdout.strip().splitlines()
    assert Path(package).is_relative_to(_site_packages(colab["venv"]))
    assert Path(root) == ROOT
    assert shapes == "(60000, 28, 28) (10000, 28, 28)"
