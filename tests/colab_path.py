"""The Colab path as a student meets it: Colab's preinstalled stack, the notebooks on their own.

    python tests/colab_path.py                        # every notebook (about 20-30 min)
    python tests/colab_path.py 03 07                  # some: numbers or names
    python tests/colab_path.py --setup-cell contributing 03   # the setup cell of CONTRIBUTING.md

For each notebook, as a fresh Colab runtime would:

1. a virtual environment holding what Colab preinstalls (:data:`COLAB`: its TensorFlow, Keras,
   NumPy, matplotlib, ipywidgets, ... and its kernel stack), Python 3.13 like Colab, and no
   course_utils. It is built once under ``--work`` and reset before every notebook (whatever
   a setup cell installed is removed, changed versions are put back);
2. the notebook, copied alone into an empty folder (Colab's ``/content``), no repository
   around it, ``COLAB_RELEASE_TAG`` set, no GPU;
3. run top to bottom with nbclient in that environment's kernel. Its setup cell does what it
   does on Colab: clone ``https://github.com/dl-meets-hardware/course`` and pip-install it
   (the committed cell, or with ``--setup-cell contributing`` the one notebooks/CONTRIBUTING.md
   gives). GitHub is not reachable from the test machines, so git is told to fetch that URL
   from this checkout (``url.<checkout>.insteadOf``): what gets cloned and built into a wheel
   is this checkout's last *commit*; pip reaches the package registry as on Colab.

It reports per notebook: ran (with the warnings it printed) or failed, with the cell and the
error, i.e. what the notebook lacks there; and writes ``<work>/report.json`` and the executed
notebooks under ``<work>/runs/``. Exit code 0 when every notebook ran.

Not part of ``./course test`` (it installs a second stack of about 2 GB and runs every
notebook); the lead runs it before a release. tests/test_colab_path.py checks the same path
quickly, with this environment's versions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.notebook import REPO  # noqa: E402
from slides.course_map import standard_setup_cell  # noqa: E402

#: What Colab preinstalls that the course touches: googlecolab/backend-info, pip-freeze.txt
#: (the same in pip-freeze.gpu.txt) of 2026-08-19, "Upgrade to Python 3.13".
COLAB_SOURCE = "googlecolab/backend-info pip-freeze.txt, 2026-08-19 (Python 3.13)"
COLAB: dict[str, str] = {
    "tensorflow": "2.20.0",
    "keras": "3.13.2",
    "numpy": "2.1.3",
    "matplotlib": "3.10.0",
    "ipywidgets": "7.7.1",
    "psutil": "5.9.5",
    "scikit-learn": "1.6.1",
    "tqdm": "4.67.3",
    "protobuf": "5.29.6",
    "ml_dtypes": "0.6.0",
    "ipython": "7.34.0",
    "ipykernel": "6.17.1",
    "jupyter_client": "7.4.9",
    "traitlets": "5.7.1",
    "nbclient": "0.10.4",
    "nbformat": "5.11.1",
}
COLAB_PYTHON = "3.13"
REPO_URL = f"https://github.com/{REPO}"

RUNNER = """
import json, sys, time
import nbformat
from nbclient import NotebookClient
src, dst, cwd, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(float(sys.argv[4]))
nb = nbformat.read(src, as_version=4)
client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                        resources={"metadata": {"path": cwd}})
start, failure = time.monotonic(), None
try:
    client.execute()
except Exception as exc:  # CellExecutionError, a timeout, a dead kernel
    failure = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
