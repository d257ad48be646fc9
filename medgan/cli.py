"""Command-line entry: ``python -m medgan <command> ...``.

Each command lives in its own module that provides ``add_arguments(parser)`` and ``main(args) -> int``.
The registry below is explicit; modules are imported only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from medgan.logging_setup import setup_logging

COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("medgan.io.cli", "read a scan and print its de-identified summary"),
    "synthesize": ("medgan.tasks.cli", "run a task (synthesis, inpainting, ...) on a scan or the embedded data"),
    "train": ("medgan.training.cli", "train or fine-tune a GAN; writes a checkpoint + model card"),
    "evaluate": ("medgan.evaluation.cli", "run the empirical-study protocol and write a report"),
    "turing": ("medgan.turing.cli", "create and analyse visual Turing test studies"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``only``, import just that command's module (fast start for one command)."""
    parser = argparse.ArgumentParser(prog="python -m medgan", description="medgan studio command line")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            p.set_defaults(_unavailable=module_name)
            continue
        module.add_arguments(p)
        p.set_defaults(_run=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in COMMANDS else None)
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    if getattr(args, "_unavailable", None):
        print(f"command {args.command!r} is not available in this installation", file=sys.stderr)
        return 2
    return int(args._run(args) or 0)
