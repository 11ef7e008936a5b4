"""Linear probes in closed form, scored by balanced accuracy on held-out examples.

One probe per binary label (e.g. "is the wall right of cell (r, c) open"), all fitted at once by
ridge regression on standardised features with the labels as +-1, centred per label:

    w = argmin ||X w - y||^2 + lambda ||w||^2,   lambda = RIDGE * mean ||x_i||^2,

solved in the dual, alpha = (X X^T + lambda I)^-1 y, w = X^T alpha, so the cost is set by the
number of training examples (a few hundred), not by d_model. Ridge on +-1 labels gives (up to the
shrinkage) the Fisher discriminant direction; the threshold is set midway between the two classes'
mean training scores, i.e. equal priors, because most walls are closed and the score is *balanced*
accuracy, (true-positive rate + true-negative rate) / 2, where chance is 0.5 whatever the base rate.
"""

from __future__ import annotations

import numpy as np
import torch

RIDGE = 0.1


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
