"""Render the bundled example mixture (synthetic, public domain): tones + noise bursts + clicks.

Run: python tools/make_example_mixture.py  (writes codecsep_mm/data/example_mixture.flac)
"""

from pathlib import Path

import numpy as np
import soundfile as sf

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


if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "codecsep_mm" / "data" / "example_mixture.flac"
    sf.write(out, render(), SAMPLE_RATE, subtype="PCM_16")
    print(out)
