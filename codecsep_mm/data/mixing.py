"""Training mixtures built on the fly: one source per class, loudness-normalised, randomly gained.

Every item is a fresh k-source mixture (k = 3 by default: speech, music, sound effects, as in dnr-v2
and the CodecSep paper). Item ``i`` is drawn from a generator seeded by ``(seed, i)``, so a batch is a
pure function of its indices: training resumes to the same result and DDP ranks never overlap.

Recipe per item (paper defaults):

1. for each class, pick a recording and a random ``crop_seconds`` crop (re-drawn when silent);
2. normalise each stem to its class loudness (-17 / -24 / -21 LUFS for speech / music / sfx), then
   apply a random gain in ``±gain_db``;
3. scale all stems together so that the mixture is at ``mixture_lufs`` (-27 LUFS), and down again
   when its peak exceeds ``peak_db`` (-0.5 dBFS). The mixture is exactly the sum of the stems;
4. pick a prompt per stem: its class word (:data:`~codecsep_mm.data.manifest.CLASS_WORDS`), label
   or caption, through a random template.

Optional augmentation (off by default; the validation set never gets it), applied to each stem
before step 2: a speed change (tempo and pitch together, as a tape played faster or slower) by a
factor in ``[1 / (1 + speed_range), 1 + speed_range]``, and a random smooth equaliser of at most
``±eq_db`` over log-frequency. Both make recordings the training set has only a few sources of
(music and sound effects) look less alike to the masker.

Audio is read with soundfile (only the crop) and resampled with soxr.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from codecsep_mm.config import from_dict
from codecsep_mm.data.manifest import CLASS_WORDS, CLASSES, ManifestError, SourceRecord
from codecsep_mm.errors import AudioInputError, ConfigError, is_number

SILENCE_RMS = 1e-4
MAX_CROP_TRIES = 8
AUDIO_QUERY_SOURCES = ("recording", "label")
QUERY_SILENCE_PEAK = 1e-4  # well above codecsep_mm.audio.SILENCE_PEAK, under which a query is refused


@dataclass(frozen=True)
class MixingConfig:
    """How training mixtures are made.

    Attributes:
        sample_rate: rate of the mixtures (the codec's).
        crop_seconds: length of each item (the paper: 2 s).
        classes: one source of each class per mixture, in this order.
        loudness_lufs: per-class target loudness before the random gain.
        mixture_lufs: target loudness of the mixture.
        gain_db: each stem gets a uniform random gain in ``[-gain_db, gain_db]``.
        peak_db: the mixture's peak is kept at or below this (dBFS).
        prompt_fields: relative odds of prompting with the class word, the label or the caption.
        templates: per field, templates with one ``{}``; one is picked at random.
        audio_query_prob: odds of prompting a stem with an audio query instead of text (so that a
            masker learns audio queries too).
        audio_query_from: where an audio query comes from: ``recording``, another crop of the
            stem's own recording; ``label``, a crop of another recording of the same label (from
            another group when there is one, as the benchmarks draw theirs), the stem's own
            recording only when its label has no other.
        speed_range: each stem is played at a random speed in ``[1 / (1 + r), 1 + r]`` (0: off).
        eq_db: each stem goes through a random smooth equaliser of at most ``±eq_db`` (0: off).
        duration_weight_seconds: per class, draw its recordings with odds proportional to their
            duration, counted up to this many seconds (``{music: 30}``: a 0.3 s drum hit is drawn
            a hundred times less often than a song). Classes not named: every recording equally.
        balance_labels: classes drawn label first: each of the class's labels equally often, then
            a recording of that label (by duration when the class is duration-weighted, else
            uniformly), as openmix draws its sound effects. Classes not named: by recording.
        absent_prob: per class, the odds that its source is left out of a mixture: its stem is
            silent and its prompt is still given, so the masker learns to return silence for a
            sound that is not there (``{music: 0.2}``: one mixture in five has no music, and the
            "music" prompt must not take the steady sound effects). At least one source is always
            kept; validation mixtures keep every source.
        remove_offset: take each stem's mean out of its crop before it is levelled, so that
            mixtures and targets carry no DC offset, as a separator with
            ``separation.remove_offset`` hears its input (off by default, so that earlier recipes
            give the same items; about 10 % of the corpus's speech and 14 % of its sound-effect
            recordings carry an offset of more than 5 % of their RMS).
    """

    sample_rate: int = 16000
    crop_seconds: float = 2.0
    classes: tuple[str, ...] = CLASSES
    loudness_lufs: dict[str, float] = field(
        default_factory=lambda: {"speech": -17.0, "music": -24.0, "sfx": -21.0}
    )
    mixture_lufs: float = -27.0
    gain_db: float = 2.0
    peak_db: float = -0.5
    prompt_fields: dict[str, float] = field(
        default_factory=lambda: {"class": 1.0, "label": 1.0, "caption": 1.0}
    )
    templates: dict[str, list[str]] = field(
        default_factory=lambda: {"class": ["{}"], "label": ["{}", "the sound of {}"], "caption": ["{}"]}
    )
    audio_query_prob: float = 0.0
    audio_query_from: str = "recording"
    speed_range: float = 0.0
    eq_db: float = 0.0
    duration_weight_seconds: dict[str, float] = field(default_factory=dict)
    balance_labels: tuple[str, ...] = ()
    absent_prob: dict[str, float] = field(default_factory=dict)
    remove_offset: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.remove_offset, bool):
            raise ConfigError(f"mixing remove_offset is {self.remove_offset!r}; give true or false")
        object.__setattr__(self, "classes", tuple(self.classes))
        unknown = [c for c in self.classes if c not in CLASSES]
        if unknown:
            raise ConfigError(f"mixing classes {unknown} are not in {list(CLASSES)}")
        missing = [c for c in self.classes if c not in self.loudness_lufs]
        if missing:
            raise ConfigError(f"mixing loudness_lufs lacks classes {missing}")
        for key in self.prompt_fields:
            if key not in ("class", "label", "caption"):
                raise ConfigError(f"prompt_fields key {key!r}; valid: ['class', 'label', 'caption']")
            if "{}" not in "".join(self.templates.get(key, ["{}"])):
                raise ConfigError(f"templates for {key!r} need a '{{}}' placeholder")
        if not 0.5 <= self.crop_seconds < math.inf:
            raise ConfigError("crop_seconds must be at least 0.5 (loudness needs 400 ms blocks)")
        levels = {"mixture_lufs": (self.mixture_lufs, -70.0, 0.0), "peak_db": (self.peak_db, -60.0, 0.0),
                  "gain_db": (self.gain_db, 0.0, 40.0),
                  **{f"loudness_lufs.{c}": (v, -70.0, 0.0) for c, v in self.loudness_lufs.items()}}
        for key, (value, low, high) in levels.items():
            if not is_number(value) or not low <= value <= high:
                raise ConfigError(f"mixing {key} is {value!r}; give {low:g} to {high:g} dB")
        if not 0.0 <= self.audio_query_prob <= 1.0:
            raise ConfigError("audio_query_prob must be between 0 and 1")
        if self.audio_query_from not in AUDIO_QUERY_SOURCES:
            raise ConfigError(f"audio_query_from {self.audio_query_from!r}; valid: {list(AUDIO_QUERY_SOURCES)}")
        if not 0.0 <= self.speed_range <= 1.0:
            raise ConfigError("speed_range must be between 0 and 1 (0.1: speeds from 0.91x to 1.1x)")
        if not 0.0 <= self.eq_db <= 24.0:
            raise ConfigError("eq_db must be between 0 and 24 dB")
        check_duration_weights(self.duration_weight_seconds)
        object.__setattr__(self, "balance_labels", tuple(self.balance_labels))
        check_balance_labels(self.balance_labels)
        check_absent_prob(self.absent_prob, self.classes)

    def without_augmentation(self) -> MixingConfig:
        """The same recipe with no speed change, no equaliser and every source present (for
        validation sets)."""
        return replace(self, speed_range=0.0, eq_db=0.0, absent_prob={})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MixingConfig:
        return from_dict(cls, data, "mixing")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["classes"] = list(self.classes)
        data["balance_labels"] = list(self.balance_labels)
        return data


@dataclass
class MixtureItem:
    """One training example. ``mixture: (1, samples)``; ``stems: (k, samples)``, summing to it.

    ``prompts`` holds one entry per stem: a text, or ``("audio", clip)`` for an audio query.
    """

    mixture: np.ndarray
    stems: np.ndarray
    prompts: list[Any]
    classes: list[str]


class SourceBank:
    """Recordings of one class that can be cropped: manifest records, or a synthetic generator."""

    def __init__(self, cls: str, records: Sequence[SourceRecord], sample_rate: int):
        if not records:
            raise ManifestError(f"no '{cls}' recordings in the manifest; every class needs some")
        self.cls = cls
        self.records = list(records)
        self.sample_rate = sample_rate
        self._frames: dict[str, tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self.records)

    def crop(self, index: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """A random ``n_samples`` crop of record ``index`` at the bank's rate (zero-padded if short)."""
        import soundfile as sf

        record = self.records[index]
        total, rate = self._info(record)
        first = int(round((record.start or 0.0) * rate))
        last = min(total, int(round(record.end * rate)) if record.end is not None else total)
        want = int(math.ceil(n_samples * rate / self.sample_rate))
        start = first + int(rng.integers(0, max(1, last - first - want + 1)))
        try:
            clip, _ = sf.read(record.path, start=start, stop=min(last, start + want), dtype="float32",
                              always_2d=True)
        except Exception as error:  # libsndfile's error types vary; all mean "cannot decode"
            raise AudioInputError(f"{record.path}: cannot read audio ({error}); rebuild the corpus") from None
        clip = clip.mean(axis=1)
        if rate != self.sample_rate:
            import soxr

            clip = soxr.resample(clip, rate, self.sample_rate).astype(np.float32)
        out = np.zeros(n_samples, dtype=np.float32)
        clip = clip[:n_samples]
        offset = int(rng.integers(0, n_samples - len(clip) + 1))
        out[offset:offset + len(clip)] = clip
        return out

    def _info(self, record: SourceRecord) -> tuple[int, int]:
        if record.path not in self._frames:
            import soundfile as sf

            try:
                info = sf.info(record.path)
            except Exception as error:
                raise AudioInputError(f"{record.path}: cannot read audio ({error}); rebuild the corpus") from None
            self._frames[record.path] = (int(info.frames), int(info.samplerate))
        return self._frames[record.path]


