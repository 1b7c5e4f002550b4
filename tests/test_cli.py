"""Tests for the command line, ``python -m course_utils`` (course_utils/__main__.py)."""

import os
import subprocess
import sys

import pytest

from course_utils import __main__ as cli
from course_utils import models


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_profile_builder_prints_table_and_totals(capsys):
    code, out, err = run(capsys, "profile", "lenet_keras")
    assert code == 0
    assert "lenet_keras: batch 1, 32-bit" in out
    assert "AveragePooling2D" in out and "30x30x6" in out
    assert "81,194 params" in out and "274,656 MACs" in out


def test_profile_batch_bits_max_rows_and_input_shape(capsys):
    code, out, _ = run(
        capsys, "profile", "mlp", "--input-shape", "100", "--batch", "4", "--bits", "8",
        "--max-rows", "2",
    )  # fmt: skip
    assert code == 0
    assert "batch 4, 8-bit" in out
    macs = 4 * (100 * 512 + 512 * 512 + 512 * 10)
    assert f"{macs:,} MACs" in out
    assert "3 more layers" in out


def test_profile_input_shape_becomes_resolution(capsys):
    code, out, _ = run(capsys, "profile", "mobilenet_v1", "--input-shape", "128,128,3")
    assert code == 0
    assert "186,400,768 MACs" in out  # the paper's 186 M at 128x128


def test_profile_saved_keras_file(capsys, tmp_path):
    path = tmp_path / "lenet.keras"
    models.lenet_keras().save(path)
    code, out, _ = run(capsys, "profile", str(path))
    assert code == 0 and "274,656 MACs" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["profile", "resnet5"], "'resnet5'. Did you mean 'resnet50'"),
        (["profile", "missing.keras"], "no such model file"),
        (["profile", "mlp", "--input-shape", "28,28"], "one input size"),
        (["profile", "mobilenet_v1", "--input-shape", "128,96,3"], "square"),
        (["profile", "lenet_keras", "--batch", "0"], "batch_size"),
    ],
)
def test_usage_errors_exit_2_with_a_message(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and out == ""


def test_builder_errors_are_usage_errors(capsys):
    # LeNet-5's three 5x5 convolutions and two pools need at least 32x32 inputs
    code, _, err = run(capsys, "profile", "lenet5", "--input-shape", "28,28,1")
    assert code == 2 and "lenet5" in err
    with pytest.raises(cli.UsageError, match="fixed input shape"):
        cli._builder_kwargs("fixed", lambda classes=10: None, (28, 28, 1))


def test_bad_input_shape_text_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["profile", "lenet5", "--input-shape", "a,b"])
    assert exit_info.value.code == 2
    assert "224,224,3" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    code, _, err = run(capsys)
    assert code == 2 and "profile" in err


def test_new_commands_register_as_functions(capsys):
    def configure(parser):
        parser.add_argument("word")

    def run_echo(args):
        print(args.word.upper())
        return 0

    cli.register("echo", "say it louder", configure, run_echo)
    try:
        code, out, _ = run(capsys, "echo", "hi")
        assert code == 0 and out == "HI\n"
        with pytest.raises(ValueError, match="already exists"):
            cli.register("echo", "again", configure, run_echo)
    finally:
        del cli.SUBCOMMANDS["echo"]


def test_module_runs_as_a_program(tmp_path):
    env = {**os.environ, "KERAS_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "course_utils", "profile", "lenet5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "61,706 params" in result.stdout and "C5" in result.stdout
