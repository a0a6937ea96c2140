"""Bundled example mixtures (short, synthesised, public domain) with the prompts they were made for.

The files are rendered by ``tools/make_example_mixture.py``; the demo offers them, the notebooks and
``make demo`` use them.

Example:
    >>> from codecsep_mm.examples import example_path
    >>> example_path().name
    'example_mixture.flac'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from codecsep_mm.errors import UnknownNameError

DATA_DIR = Path(__file__).resolve().parent / "data"
LICENCE = "CC0-1.0 (synthesised by tools/make_example_mixture.py; no recorded material)"


@dataclass(frozen=True)
class ExampleMixture:
    """One bundled mixture.

    Attributes:
        name: short name, e.g. ``"example_mixture"``.
        title: what a person sees in a list.
        description: what is in it.
        prompts: prompts that name its sources.
        licence: its licence and origin.
    """

    name: str
    title: str
    description: str
    prompts: tuple[str, ...]
    licence: str = LICENCE

    @property
    def path(self) -> Path:
        return DATA_DIR / f"{self.name}.flac"


EXAMPLES: tuple[ExampleMixture, ...] = (
    ExampleMixture(
        "example_mixture",
        "Music, knocks and rain (6 s)",
        "a three-note chord with a stepped melody, five knocks, and rain-like noise from 2 s on",
        ("music", "a knocking sound", "rain"),
    ),
    ExampleMixture(
        "birds_and_hum",
        "Birds, hum and wind (5 s)",
        "chirping bird-like frequency sweeps over a 100 Hz electrical hum and gusts of wind noise",
        ("birds chirping", "electrical hum", "wind"),
    ),
    ExampleMixture(
        "voice_and_drums",
        "Voice and drums (5 s)",
        "a synthetic sung vowel (pulse train through formant filters) over a kick, snare and hi-hat beat",
        ("a singing voice", "drums"),
    ),
)


def available_examples() -> list[str]:
    return [example.name for example in EXAMPLES]


def get_example(name: str = "example_mixture") -> ExampleMixture:
    for example in EXAMPLES:
        if example.name == name:
            return example
    raise UnknownNameError(f"unknown example '{name}'; available: {', '.join(available_examples())}")


def example_path(name: str = "example_mixture") -> Path:
    """The path of a bundled example mixture (16 kHz mono FLAC)."""
    return get_example(name).path
