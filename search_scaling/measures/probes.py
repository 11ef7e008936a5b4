"""Linear probes in closed form, scored by balanced accuracy on held-out examples.

One probe per binary label (e.g. "is the wall right of cell (r, c) open"), all fitted at once by
ridge regression on standardised features with the labels as +-1, centred per label:

    w = argmin ||X w - y||^2 + lambda ||w||^2,   lambda = RIDGE * mean ||x_i||^2,

solved in the dual, alpha = (X X^T + lambda I)^-1 y, w = X^T alpha, so the cost is set by the
number of training examples (a few hundred), not by d_model. Ridge on +-1 labels gives (up to the
shrinkage) the Fisher discriminant direction; the threshold is set midway between the two classes'
mean training scores, i.e. equal priors, because most walls are closed and the score is *balanced*
accuracy, (true-positive rate + true-negative rate) / 2, where chance is 0.5 whatever the base rate.

Selectivity control (Hewitt and Liang 2019, "Designing and Interpreting Probes with Control
Tasks"): the same probes, fitted and scored the same way, on labels dealt to the wrong examples
(the rows of the labels permuted by a fixed permutation, so each label keeps its base rate and
its correlations with the other labels, and the curve does not jitter between evaluations). No
maze recurs in a probe set, so Hewitt and Liang's per-type random labels have no analogue here;
a probe can read nothing of another example's labels, so the control measures what the
estimator gives by itself: 0.5 plus the bias of a finite test set and of picking the best layer.
Selectivity = measure - control (`analysis.progress.control`).
"""

from __future__ import annotations

import numpy as np
import torch

RIDGE = 0.1
CONTROL_SEED = 0x5E1EC7  # the control's permutation: fixed, so the control curve is steady


def probe_balanced_accuracy(x: torch.Tensor, y: np.ndarray, valid: np.ndarray, train: np.ndarray,
                            ridge: float = RIDGE) -> np.ndarray:  # fmt: skip
    """Balanced accuracy of one linear probe per label, fitted on the ``train`` rows and scored on
    the others: float[W], NaN where a label lacks a class on either side.

    x [n, d] features; y bool[n, W] labels; valid bool[n, W] which labels exist for each example
    (a wall outside a smaller maze does not); train bool[n]."""
    x = x.detach().to(torch.float64).cpu()
    train_t = torch.from_numpy(train)
    mean, std = x[train_t].mean(0), x[train_t].std(0) + 1e-6
    z = (x - mean) / std
    z_tr, z_te = z[train_t], z[~train_t]
    y_tr, v_tr = torch.from_numpy(y[train]), torch.from_numpy(valid[train]).to(torch.float64)
    alpha = _dual_ridge(z_tr @ z_tr.T, y_tr, v_tr, ridge)  # [m, W]
    fitted, scores = z_tr @ z_tr.T @ alpha, z_te @ z_tr.T @ alpha  # [m, W], [k, W]
    pos, neg = _class_mean(fitted, y_tr, v_tr), _class_mean(fitted, ~y_tr, v_tr)
    predicted = (scores - pos).abs() < (scores - neg).abs()  # the nearer class mean: equal priors
    both = ((y[train] & valid[train]).any(0)) & ((~y[train] & valid[train]).any(0))
    return np.where(both, _balanced(predicted.numpy(), y[~train], valid[~train]), np.nan)


def control_labels(y: np.ndarray, valid: np.ndarray, seed: int = CONTROL_SEED):
    """The control task's labels: (y, valid) [n, W] with their rows dealt to other examples by a
    fixed permutation (a label and whether it exists travel together)."""
    order = np.random.default_rng(seed).permutation(len(y))
    return y[order], valid[order]


def layer_probes(prefix: str, features: list[torch.Tensor], y: np.ndarray, valid: np.ndarray) -> dict:
    """One set of probes per layer on features [n, d] each, fitted on the even examples and scored
    on the odd ones: ``<prefix>_L<l>`` (mean balanced accuracy over the labels that have both
    classes), ``<prefix>_best`` (the best layer) and ``<prefix>_best_control`` (the best layer of the
    same probes on the control labels: the same selection, so the same bias)."""
    train = np.arange(len(y)) % 2 == 0
    y_control, valid_control = control_labels(y, valid)
    out, control = {}, []
    for layer, x in enumerate(features):
        score = _mean(probe_balanced_accuracy(x, y, valid, train))
        if np.isnan(score):
            continue
        out[f"{prefix}_L{layer}"] = score
        control.append(_mean(probe_balanced_accuracy(x, y_control, valid_control, train)))
    if not out:
        return out
    best_control = max((c for c in control if np.isfinite(c)), default=float("nan"))
    out[f"{prefix}_best"] = max(out.values())
    return {**out, **({f"{prefix}_best_control": float(best_control)} if np.isfinite(best_control) else {})}


def _mean(scores: np.ndarray) -> float:
    """The mean over the labels that have a score; NaN when none has."""
    known = scores[~np.isnan(scores)]
    return float(known.mean()) if len(known) else float("nan")


def _dual_ridge(gram: torch.Tensor, y: torch.Tensor, v: torch.Tensor, ridge: float) -> torch.Tensor:
    """alpha [m, W] for labels y bool[m, W] present where v [m, W] is 1: one solve per distinct
    pattern of presence (one per maze size mixed in), on the examples that have the label; the
    others get alpha = 0."""
    lam = ridge * float(gram.diagonal().mean()) + 1e-9
    signed = torch.where(y, 1.0, -1.0).to(torch.float64) * v
    target = (signed - signed.sum(0) / v.sum(0).clamp(min=1)) * v  # centred over present examples
    alpha = torch.zeros_like(target)
    patterns, which = torch.unique(v.T > 0, dim=0, return_inverse=True)  # [P, m], [W]
    for p, present in enumerate(patterns):
        rows, cols = present.nonzero()[:, 0], (which == p).nonzero()[:, 0]
        if len(rows) == 0:  # a wall no training example has: nothing to fit (scored NaN)
            continue
        system = gram[rows][:, rows] + lam * torch.eye(len(rows), dtype=torch.float64)
        alpha[rows[:, None], cols[None, :]] = torch.linalg.solve(system, target[rows][:, cols])
    return alpha


def _class_mean(scores: torch.Tensor, member: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    weight = member.to(torch.float64) * v
    return (scores * weight).sum(0) / weight.sum(0).clamp(min=1)


def _balanced(predicted: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(TPR + TNR) / 2 per label over the valid entries; NaN where a class is missing."""
    pos, neg = y & valid, ~y & valid
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = (predicted & pos).sum(0) / pos.sum(0)
        tnr = (~predicted & neg).sum(0) / neg.sum(0)
    return np.where((pos.sum(0) > 0) & (neg.sum(0) > 0), (tpr + tnr) / 2, np.nan)
