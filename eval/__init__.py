"""Judging models: OOD suites, metrics, peers (CHGNet, SevenNet-0), cost, and reports.

>>> from eval import ood_report
>>> ood_report(["universal-v1", "chgnet", "sevennet-0"], out="report/")
"""

from __future__ import annotations

from typing import Any

__all__ = ["ood_report"]


def ood_report(*args: Any, **kwargs: Any) -> dict:
    """Run the OOD suites and write the report; see :func:`unihub.eval.report.ood_report`."""
    # imported on call: ``import unihub.eval`` must stay free of torch and plotting imports
    from unihub.eval.report import ood_report as _run

    return _run(*args, **kwargs)
