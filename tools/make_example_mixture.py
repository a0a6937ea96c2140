"""Render the bundled example mixtures (synthetic, public domain / CC0): no recorded material.

- ``example_mixture``: tones (a chord and a melody) + noise bursts ("rain") + knocks.
- ``birds_and_hum``: chirping frequency sweeps + a 100 Hz hum with harmonics + gusts of wind noise.
- ``voice_and_drums``: a sung vowel (pulse train through formant resonators) + kick, snare, hi-hat.

Run: python tools/make_example_mixture.py [NAME ...]  (default: all; writes codecsep_mm/data/NAME.flac)
Every renderer is seeded, so the files are reproducible.
"""

import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

SAMPLE_RATE = 16000
SECONDS = 6.0


def render(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
    chord = sum(0.12 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    melody_f = 440.0 * 2 ** (np.floor(t * 2) % 5 / 12)
    melody = 0.1 * np.sin(2 * np.pi * np.cumsum(melody_f) / SAMPLE_RATE) * (0.5 + 0.5 * np.sin(np.pi * t * 2) ** 2)
    rain = 0.05 * rng.standard_normal(t.size) * (t > 2.0)
    knocks = np.zeros_like(t)
    for onset in (0.5, 1.3, 3.1, 4.4, 5.2):
        n = int(onset * SAMPLE_RATE)
        knocks[n : n + 800] += 0.5 * np.exp(-np.arange(800) / 120) * np.sin(2 * np.pi * 180 * np.arange(800) / SAMPLE_RATE)
    return (chord + melody + rain + knocks).astype(np.float32)


def _one_pole_lowpass(x: np.ndarray, cutoff: float) -> np.ndarray:
    a = np.exp(-2 * np.pi * cutoff / SAMPLE_RATE)
    return lfilter([1 - a], [1, -a], x)


def render_birds_and_hum(seed: int = 1, seconds: float = 5.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    hum = sum(0.06 / k * np.sin(2 * np.pi * 100 * k * t + k) for k in (1, 2, 3, 5))
    gusts = 0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * t + 1.0) ** 2
    wind = 0.25 * _one_pole_lowpass(rng.standard_normal(n), 300.0) * gusts
    birds = np.zeros(n)
    onset = 0.2
    while onset < seconds - 0.3:
        length = int(rng.uniform(0.06, 0.14) * SAMPLE_RATE)
        tau = np.arange(length) / SAMPLE_RATE
        start, stop = rng.uniform(3500, 5500), rng.uniform(2200, 3200)
        freq = start + (stop - start) * tau / tau[-1]
        chirp = np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * np.hanning(length)
        i = int(onset * SAMPLE_RATE)
        birds[i : i + length] += 0.2 * chirp
        onset += rng.uniform(0.12, 0.6)
    return (hum + wind + birds).astype(np.float32)


def _resonator(x: np.ndarray, freq: float, bandwidth: float) -> np.ndarray:
    r = np.exp(-np.pi * bandwidth / SAMPLE_RATE)
    theta = 2 * np.pi * freq / SAMPLE_RATE
    return lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], x)


def render_voice_and_drums(seed: int = 2, seconds: float = 5.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    # A sung "ah": a glottal pulse train with vibrato, through three formant resonators.
    pitch = 196.0 * 2 ** (np.array([0, 4, 7, 4, 0])[np.minimum((t / 1.0).astype(int), 4)] / 12)
    pitch *= 1 + 0.01 * np.sin(2 * np.pi * 5.5 * t)
    phase = np.cumsum(pitch) / SAMPLE_RATE
    pulses = np.diff(np.floor(phase), prepend=0.0)
    voice = sum(g * _resonator(pulses, f, b) for f, b, g in ((730, 90, 1.0), (1090, 110, 0.5), (2440, 170, 0.25)))
    voice *= 0.4 / np.max(np.abs(voice)) * np.clip(np.minimum(t, seconds - t) / 0.1, 0, 1)
    drums = np.zeros(n)
    beat = 60 / 110  # 110 bpm
    for k, onset in enumerate(np.arange(0.0, seconds - 0.2, beat / 2)):
        i = int(onset * SAMPLE_RATE)
        if k % 4 == 0:  # kick
            m = int(0.25 * SAMPLE_RATE)
            tau = np.arange(m) / SAMPLE_RATE
            hit = np.sin(2 * np.pi * (50 + 90 * np.exp(-tau / 0.03)) * tau) * np.exp(-tau / 0.12)
            gain = 0.45
        elif k % 4 == 2:  # snare
            m = int(0.18 * SAMPLE_RATE)
            tau = np.arange(m) / SAMPLE_RATE
            hit = (rng.standard_normal(m) + np.sin(2 * np.pi * 190 * tau)) * np.exp(-tau / 0.05)
            gain = 0.2
        else:  # hi-hat
            m = int(0.05 * SAMPLE_RATE)
            hit = np.diff(rng.standard_normal(m + 1)) * np.exp(-np.arange(m) / SAMPLE_RATE / 0.01)
            gain = 0.08
        stop = min(n, i + m)
        drums[i:stop] += gain * hit[: stop - i]
    return (voice + drums).astype(np.float32)


RENDERERS = {
    "example_mixture": render,
    "birds_and_hum": render_birds_and_hum,
    "voice_and_drums": render_voice_and_drums,
}


if __name__ == "__main__":
    folder = Path(__file__).resolve().parents[1] / "codecsep_mm" / "data"
    for name in sys.argv[1:] or list(RENDERERS):
        out = folder / f"{name}.flac"
        audio = RENDERERS[name]()
        peak = float(np.max(np.abs(audio)))
        if peak > 0.99:
            raise SystemExit(f"{name}: peak {peak:.2f} would clip")
        sf.write(out, audio, SAMPLE_RATE, subtype="PCM_16")
        print(out, f"peak {peak:.2f}")
