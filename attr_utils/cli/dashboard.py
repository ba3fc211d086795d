"""``attr-utils dashboard``: serve the notebooks as a Voilà dashboard (same as ``python -m attr_utils.dashboard``)."""

from __future__ import annotations

import argparse

ORDER = 85


def register(subparsers) -> None:
    from attr_utils import dashboard  # standard library only: --help stays fast

    p = subparsers.add_parser(
        "dashboard",
        help="serve the notebooks as a Voilà dashboard (needs the [app] extra)",
        description="Serve the attr-utils notebooks as a Voilà dashboard (code hidden, apps live).",
    )
    dashboard.add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from attr_utils import dashboard

    return dashboard.run(args)