def playable_seconds(record: SourceRecord, default: float) -> float:
    """The playable length of a record (its ``start``/``end`` span when set; ``default`` when the
    manifest does not say)."""
    if record.duration is None:
        return default
    end = record.end if record.end is not None else record.duration
    return max(end - (record.start or 0.0), 1e-3)


def check_duration_weights(weights: dict[str, float]) -> None:
    """Raise :class:`ConfigError` unless ``weights`` ({class: cap seconds}, as
    ``MixingConfig.duration_weight_seconds``) names known classes with positive caps."""
    for cls, seconds in weights.items():
        if cls not in CLASSES:
            raise ConfigError(f"duration_weight_seconds: unknown class {cls!r}; use one of {', '.join(CLASSES)}")
        if not seconds > 0:
            raise ConfigError(f"duration_weight_seconds[{cls!r}] must be positive (seconds); got {seconds}")


def check_balance_labels(classes: Sequence[str]) -> None:
    """Raise :class:`ConfigError` unless ``classes`` (as ``MixingConfig.balance_labels``) are known."""
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise ConfigError(f"balance_labels: unknown classes {unknown}; use some of {', '.join(CLASSES)}")


def check_absent_prob(odds: dict[str, float], classes: Sequence[str]) -> None:
    """Raise :class:`ConfigError` unless ``odds`` (as ``MixingConfig.absent_prob``) names mixed
    classes with odds from 0 to 1."""
    unknown = [c for c in odds if c not in classes]
    if unknown:
        raise ConfigError(f"absent_prob: {unknown} are not mixed classes; use some of {', '.join(classes)}")
    bad = {c: p for c, p in odds.items() if not (isinstance(p, (int, float)) and 0.0 <= p <= 1.0)}
    if bad:
        raise ConfigError(f"absent_prob: odds {bad} must be between 0 and 1")


