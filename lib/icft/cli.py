"""The `icft` command line.

    icft models list                     names, and whether each is in the cache
    icft models prepare NAME [NAME...]   convert embedded models into the safetensors cache
    icft models clear NAME               remove a model's cache (rebuilt on the next load)

Errors the user can fix print one message and exit with code 2.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from .errors import IcftError


def _models_list(args: argparse.Namespace) -> int:
    from . import models

    for name in models.model_names():
        spec = models.EMBEDDED.get(name) or models.TINY[name]
        where = models.cached_model_dir(name)
        state = "cached" if (where / models.MANIFEST).is_file() else "not converted yet"
        print(f"{name:24s} {state:18s} {spec.description}")
    return 0


def _models_prepare(args: argparse.Namespace) -> int:
    from . import models

    for name in args.names:
        path = models.prepare(name, force=args.force)
        print(f"{name}: {path}")
    return 0


def _models_clear(args: argparse.Namespace) -> int:
    from . import models

    for name in args.names:
        if name not in models.model_names():
            raise IcftError(f"unknown model name {name!r}", fix=f"use one of {', '.join(models.model_names())}")
        path = models.cached_model_dir(name)
        shutil.rmtree(path, ignore_errors=True)
        print(f"removed {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="icft", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    m = sub.add_parser("models", help="list, convert or clear models").add_subparsers(dest="action", required=True)
    m.add_parser("list", help="model names and cache state").set_defaults(func=_models_list)
    p = m.add_parser("prepare", help="convert embedded models into the safetensors cache")
    p.add_argument("names", nargs="+")
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.set_defaults(func=_models_prepare)
    c = m.add_parser("clear", help="remove a model's cache")
    c.add_argument("names", nargs="+")
    c.set_defaults(func=_models_clear)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except IcftError as e:
        print(f"icft: error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
