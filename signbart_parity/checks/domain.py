"""The input domain, declared once: what an app may send a SignBart file.

An app runs the model on a clip with at least one valid frame (README, "The app contract"):
a clip without one has nothing to classify, and the app skips it. Inputs outside this domain
(the all-zero mask) are still run by every check and their numbers reported under their own
heading, ``OUTSIDE``; they decide the verdict only when the user asks
(``--judge-outside-contract``, for an app that does send them).
"""

from __future__ import annotations

import numpy as np

OUTSIDE = "outside the app contract"
RULE = "at least one valid frame"


def in_contract(masks: np.ndarray) -> np.ndarray:
    """Per example (N, T): whether an app may send it (at least one valid frame)."""
    masks = np.asarray(masks)
    return masks.reshape(len(masks), -1).sum(axis=1) >= 1


def judged(masks: np.ndarray, *, judge_outside: bool = False) -> np.ndarray:
    """Per example: whether it decides the verdict (every example when the user asks)."""
    if judge_outside:
        return np.ones(len(np.asarray(masks)), dtype=bool)
    return in_contract(masks)
