"""The same synthesized utterance, clean and in heavy babble: quality, enhancement, labeling.

Also the default curate steps end to end on the DirectRunner. All offline: espeak-ng speech,
RNNoise, pocketsphinx's packaged en-us model, silero-vad, and NeMo's cached grammars.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_transforms_beam import counter, make_segment, run_steps, step_sections

from voxsift import synth
from voxsift.audio import to_mono_16k
from voxsift.espeak import speak
from voxsift.transforms.enhance import EnhanceHandler, rnnoise_denoise
from voxsift.transforms.inference import CurateStep
from voxsift.transforms.label import LabelHandler
from voxsift.transforms.quality import SileroVad, clipping_ratio, wada_snr
from voxsift.transforms.settings import EnhanceSettings, LabelSettings
from voxsift.transforms.steps import curate_steps

TEXT = "Please call Stella and ask her to bring these things with her from the store."


@pytest.fixture(scope="module")
def speech() -> dict[str, np.ndarray]:
    """16 kHz audio of TEXT: clean, in 0 dB babble of six other voices, and in white noise."""
    clean, rate = speak(TEXT)
    bank = synth.babble_bank(seed=1, size=6)
    audio = {"clean": clean}
    for condition, snr_db in (("babble", 0.0), ("white", 10.0), ("white", 20.0)):
        noisy, _ = synth.make_condition(
            clean, rate, condition, snr_db, np.random.default_rng(0), bank
        )
        audio[f"{condition}{snr_db:g}"] = noisy
    return {name: to_mono_16k(samples, rate) for name, samples in audio.items()}


def _run(handler, segments):
    """A handler on one batch, outside Beam: what RunInference does on a worker."""
    model = handler.load_model()
    return [result.inference for result in handler.run_inference(segments, model)]


def test_wada_snr_follows_the_noise_level(speech):
    estimates = [wada_snr(speech[name]) for name in ("babble0", "white10", "white20", "clean")]
    assert estimates == sorted(estimates)
    assert estimates[0] < 10.0 < estimates[-1]


def test_rnnoise_raises_the_snr_estimate_of_babble(speech):
    noisy = speech["babble0"]
    denoised = rnnoise_denoise(noisy)
    assert denoised.shape == noisy.shape and denoised.dtype == np.float32
    assert wada_snr(denoised) > wada_snr(noisy) + 3.0


def test_gate_keeps_enhancement_only_where_it_helps(speech):
    segments = [make_segment("clean", speech["clean"]), make_segment("noisy", speech["babble0"])]
    handler = EnhanceHandler(EnhanceSettings(method="rnnoise", gate_margin_db=1.0))
    clean, noisy = _run(handler, segments)

    assert noisy.fields["enhancement"] == "rnnoise"
    assert noisy.fields["snr_after_db"] >= noisy.fields["snr_before_db"] + 1.0
    assert not np.array_equal(noisy.audio, speech["babble0"])
    assert clean.fields["enhancement"] == "none"
    assert {"snr_before_db", "snr_after_db"} <= set(clean.fields)
    assert np.array_equal(clean.audio, speech["clean"])


def test_pocketsphinx_is_more_confident_on_clean_speech(speech):
    segments = [
        make_segment("clean", speech["clean"], text=TEXT),
        make_segment("noisy", speech["babble0"], text=TEXT),
    ]
    handler = LabelHandler(LabelSettings(relabel_transcribed=True))
    model = handler.load_model()
    clean, noisy = [r.inference for r in handler.run_inference(segments, model)]
    again = next(iter(handler.run_inference(segments[:1], model))).inference

    assert again.fields == clean.fields  # what the decoder saw before does not matter
    assert clean.fields["confidence"] > noisy.fields["confidence"]
    for segment in (clean, noisy):
        fields = segment.fields
        assert fields["teacher"] == "pocketsphinx" and fields["pseudo_text"]
        assert len(fields["word_confidences"]) == len(fields["pseudo_text"].split())
        assert all(0.0 <= c <= 1.0 for c in fields["word_confidences"])
        assert fields["label_wer"] >= 0.0
        assert fields["compression_ratio"] > 0


def test_a_teacher_shared_across_processes_labels_the_same(speech, tmp_path):
    """``model_copies`` (Beam's large_model): the model lives in one shared process, reached
    through a proxy, and the labels are those of a model loaded in the worker itself."""
    segments = [make_segment("clean", speech["clean"]), make_segment("noisy", speech["babble0"])]
    labels = {}
    for copies in (None, 1):
        handler = LabelHandler(LabelSettings(model_copies=copies))
        assert handler.share_model_across_processes() is (copies is not None)
        folder = tmp_path / f"copies-{copies}"
        folder.mkdir()
        kept, rejects, _ = run_steps([("label", CurateStep(handler))], segments, folder)
        assert rejects == []
        labels[copies] = [(s.fields["pseudo_text"], s.fields["confidence"]) for s in kept]
    assert labels[1] == labels[None] and all(text for text, _ in labels[1])


def test_clipping_and_speech_ratio(speech):
    clean = speech["clean"]
    clipped = np.clip(clean * 4.0, -0.5, 0.5)
    assert clipping_ratio(clean, 0.999) < 0.001 < 0.01 < clipping_ratio(clipped, 0.999)
    vad = SileroVad(threshold=0.5)
    assert vad.speech_ratio(np.zeros(16_000, dtype=np.float32)) == 0.0
    assert 0.5 < vad.speech_ratio(clean) <= 1.0


def test_default_steps_leave_enhancement_off(speech):
    """Every denoiser raised the real teacher's WER on noisy speech (README), so it is opt-in."""
    steps = curate_steps(step_sections())
    assert [name for name, _ in steps] == ["label", "normalize", "quality"]


def test_steps_fill_every_column(speech, tmp_path):
    steps = curate_steps(step_sections(enhance=EnhanceSettings(method="rnnoise")))
    assert [name for name, _ in steps] == ["enhance", "label", "normalize", "quality"]
    segments = [
        make_segment("a-transcribed", speech["clean"], text="Call Stella at 5 p.m."),
        make_segment("b-untranscribed", speech["babble0"]),
    ]
    kept, rejects, metrics = run_steps(steps, segments, tmp_path)

    assert rejects == []
    transcribed, untranscribed = kept
    assert "pseudo_text" not in transcribed.fields  # has a transcript, not relabeled
    assert untranscribed.fields["teacher"] == "pocketsphinx"
    pseudo_text = untranscribed.fields["pseudo_text"]
    assert untranscribed.fields["norm_text"] == " ".join(pseudo_text.split())
    assert "five" in transcribed.fields["norm_text"]
    for segment in kept:
        for column in ("enhancement", "snr_est_db", "clipping_ratio", "speech_ratio"):
            assert segment.fields[column] is not None
        assert segment.fields["chars_per_second"] > 0
    for step in ("enhance", "label", "normalize", "quality"):
        namespace = f"voxsift.curate.{step}"
        handled = counter(metrics, namespace, "records") + counter(metrics, namespace, "skipped")
        assert handled == 2
        assert counter(metrics, namespace, "failures") == 0
