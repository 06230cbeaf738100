"""How sure are we? Block bootstrap of the whole pipeline, and approval flags.

:func:`bootstrap` resamples the history by blocks of consecutive periods (keeping the
autocorrelation and carry-over inside each block), re-estimates the problem with any callable
``history -> Problem`` (by default :func:`portfolio_mkt.estimation.problem_from_history`),
re-solves it, and reports

* intervals for the expected outcome, the risk and the spend of every asset;
* per-recommendation confidence: the share of resamples in which the recommended direction of
  change (more / less / about the same as today) holds.

:class:`ApprovalRules` and :func:`approval_flags` turn an allocation (and optionally its
confidence) into the list of changes that need a human, with defaults from the planning
guides: any asset moved by more than 10%, any cut to brand-tagged assets, any recommendation
whose confidence is below 85%.
"""

from ._approval import ApprovalRules, approval_flags, approval_messages
from ._bootstrap import bootstrap
from ._resample import block_bootstrap_indices, resample_history
from ._result import Confidence, recommendation_direction

__all__ = [
    "bootstrap",
    "Confidence",
    "block_bootstrap_indices",
    "resample_history",
    "recommendation_direction",
    "ApprovalRules",
    "approval_flags",
    "approval_messages",
]