nbformat.write(nb, dst)
print(json.dumps({"seconds": time.monotonic() - start, "failure": failure}))
"""


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kwargs)


def _pip(python: Path, *args: str) -> None:
    """``python -m pip ARGS``, quiet unless it fails."""
    out = subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"colab-path: pip {' '.join(args)} failed:\n{out.stderr[-3000:]}")


def _freeze(python: Path) -> dict[str, str]:
    out = _run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True).stdout
    found = {}
    for line in out.splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            found[name.lower().replace("_", "-")] = version
        elif " @ " in line:
            found[line.split(" @ ")[0].lower().replace("_", "-")] = line.split(" @ ", 1)[1]
    return found


def build_colab_venv(work: Path, python: str) -> Path:
    """The Colab-like environment (built once; rebuilt when :data:`COLAB` changes)."""
    venv = work / "venv"
    stamp = venv / "colab-stamp.json"
    want = {"python": python, "packages": COLAB}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    print(f"colab-path: building Colab's stack ({COLAB_SOURCE}) with {python}", flush=True)
    _run([python, "-m", "venv", str(venv)])
    py = venv / "bin" / "python"
    pins = [f"{name}=={version}" for name, version in COLAB.items()]
    _pip(py, "install", "-q", *pins)
    _run([str(py), "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
         capture_output=True)  # fmt: skip
    (venv / "colab-base.json").write_text(json.dumps(_freeze(py), indent=1))
    stamp.write_text(json.dumps(want))
    return venv


def reset_venv(venv: Path) -> None:
    """Undo what a previous notebook's setup cell installed: a fresh runtime."""
    py = venv / "bin" / "python"
    base = json.loads((venv / "colab-base.json").read_text())
    now = _freeze(py)
    extra = sorted(set(now) - set(base))
    if extra:
        _pip(py, "uninstall", "-q", "-y", *extra)
    changed = [f"{n}=={v}" for n, v in base.items() if n in now and now[n] != v and "://" not in v]
    if changed:
        _pip(py, "install", "-q", "--no-deps", *changed)


def _environment(home: Path) -> dict[str, str]:
    drop = {"COURSE_ROOT", "PYTHONPATH", "VIRTUAL_ENV", "KERAS_HOME", "IPYTHONDIR", "PYTHONHOME",
            "MPLBACKEND", "MPLCONFIGDIR", "JUPYTER_PLATFORM_DIRS", "TF_CPP_MIN_LOG_LEVEL"}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        HOME=str(home),
        COLAB_RELEASE_TAG="course-colab-path",  # what Colab sets; course_utils reads it
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        # the repository URL is served from this checkout (GitHub is not reachable here)
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0=f"url.{ROOT.as_uri()}.insteadOf",
        GIT_CONFIG_VALUE_0=REPO_URL,
    )
    return env


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        text = output.get("text", "")
    elif output.get("output_type") == "error":
        text = f"{output.get('ename')}: {output.get('evalue')}"
    else:
        text = output.get("data", {}).get("text/plain", "")
    return "".join(text) if isinstance(text, list) else text


def summarise(executed: Path, failure: str | None) -> dict:
    """What a student sees: the failing cell and its error, the warnings printed."""
    nb = json.loads(executed.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    result: dict = {"status": "failed" if failure else "ran", "warnings": []}
    for number, cell in enumerate(code, start=1):
        for output in cell.get("outputs", []):
            text = _text(output)
            if output.get("output_type") == "error":
                source = "".join(cell["source"]).strip().splitlines()
                result.update(
                    cell=number,
                    cell_source=(source[0] if source else "")[:100],
                    error=f"{output.get('ename')}: {output.get('evalue')}"[:600],
                )
            for line in text.splitlines():
                m = re.search(r"(\w*Warning): (.*)", line)
                if m and output.get("name") == "stderr":
                    warning = f"cell {number}: {m[1]}: {m[2][:300]}"
                    if warning not in result["warnings"]:
                        result["warnings"].append(warning)
    if failure and "error" not in result:
        result["error"] = failure[:600]
    return result


def run_notebook(notebook: Path, venv: Path, work: Path, setup_cell: str, timeout_s: float) -> dict:
    reset_venv(venv)
    run_dir = work / "runs" / notebook.stem
    shutil.rmtree(run_dir, ignore_errors=True)
    content, home = run_dir / "content", run_dir / "home"
    content.mkdir(parents=True)
    home.mkdir()
    nb = json.loads(notebook.read_text())
    if setup_cell == "contributing":
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        old = "".join(first["source"])
        new = standard_setup_cell()
        if "need_gpu=True" in old:
            new = new.replace("nb.setup()", "nb.setup(need_gpu=True)")
        first["source"] = new
    src = content / notebook.name
    src.write_text(json.dumps(nb))
    dst = run_dir / notebook.name
    start = time.monotonic()
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", RUNNER, str(src), str(dst), str(content), str(timeout_s)],
        capture_output=True, text=True, cwd=content, env=_environment(home),
    )  # fmt: skip
    seconds = time.monotonic() - start
    if out.returncode != 0 or not dst.is_file():
        raise SystemExit(f"colab-path: the runner itself failed on {notebook.name}:\n{out.stderr[-3000:]}")
    outcome = json.loads(out.stdout.strip().splitlines()[-1])
    result = summarise(dst, outcome["failure"])
    result["seconds"] = round(seconds, 1)
    clone = content / "dl-meets-hardware"
    result["clone"] = clone.is_dir()
    return result


