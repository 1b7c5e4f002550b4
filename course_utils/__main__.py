"""The course's command line: ``python -m course_utils COMMAND ...`` (or ``course-utils``).

A command is ``configure(parser)`` (adds its arguments) and ``run(args) -> int`` (does the work,
returns the exit code: 0 success, 2 usage error), joined here by :func:`register`. Here lives
``profile MODEL [--input-shape 224,224,3] [--batch 1] [--bits 32] [--max-rows N]``: the
per-layer params, MACs, FLOPs and bytes of a builder (:data:`course_utils.models.BUILDERS`) or
a ``.keras`` file (seed 004, :mod:`course_utils.profiler`); the others live in their modules.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["SUBCOMMANDS", "Subcommand", "UsageError", "main", "register"]


class UsageError(Exception):
    """A command's arguments are wrong; :func:`main` prints the message and returns 2."""


class Subcommand(NamedTuple):
    """One ``python -m course_utils`` command."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SUBCOMMANDS: dict[str, Subcommand] = {}
"""The registered commands by name."""


def register(name: str, help: str, configure: Callable, run: Callable) -> None:
    """Add command ``name`` to :data:`SUBCOMMANDS` (it must not exist yet)."""
    if name in SUBCOMMANDS:
        raise ValueError(f"register: command {name!r} already exists")
    SUBCOMMANDS[name] = Subcommand(help, configure, run)


def _shape(text: str) -> tuple[int, ...]:
    """'224,224,3' (or '224x224x3') -> (224, 224, 3)."""
    parts = text.replace("x", ",").split(",")
    if not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected positive integers separated by commas, like 224,224,3; got {text!r}"
        )
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
    if "resolution" in parameters:
        if len(shape) != 3 or shape[0] != shape[1] or shape[2] != 3:
            raise UsageError(f"{name} takes a square RGB input, like 160,160,3; got {shape}")
        return {"resolution": shape[0]}
    if "input_dim" in parameters:
        if len(shape) != 1:
            raise UsageError(f"{name} takes one input size, like 784; got {shape}")
        return {"input_dim": shape[0]}
    raise UsageError(f"{name} has a fixed input shape; leave out --input-shape")


def _load(spec: str, shape: tuple[int, ...] | None) -> Any:
    """The model named ``spec``: a builder name or a saved model file."""
    from . import models

    if Path(spec).suffix in (".keras", ".h5"):
        if not Path(spec).is_file():
            raise UsageError(f"no such model file: {spec}")
        if shape:
            raise UsageError("--input-shape is for builder names; a saved model keeps its own")
        import keras

        return keras.saving.load_model(spec, compile=False)
    builder = models.BUILDERS.get(spec)
    kwargs = _builder_kwargs(spec, builder, shape) if builder and shape else {}
    try:
        return models.build(spec, **kwargs)
    except ValueError as exc:  # an unknown name (with suggestions) or a bad builder argument
        if builder:
            raise UsageError(f"building {spec!r} failed: {exc}") from exc
        raise UsageError(f"{exc} Or give a path to a .keras file.") from exc


def _run_profile(args: argparse.Namespace) -> int:
    from .profiler import profile

    model = _load(args.model, args.input_shape)
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per registered command."""
    description = "Command-line tools of the 'Deep Learning meets Hardware' course."
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=description)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in SUBCOMMANDS.items():
        command.configure(commands.add_parser(name, help=command.help, description=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return SUBCOMMANDS[args.command].run(args)
    except UsageError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
