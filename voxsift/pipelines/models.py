"""Every model a run config names, loaded once in the launcher before any stage starts.

A teacher whose weights are not in the cache, a local folder that holds no model, an embedder
name with a typo: each would otherwise fail on the workers minutes into curate, as a library's
raw error, or after every Beam stage has run (the train model). Loading each once here stops the
run in one line naming the field. The model is dropped again at once; workers load their own.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

from voxsift.config import ConfigError, RunConfig
from voxsift.transforms.kinds import OFF


def _named(
    config: RunConfig, curating: bool, training: bool
) -> Iterator[tuple[str, str, Callable[[], Any]]]:
    """(field, value, loader) of each model the stages that are to run will load."""
    from voxsift.transforms.embed import handler_for
    from voxsift.transforms.enhance import load_enhancer
    from voxsift.transforms.label import load_teacher

    if curating and config.enhance.method != OFF:
        yield "enhance.method", config.enhance.method, lambda: load_enhancer(config.enhance)
    if curating and config.label.teacher != OFF:
        yield "label.teacher", config.label.teacher, lambda: load_teacher(config.label)
    for kind in config.embed.kinds if curating else ():
        handler = handler_for(kind, config.embed, 1.0, kind)
        yield "embed.kinds", kind, handler.load_model
    train = config.train
    if training and train is not None and not train.model.startswith("random:"):
        from voxsift.asr.models import build_model

        # a CTC base without a tokenizer gets its vocabulary from the shards: none needed here
        yield (
            "train.model",
            train.model,
            lambda: build_model(train.model, train.language, train.task, texts=tuple),
        )


def check_models(config: RunConfig, curating: bool, training: bool) -> None:
    """Load each model the stages to run name, once; ConfigError naming the field if one cannot
    be loaded."""
    for field, value, load in _named(config, curating, training):
        try:
            load()
        except Exception as error:  # whatever the library raises, the user gets one line
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            reason = first or type(error).__name__
            if f"{value!r} cannot be loaded" not in reason:  # voxsift's own loaders say so
                reason = f"{value!r} cannot be loaded: {reason}"
            raise ConfigError(f"{field}: {reason}") from None
        finally:
            gc.collect()
