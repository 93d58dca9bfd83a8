"""The ``gongdan`` command: thin shells over the compiler, the runtime and the server."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import definitions, server

__all__ = ["main"]

# Each module adds its subcommands to the parser; the handler it sets returns the exit code.
_MODULES: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    definitions.register,
    server.register,
]


def _optional_modules() -> None:
    """Subcommands that need the runtime register only when it is importable."""
    import importlib

    try:
        module = importlib.import_module("engine.cli.runtime_commands")
    except ImportError:  # pragma: no cover - the runtime ships with the package
        return
    if module.register not in _MODULES:
        _MODULES.append(module.register)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gongdan",
        description="Gongdan work orders: check definitions, run the server, manage users.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _optional_modules()
    for register in _MODULES:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code: int = handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the CLI never shows a traceback to an admin
        print(f"gongdan: error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
