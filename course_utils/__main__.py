"""The course's command line, ``python -m course_utils COMMAND`` (or ``course-utils``): a command
is ``configure(parser)`` (its arguments) and ``run(args) -> int`` (exit code: 0 success, 2 usage
error), added by :func:`register`. ``profile MODEL`` lives here: the per-layer params, MACs, FLOPs
and bytes of a builder (:data:`course_utils.models.BUILDERS`) or ``.keras`` file (seed 004,
:mod:`course_utils.profiler`); the other commands live in their modules."""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["SUBCOMMANDS", "UsageError", "main", "register"]


class UsageError(Exception):
    """A command's arguments are wrong; :func:`main` prints the message and returns 2."""


SUBCOMMANDS: dict[str, tuple[str, Callable, Callable]] = {}  # name -> (help, configure, run)


def register(name: str, help: str, configure: Callable, run: Callable) -> None:
    """Add command ``name`` to :data:`SUBCOMMANDS` (it must not exist yet)."""
    if name in SUBCOMMANDS:
        raise ValueError(f"register: command {name!r} already exists")
    SUBCOMMANDS[name] = (help, configure, run)


def _shape(text: str) -> tuple[int, ...]:
    """'224,224,3' (or '224x224x3') -> (224, 224, 3)."""
    parts = text.replace("x", ",").split(",")
    if not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError("expected positive integers separated by commas, like "
                                         f"224,224,3; got {text!r}")
    return tuple(int(p) for p in parts)


def _configure_profile(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("model", help="a builder name (lenet_keras, resnet50, ...) or a path to a .keras file")
    add("--input-shape", type=_shape, metavar="H,W,C",
        help="input shape without the batch dimension, e.g. 224,224,3 (builders only; "
        "MobileNets take a square H,H,3, the MLP one number)")  # fmt: skip
    add("--batch", type=int, default=1, help="batch size (default 1)")
    add("--bits", type=float, default=32, help="bits per weight and activation (default 32)")
    add("--max-rows", type=int, metavar="N", help="show at most N layer rows")


def _builder_kwargs(name: str, builder: Callable[..., Any], shape: tuple[int, ...]) -> dict:
    """Translate --input-shape into the builder's own argument."""
    parameters = inspect.signature(builder).parameters
    if "input_shape" in parameters:
        return {"input_shape": shape}
    square = len(shape) == 3 and shape[0] == shape[1] and shape[2] == 3
    for arg, ok, like in (("resolution", square, "a square RGB input, like 160,160,3"),
                          ("input_dim", len(shape) == 1, "one input size, like 784")):  # fmt: skip
        if arg in parameters:
            if not ok:
                raise UsageError(f"{name} takes {like}; got {shape}")
            return {arg: shape[0]}
    raise UsageError(f"{name} has a fixed input shape; leave out --input-shape")


def _run_profile(args: argparse.Namespace) -> int:
    from . import models
    from .profiler import profile

    spec, shape = args.model, args.input_shape
    if Path(spec).suffix in (".keras", ".h5"):
        if not Path(spec).is_file():
            raise UsageError(f"no such model file: {spec}")
        if shape:
            raise UsageError("--input-shape is for builder names; a saved model keeps its own")
        import keras

        model = keras.saving.load_model(spec, compile=False)
    else:
        builder = models.BUILDERS.get(spec)
        kwargs = _builder_kwargs(spec, builder, shape) if builder and shape else {}
        try:
            model = models.build(spec, **kwargs)
        except ValueError as exc:  # an unknown name (with suggestions) or a bad builder argument
            if builder:
                raise UsageError(f"building {spec!r} failed: {exc}") from exc
            raise UsageError(f"{exc} Or give a path to a .keras file.") from exc
    try:
        print(profile(model, batch_size=args.batch, bits=args.bits).table(max_rows=args.max_rows))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return 0


register("profile", "per-layer params, MACs, FLOPs and bytes of a model (seed 004)",
         _configure_profile, _run_profile)  # fmt: skip

from .labs import cpu_vs_gpu as _cpu_vs_gpu  # noqa: E402  (notebook 04's benchmark; imports no TensorFlow)

register("gpu-check", help=_cpu_vs_gpu.HELP, configure=_cpu_vs_gpu.configure, run=_cpu_vs_gpu.run)

from . import classreport as _classreport  # noqa: E402  (results packs -> one HTML page)
from . import results as _results  # noqa: E402

register("results", _results.PACK_HELP, _results.configure_pack, _results.run_pack)
register("class-report", _classreport.HELP, _classreport.configure, _classreport.run)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    description = "Command-line tools of the 'Deep Learning meets Hardware' course."
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=description)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help, configure, _) in SUBCOMMANDS.items():
        configure(commands.add_parser(name, help=help, description=help))
    if (args := parser.parse_args(argv)).command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return SUBCOMMANDS[args.command][2](args)
    except UsageError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
