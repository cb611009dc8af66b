"""The demo corpus synthesizer: determinism, manifests, shares, conditions and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from voxsift import espeak, synth

UTTERANCES, TARGETS = 30, 6
MANIFEST_KEYS = {"audio", "condition", "language", "rate_wpm", "ref_text", "snr_db", "speaker"}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """Three small corpora: two with one seed, one with another."""
    runs = {"a": 3, "b": 3, "other": 4}
    out = {}
    for name, seed in runs.items():
        folder = tmp_path_factory.mktemp(name)
        summary = synth.synthesize(
            str(folder), utterances=UTTERANCES, seed=seed, target_utterances=TARGETS
        )
        out[name] = (folder, summary)
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_same_seed_gives_byte_identical_files(corpora):
    first, second = _files(corpora["a"][0]), _files(corpora["b"][0])
    assert len(first) == UTTERANCES + TARGETS + 2
    assert first == second


def test_other_seed_differs(corpora):
    first, other = _files(corpora["a"][0]), _files(corpora["other"][0])
    assert first["pool.jsonl"] != other["pool.jsonl"]
    assert first["audio/pool-000000.flac"] != other["audio/pool-000000.flac"]


@pytest.mark.parametrize("manifest", ["pool.jsonl", "target.jsonl"])
def test_manifest_lines_point_at_decodable_audio(corpora, manifest):
    folder = corpora["a"][0]
    raw_lines = (folder / manifest).read_text().splitlines()
    for line in raw_lines:
        record = json.loads(line)
        assert line == json.dumps(record, sort_keys=True)
        assert MANIFEST_KEYS <= record.keys() <= MANIFEST_KEYS | {"text", "voice"}
        assert record["language"] == "en" and record["speaker"] == record["voice"]
        assert record.get("text", record["ref_text"]) == record["ref_text"]
        assert (record["snr_db"] is None) == (record["condition"] not in synth.NOISY_CONDITIONS)
        audio, rate = soundfile.read(folder / record["audio"], dtype="float32")
        assert rate == (8000 if record["condition"] == "telephone" else espeak.SAMPLE_RATE)
        assert synth.SECONDS[0] <= len(audio) / rate <= synth.SECONDS[1]
        assert np.abs(audio).max() > 0.01


def test_target_and_labeled_shares(corpora):
    folder, summary = corpora["a"]
    pool, target = _lines(folder / "pool.jsonl"), _lines(folder / "target.jsonl")
    assert len(pool) == UTTERANCES and len(target) == TARGETS
    assert sum(r["condition"] == "telephone" for r in pool) == round(UTTERANCES * 0.12)
    assert sum("text" in r for r in pool) == round(UTTERANCES * 0.5)
    assert {r["condition"] for r in pool} == set(synth.CONDITIONS)
    assert all(r["condition"] == "telephone" and "text" in r for r in target)
    assert summary["pool"]["conditions"]["telephone"] == round(UTTERANCES * 0.12)
    assert summary["target"]["labeled"] == TARGETS


def test_other_target_condition_and_fractions(tmp_path):
    synth.synthesize(
        str(tmp_path),
        utterances=10,
        target_utterances=2,
        target_condition="reverb",
        target_share=0.3,
        labeled_fraction=0.0,
    )
    pool = _lines(tmp_path / "pool.jsonl")
    assert sum(r["condition"] == "reverb" for r in pool) == 3
    assert not any("text" in r for r in pool)
    assert {r["condition"] for r in _lines(tmp_path / "target.jsonl")} == {"reverb"}


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return espeak.speak("Please bring the blue notebook to the kitchen tomorrow.", "en-gb-x-rp")[0]


@pytest.fixture(scope="module")
def bank() -> list[np.ndarray]:
    return synth.babble_bank(seed=0, size=6)


def _measured_snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Project out the speech (the output may be scaled down to avoid clipping)."""
    gain = float(np.dot(noisy, clean) / np.dot(clean, clean))
    noise = noisy - gain * clean
    return 10.0 * np.log10(np.sum((gain * clean) ** 2) / np.sum(noise**2))


@pytest.mark.parametrize("condition", ["white", "babble", "hum"])
@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_noise_is_mixed_at_the_requested_snr(clean, bank, condition, snr_db):
    rng = np.random.default_rng(7)
    noisy, rate = synth.make_condition(clean, espeak.SAMPLE_RATE, condition, snr_db, rng, bank)
    assert rate == espeak.SAMPLE_RATE and noisy.shape == clean.shape
    assert np.abs(noisy).max() <= 1.0
    assert _measured_snr_db(clean, noisy) == pytest.approx(snr_db, abs=0.5)


def test_telephone_is_8khz_and_band_limited(clean):
    phone, rate = synth.make_condition(clean, espeak.SAMPLE_RATE, "telephone", None, None)
    assert rate == 8000
    assert len(phone) == pytest.approx(len(clean) * 8000 / espeak.SAMPLE_RATE, abs=2)
    spectrum = np.abs(np.fft.rfft(phone)) ** 2
    freqs = np.fft.rfftfreq(len(phone), 1 / rate)
    assert spectrum[(freqs > 300) & (freqs < 3400)].sum() > 20 * spectrum[freqs < 150].sum()


def test_reverb_keeps_length_and_spreads_energy(clean):
    wet, rate = synth.make_condition(
        clean, espeak.SAMPLE_RATE, "reverb", None, np.random.default_rng(1)
    )
    assert rate == espeak.SAMPLE_RATE and wet.shape == clean.shape
    assert not np.allclose(wet, clean, atol=1e-3)


def test_speak_is_repeatable_whatever_came_before():
    first = synth.speak("The kettle is warm.", voice="en-us+f3", rate_wpm=150)
    espeak.speak("Something else in between.", voice="en+klatt")
    second = synth.speak("The kettle is warm.", voice="en-us+f3", rate_wpm=150)
    assert first[1] == second[1] == espeak.SAMPLE_RATE
    assert first[0].dtype == np.float32 and np.array_equal(first[0], second[0])


def test_sentences_vary_and_some_carry_digits():
    texts = [synth.make_text(np.random.default_rng(i)) for i in range(200)]
    assert len(set(texts)) == len(texts)
    assert 2 <= sum(any(c.isdigit() for c in t) for t in texts) <= 25


@pytest.mark.parametrize("voice", ["xx-nope", "en-us+nope"])
def test_unknown_voice_is_named(voice):
    with pytest.raises(espeak.UnknownVoiceError, match=voice.replace("+", r"\+")):
        espeak.speak("hello", voice=voice)


def test_unknown_condition_is_named(clean):
    with pytest.raises(ValueError, match="underwater"):
        synth.make_condition(clean, espeak.SAMPLE_RATE, "underwater", None, None)
    with pytest.raises(ValueError, match="needs snr_db"):
        synth.make_condition(clean, espeak.SAMPLE_RATE, "white", None, np.random.default_rng(0))
    with pytest.raises(ValueError, match="bank"):
        synth.make_condition(clean, espeak.SAMPLE_RATE, "babble", 5.0, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("target_condition", "underwater"),
        ("utterances", 0),
        ("seed", -1),
        ("labeled_fraction", 1.5),
        ("labeled_fraction", "half"),
        ("target_share", 1.0),
        ("target_utterances", 0),
    ],
)
def test_bad_arguments_are_named(tmp_path, argument, value):
    with pytest.raises(ValueError, match=argument):
        synth.synthesize(str(tmp_path), **{argument: value})
    assert not any(tmp_path.iterdir())
