"""Synthetic additions: generated MIDI is valid and seeded; rendering runs where fluidsynth exists."""

from __future__ import annotations

import shutil

import pytest

from codecsep_mm.data.synth import ENSEMBLES, SOUNDFONT, compose_midi, render_midi_music


def test_compose_midi_is_seeded_and_well_formed():
    for index in range(len(ENSEMBLES)):
        midi = compose_midi(seed=1, ensemble_index=index, seconds=5)
        assert midi[:4] == b"MThd" and midi[14:18] == b"MTrk"
        assert int.from_bytes(midi[18:22], "big") == len(midi) - 22
        assert midi.endswith(b"\xff\x2f\x00")
    assert compose_midi(1, 0) == compose_midi(1, 0)
    assert compose_midi(1, 0) != compose_midi(2, 0)


@pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not SOUNDFONT.is_file(),
    reason="fluidsynth and fluid-soundfont-gm are not installed",
)
def test_render_midi_music_writes_captioned_synthetic_train_records(tmp_path):
    records = render_midi_music(tmp_path, hours=60 / 3600, seed=0, log=lambda _: None)
    assert records and all(r.synthetic and r.split == "train" and r.cls == "music" for r in records)
    assert records[0].caption == ENSEMBLES[0][1]
    assert (tmp_path / records[0].path).is_file()
