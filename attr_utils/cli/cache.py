"""``attr-utils cache info|clear``: inspect or empty the embedding cache."""

from __future__ import annotations

import argparse

from attr_utils.cli._common import add_json_option
from attr_utils.cli.output import print_json

ORDER = 90


def register(subparsers) -> None:
    p = subparsers.add_parser("cache", help="inspect or clear the embedding cache")
    sub = p.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="one line per model signature: backbone, weights, images, size")
    info.add_argument("--cache-dir", default=None, help="cache folder (default: $ATTR_UTILS_CACHE or ~/.cache/attr-utils)")
    add_json_option(info)
    info.set_defaults(func=run_info)
    clear = sub.add_parser("clear", help="delete every cached embedding")
    clear.add_argument("--cache-dir", default=None, help="cache folder (default: $ATTR_UTILS_CACHE or ~/.cache/attr-utils)")
    clear.set_defaults(func=run_clear)


def run_info(args: argparse.Namespace) -> int:
    from attr_utils.cache import EmbeddingCache

    cache = EmbeddingCache(args.cache_dir)
    table = cache.info()
    if args.json:
        print_json({"cache_dir": str(cache.root), "signatures": table})
        return 0
    print(f"cache: {cache.root}")
    if table.empty:
        print("empty")
    else:
        print(table.to_string(index=False))
    return 0


def run_clear(args: argparse.Namespace) -> int:
    from attr_utils.cache import EmbeddingCache

    cache = EmbeddingCache(args.cache_dir)
    n = cache.clear()
    print(f"removed {n} signature folder(s) from {cache.root}")
    return 0
