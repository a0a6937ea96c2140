"""Synthetic speech-, music- and effect-like sources, for smoke training and tests (no files needed).

They are crude on purpose: harmonic "voices" with moving formants and syllable envelopes, note
sequences with decaying partials, and noise bursts, clicks, chirps and sirens. Each class has a few
labelled "recordings" so that prompts by class, label and caption all exist.
"""

from __future__ import annotations

import numpy as np

from codecsep_mm.data.manifest import SourceRecord

# (label, caption, kind, parameter)
SYNTHETIC_SOURCES: dict[str, list[tuple[str, str, str, float]]] = {
    "speech": [
        ("male speech", "a man speaking", "voice", 110.0),
        ("female speech", "a woman speaking", "voice", 210.0),
        ("child speech", "a child talking", "voice", 300.0),
    ],
    "music": [
        ("piano", "piano chords", "notes", 0.35),
        ("bass", "a slow bass line", "notes", 0.6),
        ("flute", "a fast flute melody", "notes", 0.15),
    ],
    "sfx": [
        ("noise bursts", "short bursts of noise", "bursts", 3.0),
        ("clicks", "a clock ticking", "clicks", 6.0),
        ("chirps", "birds chirping", "chirps", 4.0),
        ("siren", "a siren wailing", "siren", 0.5),
    ],
}


class SyntheticBank:
    """A class's synthetic recordings, cropped like a :class:`~codecsep_mm.data.mixing.SourceBank`."""

    def __init__(self, cls: str, sample_rate: int):
        self.cls = cls
        self.sample_rate = sample_rate
        self.specs = SYNTHETIC_SOURCES[cls]
        self.records = [
            SourceRecord(path=f"synthetic://{cls}/{i}", cls=cls, label=label, caption=caption,
                         licence="CC0-1.0", synthetic=True)
            for i, (label, caption, _, _) in enumerate(self.specs)
        ]

    def __len__(self) -> int:
        return len(self.records)

    def crop(self, index: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        _, _, kind, parameter = self.specs[index]
        t = np.arange(n_samples) / self.sample_rate
        wav = getattr(self, f"_{kind}")(t, parameter, rng)
        return (wav / (np.abs(wav).max() + 1e-9)).astype(np.float32)

    def _voice(self, t, f0, rng):
        pitch = f0 * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
        phase = 2 * np.pi * np.cumsum(pitch) / self.sample_rate
        formants = rng.uniform([300, 900], [800, 2200], size=(8, 2))
        segment = np.minimum((t * 4).astype(int), len(formants) - 1)
        wav = np.zeros_like(t)
        for k in range(1, int(3500 / f0)):
            freq = k * pitch
            gain = sum(np.exp(-((freq - formants[segment, j]) / 150) ** 2) for j in range(2))
            wav += gain * np.sin(k * phase) / k**0.5
        return wav * (0.2 + np.sin(np.pi * t * 4) ** 2)

    def _notes(self, t, note_seconds, rng):
        wav = np.zeros_like(t)
        step = int(note_seconds * self.sample_rate)
        for start in range(0, len(t), step):
            freq = 110 * 2 ** (rng.integers(0, 24) / 12)
            local = t[start:start + step] - t[start]
            for k in range(1, 6):
                wav[start:start + step] += np.sin(2 * np.pi * k * freq * local) * np.exp(-3 * k * local) / k
        return wav

    def _bursts(self, t, rate, rng):
        envelope = np.zeros_like(t)
        for onset in rng.uniform(0, t[-1], size=max(1, int(rate * t[-1]))):
            envelope += np.exp(-np.maximum(t - onset, 0) * 30) * (t >= onset)
        return rng.standard_normal(len(t)) * envelope

    def _clicks(self, t, rate, rng):
        wav = np.zeros_like(t)
        period = int(self.sample_rate / rate)
        for start in range(int(rng.integers(period)), len(t), period):
            click = np.hanning(80)[40:] * rng.choice([-1, 1])
            wav[start:start + 40] = click[: len(wav) - start]  # a click may run past the end
        return wav

    def _chirps(self, t, rate, rng):
        wav = np.zeros_like(t)
        for onset in rng.uniform(0, t[-1], size=max(1, int(rate * t[-1]))):
            local = t - onset
            on = (local >= 0) & (local < 0.08)
            wav[on] += np.sin(2 * np.pi * (3000 * local[on] + 2e5 * local[on] ** 2))
        return wav

    def _siren(self, t, rate, rng):
        freq = 700 + 300 * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
        return np.sin(2 * np.pi * np.cumsum(freq) / self.sample_rate)


def synthetic_banks(classes, sample_rate: int) -> dict[str, SyntheticBank]:
    return {cls: SyntheticBank(cls, sample_rate) for cls in classes}
