"""The ``./course`` script, run against fake Pythons and fake machines on this one.

Each test copies the script into a scratch "repository" and runs it with a PATH that holds
only the tools it needs plus fake ``python3.x`` programs: each answers the script's probe
with the version and platform it plays, and logs every other call (``-m venv``, ``-m pip``,
``-m jupyter``) instead of doing it. So the tests see which Python the script picks, what it
says when none fits, that it stops on an Intel Mac before pip, and what it runs for
``lab``, ``results`` and ``class-report``. One test starts the real JupyterLab.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("bash", "env", "awk", "cat", "cksum", "uname", "dirname", "mkdir", "cp", "mv", "basename")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="./course is a bash script")


def _fake_python(path: Path, version: str, os_name: str = "Linux", arch: str = "x86_64") -> None:
    """A program that plays Python ``version`` on ``os_name``/``arch`` and logs its calls."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$0 $*" >> "$FAKE_LOG"\n'
        f'if [[ $1 == -c ]]; then echo "{version} {os_name} {arch}"; exit 0; fi\n'
        f'if [[ $1 == --version ]]; then echo "Python {version}.0"; exit 0; fi\n'
        'if [[ $1 == -m && $2 == venv ]]; then mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; fi\n'
    )
    path.chmod(0o755)


def _fake_tool(bin_dir: Path, name: str, script: str) -> None:
    (bin_dir / name).write_text("#!/usr/bin/env bash\n" + script)
    (bin_dir / name).chmod(0o755)


@pytest.fixture
def repo(tmp_path):
    """A scratch copy of what ``./course`` reads, and a PATH with no real Python on it."""
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    for name in ("course", "requirements.txt", "pyproject.toml"):
        shutil.copy2(ROOT / name, repo / name)
    (repo / "notebooks" / "00_index.ipynb").write_text("{}")
    (repo / "notebooks" / "03_lenet_mnist.ipynb").write_text("{}")
    tools, fakes = tmp_path / "tools", tmp_path / "fakes"
    tools.mkdir()
    fakes.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run ./course"
        (tools / tool).symlink_to(found)
    log = tmp_path / "calls.log"
    log.touch()
    env = {
        "PATH": f"{fakes}:{tools}",
        "HOME": str(tmp_path),
        "FAKE_LOG": str(log),
        "LANG": "C",
    }
    return {"dir": repo, "fakes": fakes, "env": env, "log": log}


def _course(repo, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(repo["dir"] / "course"), *args],
        capture_output=True, text=True, env={**repo["env"], **env}, timeout=60,
    )  # fmt: skip


def _calls(repo) -> list[str]:
    return [line.replace(str(repo["dir"]) + "/", "") for line in repo["log"].read_text().splitlines()]


def _installs(repo) -> list[str]:
    return [c for c in _calls(repo) if " -m pip install" in c]


