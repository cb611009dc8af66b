"""Every FAISS index of voxsift is chosen, trained and searched here.

The choice follows FAISS's own guidelines ("Guidelines to choose an index"): exact search
(``IndexFlatL2``) while the collection is small enough to scan; above ``FLAT_MAX`` vectors an
inverted file with ``4·√N`` lists over product-quantized codes (``IVF{n},PQ{m}``), trained on at
least 64 points per list. Approximate search only proposes neighbors: every returned distance is
recomputed exactly from the stored vectors, so thresholds (near-duplicates) and costs (OT scores)
never depend on the quantization. On a machine with faiss-gpu and a GPU the index lives there.

FAISS and torch split work over threads, and float sums can change with the split; ``math_threads``
pins the count so a score does not depend on how many processes a runner starts.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator

import faiss
import numpy as np

log = logging.getLogger(__name__)

FLAT_MAX = 100_000
"""Collections up to this size are searched exactly."""
PROBES = 16
"""Inverted lists visited per query in an IVF index."""
REFINE_FACTOR = 4
"""An approximate index proposes this many times k neighbors before the exact re-ranking."""
_EXACT_CHUNK = 256


def gpu_count() -> int:
    """GPUs FAISS can use: 0 with faiss-cpu."""
    return faiss.get_num_gpus() if hasattr(faiss, "StandardGpuResources") else 0


@contextlib.contextmanager
def math_threads(count: int) -> Iterator[None]:
    """Run the block with exactly ``count`` torch and FAISS threads, then restore both."""
    import torch

    before = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(count)
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        faiss.omp_set_num_threads(before[1])


def index_factory_string(count: int, dim: int) -> str:
    """The FAISS factory string for ``count`` vectors of ``dim`` dimensions."""
    if count <= FLAT_MAX:
        return "Flat"
    lists = 2 ** round(math.log2(4 * math.sqrt(count)))
    sub = next(m for m in (dim // 4, dim // 8, dim // 2, dim) if m and dim % m == 0 and m <= 64)
    return f"IVF{lists},PQ{sub}"


class VectorIndex:
    """Nearest neighbors by squared Euclidean distance, with exact distances in the results."""

    def __init__(self, vectors: np.ndarray, seed: int = 0):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        count, dim = self.vectors.shape
        self.kind = index_factory_string(count, dim)
        index = faiss.index_factory(dim, self.kind)
        if not index.is_trained:
            index.train(self._training_sample(index, seed))
            faiss.extract_index_ivf(index).nprobe = PROBES
        index.add(self.vectors)
        self._index = _maybe_gpu(index)

    def _training_sample(self, index: faiss.Index, seed: int) -> np.ndarray:
        wanted = 64 * faiss.extract_index_ivf(index).nlist
        if len(self.vectors) <= wanted:
            return self.vectors
        rows = np.random.default_rng(seed).choice(len(self.vectors), wanted, replace=False)
        return self.vectors[np.sort(rows)]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(squared distances, ids), each (len(queries), k), nearest first; ids -1 past the end."""
        k = min(k, len(self.vectors))
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        proposed = k if self.kind == "Flat" else min(k * REFINE_FACTOR, len(self.vectors))
        _, ids = self._index.search(queries, proposed)
        distances = exact_distances(queries, self.vectors, ids)
        order = np.lexsort((ids, distances), axis=1)[:, :k]
        return np.take_along_axis(distances, order, 1), np.take_along_axis(ids, order, 1)


def exact_distances(queries: np.ndarray, vectors: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Squared distances in float64 from each query to the vectors its row of ``ids`` names."""
    out = np.full(ids.shape, np.inf)
    for start in range(0, len(queries), _EXACT_CHUNK):
        rows = slice(start, start + _EXACT_CHUNK)
        chunk_ids = ids[rows]
        picked = vectors[np.maximum(chunk_ids, 0)].astype(np.float64)
        diff = picked - queries[rows, None, :].astype(np.float64)
        distances = np.einsum("nkd,nkd->nk", diff, diff)
        out[rows] = np.where(chunk_ids >= 0, distances, np.inf)
    return out


def _maybe_gpu(index: faiss.Index) -> faiss.Index:
    if not gpu_count():
        return index
    log.info("FAISS index on the GPU")
    return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)


def kmeans(vectors: np.ndarray, cells: int, seed: int) -> np.ndarray:
    """``cells`` centroids of ``vectors`` (fewer when there are fewer vectors), by FAISS k-means."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    cells = max(1, min(cells, len(vectors)))
    if cells == 1:
        return vectors.mean(axis=0, keepdims=True)
    model = faiss.Kmeans(
        vectors.shape[1], cells, niter=20, seed=seed, gpu=bool(gpu_count()),
        min_points_per_centroid=1, max_points_per_centroid=1024,
    )  # fmt: skip
    model.train(vectors)
    return model.centroids.copy()


def nearest_centroid(centroids: np.ndarray, vector: np.ndarray) -> int:
    """The cell of one vector, computed alone in float64 so that it never depends on a batch."""
    diff = centroids.astype(np.float64) - vector.astype(np.float64)
    return int(np.argmin(np.einsum("cd,cd->c", diff, diff)))
