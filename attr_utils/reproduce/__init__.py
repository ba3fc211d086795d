"""Reproduce the paper in one call: its datasets, its protocols, its numbers beside ours.

=====================================  ===============================================
:func:`reproduce`                      build datasets, embed once, run Table 1, Figure 3,
                                       Figures 4-5, Table 2, Figure 6
:func:`write_report`                   ``results.json`` + self-contained ``index.html``
:data:`CLAIMS`                         the paper's claims and the values it gives
:func:`verdicts_from_results`          reproduced / not reproduced / inconclusive per claim
=====================================  ===============================================

This package sits above ``analysis``, ``retrieval`` and ``figures`` (like
``apps``); the ``attr-utils reproduce`` command is a thin caller. See
``docs/reproduce.md``.
"""

from __future__ import annotations

from attr_utils.reproduce.claims import CLAIMS, DEFAULT_TOLERANCE, VERDICTS, Claim, Verdict
from attr_utils.reproduce.report import SCHEMA, results_dict, write_report
from attr_utils.reproduce.run import Reproduction, reproduce, verdicts_from_results

__all__ = [
    "CLAIMS",
    "DEFAULT_TOLERANCE",
    "SCHEMA",
    "VERDICTS",
    "Claim",
    "Reproduction",
    "Verdict",
    "reproduce",
    "results_dict",
    "verdicts_from_results",
    "write_report",
]