def duration_draw_odds(records: Sequence[SourceRecord], cap: float) -> np.ndarray:
    """The odds of drawing each record of a duration-weighted class
    (``data.mixing.duration_weight_seconds``): its playable length counted up to ``cap`` seconds,
    normalised to sum to one. A record whose length the manifest does not give counts as ``cap``."""
    weights = np.array([min(playable_seconds(r, cap), cap) for r in records])
    return weights / weights.sum()


def label_balanced_odds(records: Sequence[SourceRecord], odds: np.ndarray) -> np.ndarray:
    """``odds`` (one per record) rescaled so that every label of ``records`` is drawn equally
    often, its records keeping their odds relative to each other (``data.mixing.balance_labels``)."""
    labels = [r.label or "" for r in records]
    per_label: dict[str, float] = {}
    for label, odd in zip(labels, odds):
        per_label[label] = per_label.get(label, 0.0) + float(odd)
    balanced = np.array([odd / per_label[label] for label, odd in zip(labels, odds)])
    return balanced / len(per_label)


def draw_odds(records: Sequence[SourceRecord], cap: float | None, balance: bool) -> np.ndarray:
    """The odds of drawing each record of a class: uniformly, or by its length counted up to
    ``cap`` seconds (:func:`duration_draw_odds`), either of them label first when ``balance``
    (:func:`label_balanced_odds`)."""
    odds = duration_draw_odds(records, cap) if cap is not None else np.full(len(records), 1 / len(records))
    return label_balanced_odds(records, odds) if balance else odds