def test_help_lists_the_commands_and_no_shell_code():
    out = subprocess.run([str(ROOT / "course"), "help"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == ""
    assert "set -euo" not in out.stdout and "cd " not in out.stdout
    for command in ("lab", "test", "setup", "execute", "slides", "results", "class-report"):
        assert f"./course {command}" in out.stdout, command
    assert "Python 3.11, 3.12 or 3.13" in out.stdout
    unknown = subprocess.run([str(ROOT / "course"), "no-such-command"], capture_output=True, text=True)
    assert unknown.returncode != 0 and unknown.stdout == out.stdout


def test_picks_the_tested_python_first_then_newer_ones(repo):
    for version in ("3.10", "3.11", "3.13", "3.14"):
        _fake_python(repo["fakes"] / f"python{version}", version)
    _fake_python(repo["fakes"] / "python3", "3.9")
    out = _course(repo, "setup")
    assert out.returncode == 0, out.stderr
    assert "creating .venv with Python 3.11.0" in out.stdout
    calls = _calls(repo)
    assert any(c.endswith("python3.11 -m venv .venv") for c in calls), calls
    assert _installs(repo) == [
        ".venv/bin/python -m pip install -q --upgrade pip",
        ".venv/bin/python -m pip install -q -r requirements.txt -e .",
    ]
    # installed once: the second run finds the stamp and installs nothing
    repo["log"].write_text("")
    assert _course(repo, "setup").returncode == 0 and _installs(repo) == []


@pytest.mark.parametrize(
    ("programs", "picked"),
    [
        ({"python3.13": "3.13"}, "python3.13"),
        ({"python3.12": "3.12", "python3.13": "3.13"}, "python3.12"),
        ({"python3": "3.13", "python3.14": "3.14"}, "python3"),
        ({"python": "3.12", "python3": "3.9"}, "python"),
    ],
)
def test_accepts_every_python_the_pinned_stack_supports(repo, programs, picked):
    for name, version in programs.items():
        _fake_python(repo["fakes"] / name, version)
    out = _course(repo, "setup")
    assert out.returncode == 0, out.stderr
    assert any(c.endswith(f"/{picked} -m venv .venv") for c in _calls(repo)), _calls(repo)


def test_no_supported_python_says_which_it_found_and_what_to_install(repo):
    _fake_python(repo["fakes"] / "python3", "3.9")
    _fake_python(repo["fakes"] / "python3.14", "3.14")
    out = _course(repo, "lab")
    assert out.returncode == 1
    assert "no Python 3.11, 3.12 or 3.13 found (python3 is 3.9)" in out.stderr, out.stderr
    assert "pyenv install 3.13" in out.stderr and "PYTHON=/path/to/python3.13 ./course lab" in out.stderr
    assert not (repo["dir"] / ".venv").exists() and _installs(repo) == []


def test_python_env_variable_is_used_or_refused_with_the_reason(repo):
    _fake_python(repo["fakes"] / "python3.11", "3.11")
    _fake_python(repo["fakes"] / "mine" / "python", "3.14")
    out = _course(repo, "setup", PYTHON=str(repo["fakes"] / "mine" / "python"))
    assert out.returncode == 1
    assert "is Python 3.14; the pinned stack needs Python 3.11, 3.12 or 3.13" in out.stderr
    _fake_python(repo["fakes"] / "mine" / "python", "3.13")
    out = _course(repo, "setup", PYTHON=str(repo["fakes"] / "mine" / "python"))
    assert out.returncode == 0, out.stderr
    assert any(c.endswith("mine/python -m venv .venv") for c in _calls(repo))


def test_an_old_venv_is_named_with_the_fix(repo):
    _fake_python(repo["dir"] / ".venv" / "bin" / "python", "3.10")
    out = _course(repo, "test")
    assert out.returncode == 1
    assert ".venv's Python is Python 3.10" in out.stderr and "rm -rf .venv" in out.stderr
    assert _installs(repo) == []


def test_active_environment_with_a_supported_python_is_used(repo):
    _fake_python(repo["fakes"] / "python", "3.13")
    out = _course(repo, "setup", VIRTUAL_ENV="/somewhere")
    assert out.returncode == 0, out.stderr
    assert "using the active environment" in out.stdout
    assert _installs(repo)[-1].endswith("/python -m pip install -q -r requirements.txt -e .")
    assert not (repo["dir"] / ".venv").exists()


def _play_mac(repo, shell_arch: str, apple_silicon: bool) -> None:
    _fake_tool(repo["fakes"], "uname", f'[[ $1 == -m ]] && echo {shell_arch} || echo Darwin\n')
    _fake_tool(repo["fakes"], "sysctl", f"echo {int(apple_silicon)}\n")


def test_intel_mac_stops_before_pip_and_says_what_works(repo):
    _play_mac(repo, "x86_64", apple_silicon=False)
    _fake_python(repo["fakes"] / "python3.12", "3.12", "Darwin", "x86_64")
    out = _course(repo, "lab")
    assert out.returncode == 1
    assert "this is an Intel Mac" in out.stderr and "no Intel-macOS wheel after 2.16" in out.stderr
    for what_works in ("Colab", "Linux machine", "docker run"):
        assert what_works in out.stderr, what_works
    assert _calls(repo) == [] and not (repo["dir"] / ".venv").exists()
    # an Intel Mac with no supported Python at all hears the same, not "no Python found"
    (repo["fakes"] / "python3.12").unlink()
    assert "this is an Intel Mac" in _course(repo, "setup").stderr


def test_rosetta_python_on_apple_silicon_is_named(repo):
    _play_mac(repo, "x86_64", apple_silicon=True)  # a shell under Rosetta
    _fake_python(repo["fakes"] / "python3.12", "3.12", "Darwin", "x86_64")
    out = _course(repo, "setup")
    assert out.returncode == 1
    assert "running under Rosetta" in out.stderr and "arm64 Python" in out.stderr
    assert _installs(repo) == []


def test_apple_silicon_installs(repo):
    _play_mac(repo, "arm64", apple_silicon=True)
    _fake_python(repo["fakes"] / "python3.13", "3.13", "Darwin", "arm64")
    out = _course(repo, "setup")
    assert out.returncode == 0, out.stderr
    assert len(_installs(repo)) == 2


def _installed(repo) -> None:
    """A .venv that is already set up: the next command goes straight to work."""
    _fake_python(repo["dir"] / ".venv" / "bin" / "python", "3.12")
    want = subprocess.run(
        "cat requirements.txt pyproject.toml | cksum", shell=True, cwd=repo["dir"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    (repo["dir"] / ".venv" / ".course-installed").write_text(want)


def test_lab_serves_the_repository_and_opens_the_index(repo):
    _installed(repo)
    assert _course(repo, "lab").returncode == 0
    lab = f"--ServerApp.root_dir={repo['dir']}"
    assert _calls(repo)[-1] == f".venv/bin/python -m jupyter lab {lab} notebooks/00_index.ipynb"
    assert _course(repo, "lab", "notebooks/03_lenet_mnist.ipynb", "--port=9999").returncode == 0
    assert _calls(repo)[-1].endswith(f"{lab} notebooks/03_lenet_mnist.ipynb --port=9999")
    assert _course(repo, "lab", "--no-browser").returncode == 0
    assert _calls(repo)[-1].endswith(f"{lab} notebooks/00_index.ipynb --no-browser")


@pytest.mark.parametrize("command", ["results", "class-report"])
def test_results_and_class_report_pass_through(repo, command):
    _installed(repo)
    assert _course(repo, command, "--example", "a b").returncode == 0
    assert _calls(repo)[-1] == f".venv/bin/python -m course_utils {command} --example a b"


def test_real_jupyterlab_serves_the_repository_root(repo, tmp_path):
    """``./course lab`` with this environment's JupyterLab: the server's root is the repository
    and the browser is sent to the index notebook (jupyterlab 4.6's option names)."""
    _installed(repo)
    (repo["dir"] / ".venv" / "bin" / "python").write_text(
        f'#!/usr/bin/env bash\nexec "{sys.executable}" "$@"\n'
    )
    opened = tmp_path / "opened.html"
    _fake_tool(
        repo["fakes"], "browser", f'cat "${{1#file://}}" > "{opened}.part"; mv "{opened}.part" "{opened}"\n'
    )
    env = {
        **repo["env"],
        "BROWSER": f"{repo['fakes'] / 'browser'} %s",
        "JUPYTER_PLATFORM_DIRS": "1",
        "PATH": repo["env"]["PATH"] + ":" + os.path.dirname(sys.executable),
    }
    args = ["--ServerApp.port=0", "--ServerApp.open_browser=True", "--ServerApp.token=t"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    server = subprocess.Popen(
        ["bash", str(repo["dir"] / "course"), "lab", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not opened.exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.2)
    finally:
        server.terminate()
        log, _ = server.communicate(timeout=30)
    assert opened.exists(), f"JupyterLab opened no browser:\n{log[-3000:]}"
    assert f"Serving notebooks from local directory: {repo['dir']}" in log, log[-3000:]
    assert "/lab/tree/notebooks/00_index.ipynb?token=t" in opened.read_text()
