"""Choosing a binary classifier's decision threshold on p(positive class).

A rule is ``f1`` (the threshold of the best F1), ``precision=P`` (the lowest threshold whose
precision reaches P, so recall is as high as that allows) or ``recall=R`` (the highest
threshold whose recall still reaches R, so precision is as high as that allows). Candidate
thresholds are the distinct predicted probabilities, as in scikit-learn's
``precision_recall_curve``, which computes the precision and recall at each; the threshold
stored is halfway between the chosen score and the next lower one (the same decisions on the
validation rows, robust to rounding). The rule is
applied to the validation split only: a threshold chosen on the test rows would make the
test metrics an optimistic estimate (docs/evaluation.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlptrain.errors import UserInputError

RULES = ("f1", "precision=P", "recall=R")


@dataclass(frozen=True)
class Rule:
    """``metric`` (f1, precision or recall) and the level it must reach (None for f1)."""

    metric: str
    level: float | None = None

    def __str__(self) -> str:
        return self.metric if self.level is None else f"{self.metric}={self.level:g}"


def parse_rule(text: str) -> Rule:
    """``f1``, ``precision=0.9`` or ``recall=0.8``; anything else is a UserInputError."""
    metric, sep, level = text.strip().partition("=")
    allowed = f"allowed: {', '.join(RULES)} with P and R in (0, 1]"
    if metric == "f1" and not sep:
        return Rule("f1")
    if metric not in ("precision", "recall") or not sep:
        raise UserInputError(f"«threshold_for» {text!r}: unknown rule; {allowed}")
    try:
        value = float(level)
    except ValueError:
        raise UserInputError(
            f"«threshold_for» {text!r}: {level!r} is not a number; {allowed}"
        ) from None
    if not 0 < value <= 1:
        raise UserInputError(f"«threshold_for» {text!r}: {value:g} is out of range; {allowed}")
    return Rule(metric, value)


def check_threshold(value: float) -> float:
    """A threshold given by hand: a probability strictly between 0 and 1."""
    if not 0 < value < 1:
        raise UserInputError(
            f"«threshold» {value:g}: must be a probability strictly between 0 and 1"
        )
    return float(value)


def choose_threshold(positive: np.ndarray, p1: np.ndarray, rule: Rule) -> tuple[float, float]:
    """(threshold, the rule's metric there) on rows whose truth is ``positive`` (bool) and
    whose p(positive class) is ``p1``. Rows with p1 >= threshold are predicted positive."""
    from sklearn.metrics import precision_recall_curve

    positive = np.asarray(positive, dtype=bool)
    if positive.all() or not positive.any():
        raise UserInputError(
            "«threshold_for» needs both classes among the validation rows; they hold only "
            + ("positives" if positive.all() else "negatives")
        )
    precision, recall, cuts = precision_recall_curve(positive, np.asarray(p1, np.float64))
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    if rule.metric == "f1":
        denominator = precision + recall
        f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator),
                       where=denominator > 0)  # fmt: skip
        best = int(np.argmax(f1))
        return _between(cuts, best), float(f1[best])
    assert rule.level is not None
    reached = (precision if rule.metric == "precision" else recall) >= rule.level
    if not reached.any():
        most = float((precision if rule.metric == "precision" else recall).max())
        raise UserInputError(
            f"«threshold_for» {rule}: no threshold reaches {rule.metric} {rule.level:g} on the "
            f"validation split (the most it reaches is {most:.4f}); ask for less"
        )
    # precision=P: the lowest such threshold (most recall); recall=R: the highest (most precision)
    index = int(np.flatnonzero(reached)[0 if rule.metric == "precision" else -1])
    chosen = precision if rule.metric == "precision" else recall
    return _between(cuts, index), float(chosen[index])


def _between(cuts: np.ndarray, index: int) -> float:
    """A threshold that makes the decisions of ``cuts[index]``, halfway to the next lower
    score: a row scored exactly at the cut stays positive when a float32 export (ONNX, the
    NumPy script) rounds its probability a little differently."""
    lower = float(cuts[index - 1]) if index > 0 else 0.0
    return (float(cuts[index]) + lower) / 2
