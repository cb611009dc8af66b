"""DSIR-style importance resampling (Xie et al., 2023) over k-means cells instead of hashed n-grams.

Each cell c of the embedding space (FAISS k-means) gets the importance weight
``w_c = p_T(c) / p_S(c)`` with ``p(c) = (n_c + s) / (n + s·K)`` (add-s smoothing, K cells), from
the target set's and the pool sample's cell counts. Sampling without replacement in proportion to
w is the Gumbel top-k trick: rank by log w_c + G_j with G_j a Gumbel draw fixed by (seed, key).
Scores are negated so that, as for every method, lower ranks first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voxsift.schema import uniform_hash

_TINY = 1e-12


def log_weights(
    target_cells: Sequence[int], pool_cells: Sequence[int], cells: int, smoothing: float
) -> np.ndarray:
    """log w_c for every cell, from the cell of each target and each pool-sample embedding."""
    target = np.bincount(np.asarray(target_cells, dtype=np.int64), minlength=cells) + smoothing
    pool = np.bincount(np.asarray(pool_cells, dtype=np.int64), minlength=cells) + smoothing
    return np.log(target / target.sum()) - np.log(pool / pool.sum())


def gumbel(seed: int, key: str) -> float:
    """A standard Gumbel draw that depends only on (seed, key)."""
    u = min(max(uniform_hash(seed, key, "dsir"), _TINY), 1.0 - _TINY)
    return -float(np.log(-np.log(u)))


def scores(weights: np.ndarray, cells: Sequence[int], keys: Sequence[str], seed: int) -> np.ndarray:
    """−(log w_cell + Gumbel) per candidate."""
    return np.array([-(weights[c] + gumbel(seed, k)) for c, k in zip(cells, keys, strict=True)])
