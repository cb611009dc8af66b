"""Distribution nudging (GOT-D, "Get more for less", ICLR 2024): score by the OT potential.

Fit once: entropic OT between the target embeddings and a sample of the pool gives the target
potential f. Score every candidate independently by the soft c-transform of f,

    g_j = −ε · log Σ_i a_i · exp((f_i − C_ij) / ε),   a_i = 1 / n_targets,  C_ij = ‖y_i − x_j‖²,

which is the gradient of the OT distance with respect to candidate j's mass (up to a positive
affine map). A low g_j is a candidate close to target regions that the pool under-represents; the
select stage takes the lowest scores up to the budget. With ``neighbors`` set, the sum runs over
the candidate's nearest targets only (found with FAISS); for small ε the far terms are negligible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from voxsift.selectors import sinkhorn
from voxsift.selectors.index import VectorIndex
from voxsift.selectors.options import NudgeSettings

CHUNK = 2048
"""Candidates scored per cost-matrix block: bounds memory at CHUNK × n_targets floats."""


@dataclass(frozen=True)
class NudgeModel:
    """What every worker needs to score candidates: the targets and their potential."""

    targets: np.ndarray
    potential: np.ndarray
    eps: float
    neighbors: int | None
    iterations: int
    marginal_error: float


def fit(targets: np.ndarray, pool_sample: np.ndarray, settings: NudgeSettings) -> NudgeModel:
    """Solve entropic OT between the target set and the pool sample; keep f."""
    solved = sinkhorn.solve(
        targets,
        pool_sample,
        settings.epsilon,
        settings.tolerance,
        settings.max_iterations,
        settings.momentum,
        dtype=torch.float32,
    )
    return NudgeModel(
        targets=np.ascontiguousarray(targets, dtype=np.float32),
        potential=solved.f.astype(np.float32),
        eps=settings.epsilon,
        neighbors=settings.neighbors,
        iterations=solved.iterations,
        marginal_error=solved.error,
    )


def scores(
    model: NudgeModel, candidates: np.ndarray, index: VectorIndex | None = None
) -> np.ndarray:
    """g_j for each row of ``candidates``; pass the targets' index when ``neighbors`` is set."""
    if model.neighbors is not None:
        if index is None:
            raise ValueError("nudge with neighbors needs the targets' VectorIndex")
        return _neighbor_scores(model, candidates, index)
    dev = sinkhorn.device()
    targets = torch.as_tensor(model.targets, device=dev)
    # (f_i − C_ij)/ε = (f_i − ‖y_i‖²)/ε + (2/ε)·y_i·x_j − ‖x_j‖²/ε: one matrix product per block
    offset = (torch.as_tensor(model.potential, device=dev) - (targets * targets).sum(1)) / model.eps
    offset -= float(np.log(len(targets)))
    scaled = targets.T * (2.0 / model.eps)
    out = np.empty(len(candidates))
    for start in range(0, len(candidates), CHUNK):
        block = torch.as_tensor(
            np.ascontiguousarray(candidates[start : start + CHUNK], dtype=np.float32), device=dev
        )
        logits = torch.addmm(offset[None, :], block, scaled)
        g = (block * block).sum(1) - model.eps * torch.logsumexp(logits, dim=1)
        out[start : start + len(block)] = g.cpu().numpy()
    return out


def _neighbor_scores(model: NudgeModel, candidates: np.ndarray, index: VectorIndex) -> np.ndarray:
    distances, ids = index.search(candidates, model.neighbors)
    values = distances - model.potential.astype(np.float64)[np.maximum(ids, 0)]
    values = np.where(ids >= 0, values, np.inf)
    log_a = -np.log(len(model.targets))
    peak = values.min(axis=1, keepdims=True)
    summed = np.exp(-(values - peak) / model.eps).sum(axis=1)
    return peak[:, 0] - model.eps * (log_a + np.log(summed))