def find_python(version: str = COLAB_PYTHON) -> str | None:
    """A Python ``version`` that runs: on PATH, else one pyenv installed but did not activate."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}"))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True)  # fmt: skip
        if probe.returncode == 0:
            return candidate
    return None


def _select(names: list[str]) -> list[Path]:
    every = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return every
    chosen = []
    for name in names:
        found = [p for p in every if p.stem.startswith(name) or p.name == name]
        if not found:
            raise SystemExit(f"colab-path: no notebook matches {name!r} in notebooks/")
        chosen += [p for p in found if p not in chosen]
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="numbers or names (default: all)")
    parser.add_argument("--python", default=find_python(),
                        help=f"the Python to build Colab's stack with (default: python{COLAB_PYTHON})")  # fmt: skip
    parser.add_argument("--work", type=Path, default=Path("/tmp/course-colab-path"))
    parser.add_argument("--setup-cell", choices=("committed", "contributing"), default="committed",
                        help="run each notebook's own setup cell, or CONTRIBUTING.md's")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    if not args.python:
        parser.error(f"no python{COLAB_PYTHON} on PATH (Colab runs {COLAB_PYTHON}); pass --python")
    work = args.work.resolve()
    if any((parent / ".git").exists() for parent in (work, *work.parents)):
        parser.error(f"--work {work} lies inside a git repository; Colab's folder has none")
    work.mkdir(parents=True, exist_ok=True)
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "course_utils",
                            "pyproject.toml", "datasets"], capture_output=True, text=True).stdout  # fmt: skip
    if dirty.strip():
        print("colab-path: note: uncommitted changes in course_utils/pyproject/datasets are NOT in "
              "the clone the setup cell makes (it clones the last commit)", flush=True)  # fmt: skip
    venv = build_colab_venv(work, args.python)
    version = _run([str(venv / "bin" / "python"), "--version"], capture_output=True).stdout.strip()
    print(f"colab-path: {version}, " + ", ".join(f"{k} {v}" for k, v in list(COLAB.items())[:5])
          + f"; setup cell: {args.setup_cell}", flush=True)  # fmt: skip
    report = {"colab": COLAB, "source": COLAB_SOURCE, "python": version,
              "setup_cell": args.setup_cell, "notebooks": {}}  # fmt: skip
    for notebook in _select(args.notebooks):
        print(f"colab-path: running {notebook.name} ...", flush=True)
        result = run_notebook(notebook, venv, work, args.setup_cell, args.timeout)
        report["notebooks"][notebook.stem] = result
        line = f"  {result['status']} in {result.get('seconds', 0):.0f} s"
        if result["status"] == "failed":
            line += f" at code cell {result.get('cell', '?')} ({result.get('cell_source', '')}): "
            line += result.get("error", "")
        print(line, flush=True)
        for warning in result.get("warnings", []):
            print(f"    {warning}", flush=True)
    (work / "report.json").write_text(json.dumps(report, indent=1))
    ran = sum(r["status"] == "ran" for r in report["notebooks"].values())
    print(f"colab-path: {ran} of {len(report['notebooks'])} ran; report: {work / 'report.json'}")
    return 0 if ran == len(report["notebooks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
