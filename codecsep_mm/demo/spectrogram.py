"""Stacked log-magnitude spectrograms of the mixture and its stems, as an RGB image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

N_FFT = 512
HOP = 128
FLOOR_DB = -80.0


def log_spectrogram(wav: np.ndarray) -> np.ndarray:
    """``(channels, samples)`` or ``(samples,)`` -> ``(freq, frames)`` dB of the channel mean."""
    mono = np.asarray(wav, dtype=np.float32).reshape(-1, np.shape(wav)[-1]).mean(0)
    if mono.size < N_FFT:
        mono = np.pad(mono, (0, N_FFT - mono.size))
    n_frames = 1 + (mono.size - N_FFT) // HOP
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    frames = mono[index] * np.hanning(N_FFT).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=-1)).T ** 2
    return np.maximum(10 * np.log10(power + 1e-12), FLOOR_DB + 10 * np.log10(N_FFT))


def spectrogram_image(named: Sequence[tuple[str, np.ndarray]], sample_rate: int) -> np.ndarray:
    """One row per ``(title, wav)``, sharing a colour scale; ``(height, width, 3)`` uint8."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    spectra = [log_spectrogram(wav) for _, wav in named]
    top = max(float(s.max()) for s in spectra)
    figure = Figure(figsize=(9, 1.5 * len(named) + 0.4), dpi=80, layout="constrained")
    axes = figure.subplots(len(named), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (title, _), spectrum in zip(axes, named, spectra):
        seconds = spectrum.shape[1] * HOP / sample_rate
        ax.imshow(spectrum, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top,
                  extent=(0, seconds, 0, sample_rate / 2000))
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel("kHz")
    axes[-1].set_xlabel("seconds")
    canvas = FigureCanvasAgg(figure)  # no pyplot, no global backend
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
