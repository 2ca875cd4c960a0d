"""Paper experiments as named sweeps (preset + grid + seeds), one module per paper."""

from relulab.experiments.specialization import (
    DEMO_SWEEP,
    PAPER_TWO_LAYER_SWEEP,
    SWEEPS,
    SweepPreset,
    get_sweep,
)

__all__ = ["DEMO_SWEEP", "PAPER_TWO_LAYER_SWEEP", "SWEEPS", "SweepPreset", "get_sweep"]
