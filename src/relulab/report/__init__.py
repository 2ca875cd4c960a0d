"""The HTML report of a results folder (:mod:`~relulab.report.html`) and its fidelity section
(:mod:`~relulab.report.fidelity`). Reads stored results only: importing it does not import torch.
"""

from relulab.report.html import build_report, format_headline, has_sweep_results, headline

__all__ = ["build_report", "format_headline", "has_sweep_results", "headline"]
