"""Neural denoisers run with onnxruntime: DeepFilterNet3 (48 kHz) and GTCRN (16 kHz).

Both models ship as their upstream ONNX exports in pinned packages (:mod:`voxsift.models` checks
each file's sha256 before a session opens it); neither package's Python code is imported. Each
enhancer is the signal processing around the graphs, written here from the models' published
definitions:

- **DeepFilterNet3** (``enhance.method: deepfilternet``). The export is three graphs: the
  encoder (ERB and complex features → embedding and skips), the ERB decoder (a gain per ERB
  band) and the deep-filter decoder (complex filter taps for the lowest bins). The audio is
  resampled 16 → 48 kHz (torchaudio); a 960-point STFT with hop 480 and the Vorbis window,
  scaled as libDF scales it, gives the spectrum. Features: the band powers of 32 ERB bands in dB
  and the first 96 bins as complex values, each normalized by an exponential running mean
  (alpha 0.99, libDF's initial states), both shifted two frames ahead (the model's lookahead).
  The ERB gains multiply every bin of their band; the first 96 bins are replaced by the deep
  filter, a 5-tap complex filter over frames t-2 … t+2 of the noisy spectrum. The overlap-add
  inverse is resampled back to 16 kHz.
- **GTCRN** (``enhance.method: gtcrn``). A 512-point STFT with hop 256 and the square-root Hann
  window at 16 kHz, fed to the streaming export one frame at a time with its three recurrent
  caches, and the inverse STFT of what it returns.

Sessions run on the CPU (the ``onnxruntime`` package has only the CPU provider; the GPU build is
``onnxruntime-gpu``). A segment is one call: the state of one never reaches the next.
"""

from __future__ import annotations

import configparser
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxsift import models
from voxsift.schema import SAMPLE_RATE
from voxsift.transforms.enhance import Enhancer

_MEAN_NORM_INIT = (-60.0, -90.0)
_UNIT_NORM_INIT = (0.001, 0.0001)


def _threads() -> int:
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except AttributeError:  # not Linux
        return max(1, min(4, os.cpu_count() or 1))


def _session(path: Path, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )


def _fit(audio: np.ndarray, length: int) -> np.ndarray:
    audio = audio[:length]
    return np.pad(audio, (0, length - len(audio))).astype(np.float32)