class MixtureDataset:
    """Fresh k-source mixtures; ``dataset[i]`` is deterministic in ``(seed, i)``.

    Args:
        banks: one :class:`SourceBank` (or synthetic bank) per class.
        config: the mixing recipe.
        seed: the dataset seed; a validation set uses another seed than training.
        length: what ``len()`` reports (items are generated for any index).
    """

    def __init__(self, banks: dict[str, Any], config: MixingConfig, seed: int = 0, length: int = 10**9):
        missing = [c for c in config.classes if c not in banks]
        if missing:
            raise ManifestError(f"no recordings of class {missing}; the manifest needs every class")
        self.banks = banks
        self.config = config
        self.seed = seed
        self.length = length
        self._meter: Any = None
        self._cumulative: dict[str, np.ndarray] = {}
        self._same_label: dict[str, list[list[int]]] = {}

    @classmethod
    def from_records(cls, records: Sequence[SourceRecord], config: MixingConfig, split: str,
                     seed: int = 0, length: int = 10**9) -> MixtureDataset:
        chosen = [r for r in records if r.split == split]
        banks = {c: SourceBank(c, [r for r in chosen if r.cls == c], config.sample_rate)
                 for c in config.classes}
        return cls(banks, config, seed, length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> MixtureItem:
        rng = np.random.default_rng([self.seed, int(index)])
        n_samples = int(round(self.config.crop_seconds * self.config.sample_rate))
        stems, prompts = [], []
        for cls in self.config.classes:
            bank = self.banks[cls]
            record_index = self._pick_record(bank, cls, rng)
            stem = self._augmented_crop(bank, record_index, n_samples, rng)
            if self.config.remove_offset:
                stem = (stem - stem.mean(dtype=np.float64)).astype(np.float32)
            gain_db = self.config.loudness_lufs[cls] - self._loudness(stem)
            gain_db += rng.uniform(-self.config.gain_db, self.config.gain_db)
            stems.append(stem * np.float32(10 ** (gain_db / 20)) if math.isfinite(gain_db) else stem)
            prompts.append(self._prompt(bank, record_index, n_samples, rng))
        stems = np.stack(stems)
        for k in self._absent(rng):
            stems[k] = 0.0
        stems *= np.float32(self._mixture_gain(stems))
        return MixtureItem(stems.sum(0, keepdims=True), stems, prompts, list(self.config.classes))

    def _absent(self, rng: np.random.Generator) -> list[int]:
        """Indices of the stems left out of this mixture (``absent_prob``; no random draw when it is
        empty, so earlier recipes give the same items), never all of them."""
        if not self.config.absent_prob:
            return []
        absent = [k for k, cls in enumerate(self.config.classes)
                  if rng.random() < self.config.absent_prob.get(cls, 0.0)]
        return absent if len(absent) < len(self.config.classes) else absent[:-1]

    def _pick_record(self, bank, cls: str, rng: np.random.Generator) -> int:
        """A record index: uniform, or by capped duration when the class is duration-weighted,
        either of them label first when the class's labels are balanced (the uniform draw is kept
        as it was, so existing recipes give the same items)."""
        cap = self.config.duration_weight_seconds.get(cls)
        balance = cls in self.config.balance_labels
        if cap is None and not balance:
            return int(rng.integers(len(bank)))
        if cls not in self._cumulative:
            self._cumulative[cls] = np.cumsum(draw_odds(bank.records, cap, balance))
        cumulative = self._cumulative[cls]
        return min(int(np.searchsorted(cumulative, rng.random(), side="right")), len(cumulative) - 1)

    def _augmented_crop(self, bank, record_index: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """A crop with the configured speed change and equaliser (no random draws when both are off,
        so items without augmentation are the same as before it existed)."""
        speed = 1.0
        if self.config.speed_range:
            top = math.log(1.0 + self.config.speed_range)
            speed = math.exp(rng.uniform(-top, top))
        stem = audible_crop(bank, record_index, max(1, int(round(n_samples * speed))), rng)
        if len(stem) != n_samples:
            stem = change_speed(stem, n_samples)
        if self.config.eq_db:
            stem = random_equaliser(stem, self.config.eq_db, self.config.sample_rate, rng)
        return stem

    def _loudness(self, wav: np.ndarray) -> float:
        if self._meter is None:
            import pyloudnorm

            self._meter = pyloudnorm.Meter(self.config.sample_rate)
        if np.sqrt(np.mean(wav**2)) <= SILENCE_RMS:
            return -math.inf
        return float(self._meter.integrated_loudness(wav.astype(np.float64)))

    def _mixture_gain(self, stems: np.ndarray) -> float:
        mixture = stems.sum(0)
        loudness = self._loudness(mixture)
        gain = 10 ** ((self.config.mixture_lufs - loudness) / 20) if math.isfinite(loudness) else 1.0
        peak = float(np.abs(mixture).max()) * gain
        limit = 10 ** (self.config.peak_db / 20)
        if peak > limit:
            gain *= limit / peak
        return gain

    def _prompt(self, bank, record_index: int, n_samples: int, rng) -> Any:
        if self.config.audio_query_prob and rng.random() < self.config.audio_query_prob:
            clip = audible_crop(bank, self._query_record(bank, record_index, rng), n_samples, rng)
            if float(np.abs(clip).max()) > QUERY_SILENCE_PEAK:  # else: a silent query; describe it
                return ("audio", clip)
        return describe(bank.records[record_index], self.config.prompt_fields, self.config.templates, rng)

    def _query_record(self, bank, record_index: int, rng: np.random.Generator) -> int:
        """The record an audio query for ``record_index`` is cropped from (``audio_query_from``)."""
        if self.config.audio_query_from == "recording":
            return record_index
        if bank.cls not in self._same_label:
            self._same_label[bank.cls] = query_candidates(bank.records)
        candidates = self._same_label[bank.cls][record_index]
        return candidates[int(rng.integers(len(candidates)))] if candidates else record_index


def query_candidates(records: Sequence[SourceRecord]) -> list[list[int]]:
    """Per record, the indices of the other recordings of its label (other paths), those of
    another group when there are any (``audio_query_from: label``); empty when it has none."""
    by_label: dict[str | None, list[int]] = {}
    for index, record in enumerate(records):
        by_label.setdefault(record.label, []).append(index)
    candidates = []
    for record in records:
        others = [i for i in by_label[record.label] if records[i].path != record.path]
        elsewhere = [i for i in others if records[i].group != record.group]
        candidates.append(elsewhere or others)
    return candidates


def audible_crop(bank, record_index: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """A crop of a recording that is not silent (up to a few tries; a silent file stays silent)."""
    for _ in range(MAX_CROP_TRIES):
        stem = bank.crop(record_index, n_samples, rng)
        if np.sqrt(np.mean(stem**2)) > SILENCE_RMS:
            return stem
    return stem


def change_speed(wav: np.ndarray, n_samples: int) -> np.ndarray:
    """``wav`` played back in ``n_samples`` samples: faster (and higher) when that is fewer than
    ``len(wav)``, slower and lower when more. Band-limited resampling (soxr)."""
    import soxr

    out = soxr.resample(wav.astype(np.float32), float(len(wav)), float(n_samples)).astype(np.float32)
    if len(out) >= n_samples:
        return out[:n_samples]
    return np.pad(out, (0, n_samples - len(out)))


EQ_COMPONENTS = 3  # cosines over log-frequency: broad tilts and one or two bumps
EQ_LOW_HZ = 40.0


def random_equaliser(wav: np.ndarray, max_db: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """``wav`` through a random smooth gain curve of at most ``±max_db`` over log-frequency.

    The curve is a mean of ``EQ_COMPONENTS`` cosines in ``log(f)`` with random weights in [-1, 1];
    it is applied in the frequency domain on a zero-padded copy (a smooth curve has a short
    impulse response, so nothing wraps around).
    """
    n = len(wav)
    padded = n + sample_rate // 10
    freqs = np.fft.rfftfreq(padded, 1.0 / sample_rate)
    position = np.log(np.clip(freqs, EQ_LOW_HZ, None) / EQ_LOW_HZ) / math.log(sample_rate / 2 / EQ_LOW_HZ)
    weights = rng.uniform(-1.0, 1.0, EQ_COMPONENTS)
    curve_db = max_db * sum(w * np.cos(math.pi * (k + 1) * position) for k, w in enumerate(weights)) / EQ_COMPONENTS
    spectrum = np.fft.rfft(wav, padded) * 10 ** (curve_db / 20)
    return np.fft.irfft(spectrum, padded)[:n].astype(np.float32)


def describe(record: SourceRecord, fields: dict[str, float], templates: dict[str, list[str]],
             rng: np.random.Generator) -> str:
    """A text prompt for a recording: its class word, label or caption (odds ``fields``), put
    through one of ``templates[field]``."""
    values = {"class": CLASS_WORDS[record.cls], "label": record.label, "caption": record.caption}
    options = [(k, w) for k, w in fields.items() if w > 0 and values.get(k)]
    if not options:
        return CLASS_WORDS[record.cls]
    weights = np.array([w for _, w in options], dtype=float)
    key = options[int(rng.choice(len(options), p=weights / weights.sum()))][0]
    chosen = templates.get(key) or ["{}"]
    return chosen[int(rng.integers(len(chosen)))].format(values[key])


def collate(items: Sequence[MixtureItem]) -> dict[str, Any]:
    """Stack items: ``mixture (b, 1, s)``, ``stems (b, k, s)``; prompts as a list of lists."""
    import torch

    return {
        "mixture": torch.from_numpy(np.stack([i.mixture for i in items])),
        "stems": torch.from_numpy(np.stack([i.stems for i in items])),
        "prompts": [i.prompts for i in items],
        "classes": [i.classes for i in items],
    }
