"""The ranking methods, registered by name: ``select.method`` names one of :data:`METHODS`.

A method is an object. ``fit`` learns, once, what it needs from the whole collection (the
:class:`~voxsift.selectors.candidates.Reference`: the target set, a pool sample and the k-means
cells fitted on both), and ``score`` maps one cell's candidates to scores, lower ranking first
(ties are broken by key by the caller). Each method also declares whether it ranks against the
target set, its own settings section (``select.<name>``, derived from here), and how many pool
embeddings its fit needs. A method never sees the budget, so every method shares the budget rules.

This module is imported by the config, so it stays light: the numerics are imported by the
methods that run them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from voxsift.registry import Registry
from voxsift.selectors.options import DsirSettings, KnnSettings, NudgeSettings
from voxsift.settings import Settings

if TYPE_CHECKING:
    from voxsift.selectors.candidates import Candidate, Reference
    from voxsift.selectors.index import VectorIndex

SelectSettings = Any
"""The ``select`` section (selectors/settings.py); not imported here, since it is built from
this registry."""

POOL_SAMPLE = 5000
"""Pool embeddings a fit sees unless the method asks for another number: the k-means cells (which
group candidates for de-duplication) and DSIR's pool counts are fitted on them."""

TargetIndex = Callable[[], "VectorIndex"]
"""Builds (once per worker) the FAISS index of the target embeddings."""


class Method:
    """A ranking method; subclasses set the class attributes and override ``score``."""

    needs_target: bool = False
    """It ranks the pool against the target's embeddings: ``target`` and ``embed`` are needed."""
    section: type[Settings] | None = None
    """Its parameters: the config gets a ``select.<name>`` section of this type."""

    def pool_sample(self, settings: SelectSettings) -> int:
        """Pool embeddings the fit needs (the hash-ordered sample the select stage draws)."""
        return POOL_SAMPLE

    def fit(self, reference: Reference, settings: SelectSettings) -> Any:
        """What scoring needs from the whole collection; None when nothing."""
        return None

    def score(
        self,
        members: Sequence[Candidate],
        cell: int,
        reference: Reference,
        settings: SelectSettings,
        target_index: TargetIndex,
    ) -> Sequence[float]:
        """One score per member of ``cell`` (never empty), lower first."""
        raise NotImplementedError(type(self))

    def fit_report(self, model: Any) -> dict[str, Any]:
        """Figures of the fit for ``_diagnostics.json`` (e.g. how a solver ended)."""
        return {}


METHODS: Registry[Method] = Registry("selector method")


class Nudge(Method):
    """GOT-D: the candidate-side OT potential against the target (see nudge.py)."""

    needs_target = True
    section = NudgeSettings

    def pool_sample(self, settings: SelectSettings) -> int:
        return settings.nudge.pool_sample

    def fit(self, reference: Reference, settings: SelectSettings) -> Any:
        from voxsift.selectors import nudge

        return nudge.fit(reference.targets, reference.pool_sample, settings.nudge)

    def score(self, members, cell, reference, settings, target_index):
        from voxsift.selectors import nudge

        index = target_index() if settings.nudge.neighbors is not None else None
        return nudge.scores(reference.model, reference.stack(members), index)

    def fit_report(self, model: Any) -> dict[str, Any]:
        return {
            "sinkhorn_iterations": model.iterations,
            "sinkhorn_marginal_error": round(model.marginal_error, 6),
        }


class Random(Method):
    """A uniform draw fixed by (seed, key): the baseline every other method must beat."""

    def score(self, members, cell, reference, settings, target_index):
        from voxsift.schema import uniform_hash

        return [uniform_hash(settings.seed, m.key, "select") for m in members]


class Dsir(Method):
    """DSIR-style importance resampling over the k-means cells (see dsir.py)."""

    needs_target = True
    section = DsirSettings

    def fit(self, reference: Reference, settings: SelectSettings) -> Any:
        from voxsift.selectors import dsir

        return dsir.log_weights(
            [reference.cell(v) for v in reference.targets],
            [reference.cell(v) for v in reference.pool_sample],
            len(reference.centroids),
            settings.dsir.smoothing,
        )

    def score(self, members, cell, reference, settings, target_index):
        from voxsift.selectors import dsir

        keys = [m.key for m in members]
        return dsir.scores(reference.model, [cell] * len(keys), keys, settings.seed)


class Knn(Method):
    """Nearest neighbours: the mean squared distance to the closest targets."""

    needs_target = True
    section = KnnSettings

    def score(self, members, cell, reference, settings, target_index):
        distances, _ = target_index().search(reference.stack(members), settings.knn.neighbors)
        return distances.mean(axis=1)


class Confidence(Method):
    """The teacher's confidence alone, surest first."""

    def score(self, members, cell, reference, settings, target_index):
        return [-(m.confidence or 0.0) for m in members]


METHODS.add("nudge", Nudge())
METHODS.add("random", Random())
METHODS.add("dsir", Dsir())
METHODS.add("knn", Knn())
METHODS.add("confidence", Confidence())