def _resample(audio: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    import torch
    from torchaudio.functional import resample

    wave = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    return resample(wave, rate, new_rate).numpy()


def erb_widths(rate: int, fft_size: int, bands: int, min_bins: int) -> list[int]:
    """FFT bins per ERB band, as libDF's ``erb_fb`` computes them (the model was trained so)."""

    def to_erb(hz: float) -> float:
        return 9.265 * math.log1p(hz / (24.7 * 9.265))

    def to_hz(erb: float) -> float:
        return 24.7 * 9.265 * (math.exp(erb / 9.265) - 1.0)

    bin_width = rate / fft_size
    step = to_erb(rate / 2) / bands
    widths, previous, over = [], 0, 0
    for i in range(1, bands + 1):
        edge = round(to_hz(i * step) / bin_width)
        width = edge - previous - over
        over = max(0, min_bins - width)
        widths.append(max(width, min_bins))
        previous = edge
    widths[-1] += 1
    widths[-1] -= max(0, sum(widths) - (fft_size // 2 + 1))
    return widths


def vorbis_window(size: int) -> np.ndarray:
    n = np.arange(size, dtype=np.float64)
    return np.sin(0.5 * np.pi * np.sin(np.pi * (n + 0.5) / size) ** 2).astype(np.float32)


def running_mean(values: np.ndarray, alpha: float, initial: np.ndarray) -> np.ndarray:
    """s_t = (1 - alpha) x_t + alpha s_(t-1) along axis 0, from s_(-1) = ``initial``."""
    from scipy.signal import lfilter

    state = lfilter([1.0 - alpha], [1.0, -alpha], values, axis=0, zi=alpha * initial[None, :])
    return state[0].astype(np.float32)


@dataclass(frozen=True)
class Dfn3Params:
    """What inference reads from the export's config.ini (``[df]``, ``[deepfilternet]``)."""

    rate: int
    fft: int
    hop: int
    nb_erb: int
    nb_df: int
    min_erb_bins: int
    norm_tau: float
    order: int
    df_lookahead: int
    conv_lookahead: int

    @classmethod
    def read(cls, path: Path) -> Dfn3Params:
        config = configparser.ConfigParser()
        config.read(path)
        df, net = config["df"], config["deepfilternet"]
        return cls(
            rate=df.getint("sr"),
            fft=df.getint("fft_size"),
            hop=df.getint("hop_size"),
            nb_erb=df.getint("nb_erb"),
            nb_df=df.getint("nb_df"),
            min_erb_bins=df.getint("min_nb_erb_freqs"),
            norm_tau=df.getfloat("norm_tau"),
            order=df.getint("df_order"),
            df_lookahead=df.getint("df_lookahead"),
            conv_lookahead=net.getint("conv_lookahead"),
        )


class DeepFilterNet3(Enhancer):
    """The DeepFilterNet3 ONNX graphs with libDF's STFT, features and deep filter."""

    def __init__(self, threads: int = 0):
        folder = models.dfn3_folder()
        p = self.params = Dfn3Params.read(folder / "config.ini")
        widths = erb_widths(p.rate, p.fft, p.nb_erb, p.min_erb_bins)
        self.band = np.repeat(np.arange(len(widths)), widths)
        self.widths = np.asarray(widths, dtype=np.float32)
        self.alpha = _norm_alpha(p.hop / p.rate, p.norm_tau)
        self.window = vorbis_window(p.fft)
        self.wnorm = 1.0 / (p.fft**2 / (2 * p.hop))
        threads = threads or _threads()
        self._enc, self._erb_dec, self._df_dec = (
            _session(folder / f"{name}.onnx", threads) for name in ("enc", "erb_dec", "df_dec")
        )

    def enhance(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One segment at a time: the export's batch dimension is fixed at 1."""
        return [self.denoise(audio) for audio in batch]

    def denoise(self, audio: np.ndarray) -> np.ndarray:
        rate, nb_df = self.params.rate, self.params.nb_df
        wave = _resample(audio, SAMPLE_RATE, rate)
        spec = self.stft(wave)
        gains, taps = self.infer(spec)
        enhanced = spec * gains[:, self.band]
        enhanced[:, :nb_df] = self.deep_filter(spec[:, :nb_df], taps)
        out = self.istft(enhanced, len(wave))
        return np.clip(_fit(_resample(out, rate, SAMPLE_RATE), len(audio)), -1.0, 1.0)

    def stft(self, wave: np.ndarray) -> np.ndarray:
        """(frames, bins) complex: frame k covers samples [(k-1)·hop, (k+1)·hop), as libDF's."""
        fft, hop = self.params.fft, self.params.hop
        padded = np.pad(wave.astype(np.float32), (hop, fft))
        frames = np.lib.stride_tricks.sliding_window_view(padded, fft)[::hop]
        return (np.fft.rfft(frames * self.window, axis=1) * self.wnorm).astype(np.complex64)

    def istft(self, spec: np.ndarray, length: int) -> np.ndarray:
        """Overlap-add inverse of :meth:`stft` (the Vorbis window is power complementary)."""
        fft, hop = self.params.fft, self.params.hop
        frames = np.fft.irfft(spec, n=fft, axis=1) * fft * self.window
        out = np.zeros((len(frames) + 1) * hop, dtype=np.float64)
        for k, frame in enumerate(frames):
            out[k * hop : k * hop + fft] += frame
        return out[hop : hop + length].astype(np.float32)

    def features(self, spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ERB features (frames, bands), complex features (frames, nb_df)), normalized."""
        power = np.abs(spec) ** 2
        bands = np.zeros((len(spec), len(self.widths)), dtype=np.float64)
        np.add.at(bands.T, self.band, power.T)
        decibels = 10.0 * np.log10(bands / self.widths + 1e-10)
        initial = np.linspace(*_MEAN_NORM_INIT, len(self.widths))
        erb = (decibels - running_mean(decibels, self.alpha, initial)) / 40.0
        low = spec[:, : self.params.nb_df]
        initial = np.linspace(*_UNIT_NORM_INIT, self.params.nb_df)
        scale = np.sqrt(running_mean(np.abs(low).astype(np.float64), self.alpha, initial))
        return erb.astype(np.float32), (low / scale).astype(np.complex64)

    def infer(self, spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ERB gains (frames, bands), deep-filter taps (frames, nb_df, order) complex)."""
        erb, cplx = self.features(spec)
        shift = self.params.conv_lookahead
        erb = np.pad(erb[shift:], ((0, shift), (0, 0)))
        cplx = np.pad(cplx[shift:], ((0, shift), (0, 0)))
        feed = {
            "feat_erb": erb[None, None],
            "feat_spec": np.stack([cplx.real, cplx.imag])[None].astype(np.float32),
        }
        e0, e1, e2, e3, emb, c0, _ = self._enc.run(None, feed)
        (gains,) = self._erb_dec.run(None, {"emb": emb, "e3": e3, "e2": e2, "e1": e1, "e0": e0})
        coefs = self._df_dec.run(None, {"emb": emb, "c0": c0})[0][0]
        coefs = coefs.reshape(len(spec), self.params.nb_df, self.params.order, 2)
        return gains[0, 0], coefs[..., 0] + 1j * coefs[..., 1]

    def deep_filter(self, low: np.ndarray, taps: np.ndarray) -> np.ndarray:
        """Σ_n taps[t, f, n] · low[t + n - (order - 1 - lookahead), f]: frames t-2 … t+2."""
        order, ahead = self.params.order, self.params.df_lookahead
        padded = np.pad(low, ((order - 1 - ahead, ahead), (0, 0)))
        out = np.zeros_like(low)
        for n in range(order):
            out += padded[n : n + len(low)] * taps[:, :, n]
        return out


def _norm_alpha(seconds_per_frame: float, tau: float) -> float:
    """exp(-dt/tau), rounded as DeepFilterNet rounds it (fewest decimals that stay below 1)."""
    exact = math.exp(-seconds_per_frame / tau)
    for digits in range(3, 12):
        rounded = round(exact, digits)
        if rounded < 1.0:
            return rounded
    return exact


class Gtcrn(Enhancer):
    """GTCRN's streaming ONNX export, frame by frame with its recurrent caches, at 16 kHz."""

    FFT, HOP = 512, 256
    CACHES = {
        "conv_cache": (2, 1, 16, 16, 33),
        "tra_cache": (2, 3, 1, 1, 16),
        "inter_cache": (2, 1, 33, 16),
    }

    def __init__(self, threads: int = 1):
        self._session = _session(models.locate(models.GTCRN_ONNX), threads)

    def enhance(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self.denoise(audio) for audio in batch]

    def denoise(self, audio: np.ndarray) -> np.ndarray:
        import torch

        window = torch.hann_window(self.FFT).sqrt()
        wave = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        spec = torch.stft(wave, self.FFT, self.HOP, self.FFT, window, return_complex=True)
        mix = torch.view_as_real(spec).numpy()[None]  # (1, bins, frames, 2)
        caches = {name: np.zeros(shape, np.float32) for name, shape in self.CACHES.items()}
        out = np.empty_like(mix)
        for t in range(mix.shape[2]):
            enh, *state = self._session.run(None, {"mix": mix[:, :, t : t + 1], **caches})
            out[:, :, t : t + 1] = enh
            caches = dict(zip(self.CACHES, state, strict=True))
        enhanced = torch.view_as_complex(torch.from_numpy(np.ascontiguousarray(out[0])))
        wave = torch.istft(enhanced, self.FFT, self.HOP, self.FFT, window, length=len(audio))
        return np.clip(_fit(wave.numpy(), len(audio)), -1.0, 1.0)
