"""`codecsep-mm eval` on rendered mixtures: metrics, tables by class and prompt kind, reports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from codecsep_mm.cli import main
from codecsep_mm.data.manifest import read_mixtures
from codecsep_mm.data.synthetic import SyntheticBank
from codecsep_mm.errors import ConfigError
from codecsep_mm.eval.evaluate import evaluate
from codecsep_mm.eval.metrics import score, si_sdr
from codecsep_mm.separator import Separator

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def mixtures(tmp_path) -> Path:
    """Two rendered 3-source mixtures (exact sums of their stems), with an audio query for sfx."""
    rng = np.random.default_rng(0)
    lines = []
    for m in range(2):
        stems, sources = [], []
        for k, cls in enumerate(("speech", "music", "sfx")):
            bank = SyntheticBank(cls, 16000)
            stem = 0.3 * bank.crop(m, 16000, rng)
            stems.append(stem)
            path = f"stems/{m}-{k}.wav"
            (tmp_path / "stems").mkdir(exist_ok=True)
            sf.write(tmp_path / path, stem, 16000, subtype="FLOAT")
            source = {"path": path, "class": cls,
                      "label": bank.records[m].label, "caption": bank.records[m].caption,
                      "open_vocabulary": cls == "sfx" and m == 1}
            if cls == "sfx":
                query = f"queries/{m}-{k}.wav"
                (tmp_path / "queries").mkdir(exist_ok=True)
                sf.write(tmp_path / query, 0.3 * bank.crop(m, 16000, rng), 16000, subtype="FLOAT")
                source["audio_query"] = query
            sources.append(source)
        (tmp_path / "mixtures").mkdir(exist_ok=True)
        sf.write(tmp_path / f"mixtures/{m}.wav", np.sum(stems, axis=0), 16000, subtype="FLOAT")
        lines.append({"id": f"mix-{m}", "mixture": f"mixtures/{m}.wav", "sources": sources})
    manifest = tmp_path / "mixtures.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return manifest


class ToyAudioEncoder:
    """Audio queries into the tiny model's text space: a fixed projection of a coarse spectrum."""

    name, modality, space, embed_dim = "toy-audio", "audio", "hash-text-64", 64

    def encode(self, clips):
        rows = []
        for clip in clips:
            wav = sf.read(clip, dtype="float32")[0] if isinstance(clip, str | Path) else np.asarray(clip)
            spectrum = np.abs(np.fft.rfft(wav, n=126))[:64]
            rows.append(torch.from_numpy(spectrum.astype(np.float32)))
        return torch.nn.functional.normalize(torch.stack(rows), dim=-1)


def test_metrics_of_perfect_and_mixture_estimates():
    rng = np.random.default_rng(0)
    reference, other = rng.standard_normal((2, 16000))
    mixture = reference + other
    perfect = score(reference, reference, mixture, 16000)
    assert perfect["si_sdr"] > 100 and perfect["sdr"] > 50
    assert score(mixture, reference, mixture, 16000)["si_sdri"] == pytest.approx(0.0, abs=1e-9)
    assert si_sdr(2.0 * reference, reference) > 100  # scale-invariant
    assert score(mixture, reference, mixture, 16000)["si_sdr"] == pytest.approx(0.0, abs=0.1)  # equal power


def test_rows_cover_every_source_and_prompt_kind(mixtures):
    separator = Separator.from_pretrained("tiny")
    separator.add_prompt_encoder(ToyAudioEncoder())
    results = evaluate(separator, read_mixtures(mixtures))
    kinds = {(r["id"], r["source"], r["kind"]) for r in results.rows}
    assert len(kinds) == len(results.rows) == 2 * (3 * 3 + 1)  # class/label/caption x3 + one audio
    assert results.skipped == {"image": "the model has no image prompt encoder"}
    for row in results.rows:
        assert row["si_sdri"] == pytest.approx(row["si_sdr"] - row["mixture_si_sdr"])
    summary = results.summary()
    assert set(summary["by_kind"]) == {"class", "label", "caption", "audio"}
    assert summary["by_kind"]["audio"]["classes"].keys() == {"sfx"}
    assert summary["by_kind"]["class"]["open_vocabulary"]["n"] == 1
    assert len(results.upper_bound) == 6 and summary["upper_bound"].keys() == {"speech", "music", "sfx"}


def test_eval_cli_writes_markdown_json_and_plot(tmp_path, mixtures, capsys):
    out = tmp_path / "report"
    assert main(["eval", "--model", "tiny", "--manifest", str(mixtures), "--limit", "1",
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "## SI-SDRi (dB, mean)" in printed and "codec resynthesis (upper bound)" in printed
    assert "Not scored: audio (the model has no audio prompt encoder)" in printed
    data = json.loads((out / "results.json").read_text())
    assert data["summary"]["n_mixtures"] == 1 and len(data["rows"]) == 9
    assert (out / "results.md").read_text().startswith("# Evaluation of `tiny`")
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_cli_json_summary(mixtures, capsys):
    assert main(["eval", "--model", "tiny", "--manifest", str(mixtures), "--kinds", "class",
                 "--no-sdr", "--no-upper-bound", "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["by_kind"]) == {"class"}
    assert summary["upper_bound"] == {}


def test_eval_bad_inputs(tmp_path, mixtures, capsys):
    lines = mixtures.read_text().splitlines()
    broken = json.loads(lines[1])
    broken["sources"][0]["path"] = "stems/nope.wav"
    mixtures.write_text(lines[0] + "\n" + json.dumps(broken) + "\n")
    assert main(["eval", "--manifest", str(mixtures)]) == 2
    err = capsys.readouterr().err
    assert f"{mixtures}:2 source 0" in err and "does not exist" in err
    assert main(["eval", "--manifest", str(tmp_path / "none.jsonl")]) == 2
    assert "no such manifest" in capsys.readouterr().err
    audio = tmp_path / "mix.jsonl"
    audio.write_bytes(b"RIFF\x0c\xe2\x08\x00WAVEfmt " + bytes(range(128, 256)))  # audio given as the manifest
    assert main(["eval", "--manifest", str(audio), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8 text" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "report").exists()
    out_file = tmp_path / "file"
    out_file.write_text("x")
    mixtures.write_text(lines[0] + "\n")
    assert main(["eval", "--manifest", str(mixtures), "--out", str(out_file)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["eval", "--manifest", str(mixtures), "--kinds", "smell"]) == 2
    assert "unknown prompt kinds" in capsys.readouterr().err


def test_eval_separates_in_the_windows_asked_for(tmp_path, mixtures, capsys):
    out = tmp_path / "report"
    assert main(["eval", "--model", "tiny", "--manifest", str(mixtures), "--kinds", "class", "--no-sdr",
                 "--no-upper-bound", "--window-seconds", "0.6", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    info = json.loads((out / "results.json").read_text())["info"]
    # a 0.6 s window: 0.15 s of context on each side of a 0.3 s chunk, cross-faded over 0.15 s
    assert info["separation"].pop("remove_offset") is True
    assert info["separation"] == pytest.approx(
        {"chunk_seconds": 0.3, "overlap_seconds": 0.15, "context_seconds": 0.15, "mask_floor": 0.0,
         "input_lufs": None, "mask_power": 1.0})
    default = tmp_path / "default"
    assert main(["eval", "--model", "tiny", "--manifest", str(mixtures), "--kinds", "class", "--no-sdr",
                 "--no-upper-bound", "--out", str(default), "--no-progress"]) == 0
    capsys.readouterr()
    rows = {r["id"]: r["si_sdr"] for r in json.loads((out / "results.json").read_text())["rows"]}
    default_rows = {r["id"]: r["si_sdr"] for r in json.loads((default / "results.json").read_text())["rows"]}
    assert rows.keys() == default_rows.keys() and rows != default_rows  # 1 s mixtures: one window vs four
    for bad in ("0.1", "inf", "nan", "long"):
        with pytest.raises(SystemExit) as exit_info:
            main(["eval", "--manifest", str(mixtures), "--window-seconds", bad])
        assert exit_info.value.code == 2
        assert f"{bad}: give a window of at least 0.5 seconds" in capsys.readouterr().err


def test_eval_refuses_a_scoring_chunk_limit_or_kind_list_it_cannot_use(tmp_path, mixtures, capsys):
    out = tmp_path / "report"
    for option, bad, message in (("--chunk-seconds", "0", "give a scoring chunk length above 0 seconds"),
                                 ("--chunk-seconds", "nan", "give a scoring chunk length above 0 seconds"),
                                 ("--chunk-seconds", "-1", "give a scoring chunk length above 0 seconds"),
                                 ("--chunk-seconds", "ten", "give a scoring chunk length above 0 seconds"),
                                 ("--limit", "0", "give a whole number of mixtures, at least 1"),
                                 ("--limit", "2.5", "give a whole number of mixtures, at least 1")):
        with pytest.raises(SystemExit) as exit_info:
            main(["eval", "--manifest", str(mixtures), option, bad, "--out", str(out)])
        assert exit_info.value.code == 2
        assert f"{bad}: {message}" in capsys.readouterr().err
    assert main(["eval", "--manifest", str(mixtures), "--kinds", " , ", "--out", str(out)]) == 2
    assert "no prompt kinds to score" in capsys.readouterr().err
    assert not out.exists()
    separator = Separator.from_pretrained("tiny")
    for chunk in (0.0, float("nan"), float("inf"), -10.0):
        with pytest.raises(ConfigError, match="chunk_seconds is .*above 0 seconds"):
            evaluate(separator, read_mixtures(mixtures), kinds=["class"], chunk_seconds=chunk)


def test_eval_scores_code_stream_mode_on_the_decoded_stems(tmp_path, mixtures, capsys):
    from codecsep_mm.eval.evaluate import _separate_codes
    from codecsep_mm.eval.metrics import chunked, mono
    from codecsep_mm.prompts.query import Prompt

    out = tmp_path / "codes"
    assert main(["eval", "--model", "tiny", "--manifest", str(mixtures), "--kinds", "class", "--no-sdr",
                 "--mode", "codes", "--out", str(out), "--no-progress"]) == 0
    assert "code-stream mode (the upper bound: the codes' resynthesis)" in capsys.readouterr().out
    data = json.loads((out / "results.json").read_text())
    assert data["info"]["mode"] == "codes" and len(data["rows"]) == 6
    separator = Separator.from_pretrained("tiny")
    record = read_mixtures(mixtures)[0]
    mixture, _ = sf.read(record.mixture, dtype="float32", always_2d=True)
    reference, _ = sf.read(record.sources[2].path, dtype="float32", always_2d=True)
    stream = separator.encode_codes(mixture.T, 16000)
    stem = separator.decode_codes(separator.separate_codes(stream, ["sound effects"])["sound effects"])
    row = next(r for r in data["rows"] if r["id"] == record.id and r["source"] == 2)
    assert row["si_sdr"] == pytest.approx(chunked(si_sdr, mono(stem), mono(reference.T), 16000, 10.0), abs=1e-4)
    bound = next(u for u in data["upper_bound"] if u["id"] == record.id and u["source"] == 2)
    resynthesis = separator.decode_codes(separator.encode_codes(reference.T, 16000))
    assert bound["si_sdr"] == pytest.approx(chunked(si_sdr, mono(resynthesis), mono(reference.T), 16000, 10.0),
                                            abs=1e-4)
    wave = tmp_path / "wave"
    assert main(["eval", "--model", "tiny", "--manifest", str(mixtures), "--kinds", "class", "--no-sdr",
                 "--out", str(wave), "--no-progress"]) == 0
    capsys.readouterr()
    assert json.loads((wave / "results.json").read_text())["upper_bound"] != data["upper_bound"]
    # two sources with one prompt: separated once (separate_codes keys its stems by prompt), both scored
    stems = _separate_codes(separator, mixture.T, 16000, [Prompt.text("a"), Prompt.text("b"), Prompt.text("a")])
    assert stems.shape == (3, 1, mixture.shape[0]) and np.array_equal(stems[0], stems[2])
    assert not np.array_equal(stems[0], stems[1])
    with pytest.raises(SystemExit):
        main(["eval", "--manifest", str(mixtures), "--mode", "tokens"])
    assert "invalid choice: 'tokens'" in capsys.readouterr().err


def test_the_mask_floor_benchmark_at_floor_0_scores_like_eval(tmp_path, mixtures, capsys):
    script = REPO / "benchmarks" / "mask_floor.py"
    done = subprocess.run([sys.executable, str(script), "--model", "tiny", "--manifest", str(mixtures),
                           "--kinds", "class", "--floors", "0,0.5"], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    means = dict(re.findall(r"floor (\S+):.*mean\s+(\S+)", done.stdout))
    assert set(means) == {"0.000", "0.500"}
    assert main(["eval", "--model", "tiny", "--manifest", str(mixtures), "--kinds", "class", "--no-sdr",
                 "--no-upper-bound", "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert float(means["0.000"]) == pytest.approx(summary["by_kind"]["class"]["mean_over_classes"]["si_sdri"],
                                                  abs=0.006)


def test_the_input_level_benchmark_at_gain_0_without_input_loudness_scores_like_eval(mixtures, capsys):
    script = REPO / "benchmarks" / "input_level.py"
    done = subprocess.run([sys.executable, str(script), "--model", "tiny", "--manifest", str(mixtures),
                           "--kinds", "class", "--gains", "0,12", "--input-lufs", "off,-27",
                           "--offsets=0,0.3", "--remove-offset=on,off"],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    means = {key[:-1]: float(key[-1]) for key in re.findall(
        r"input_lufs (\S+)\s+remove_offset (\S+)\s+gain\s+(\S+) dB offset (\S+) class.*mean\s+(\S+)", done.stdout)}
    assert set(means) == {(lufs, remove, gain, offset) for lufs in ("off", "-27") for remove in ("on", "off")
                          for gain in ("+0.0", "+12.0") for offset in ("+0.00", "+0.30")}
    assert main(["eval", "--model", "tiny", "--manifest", str(mixtures), "--kinds", "class", "--no-sdr",
                 "--no-upper-bound", "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert means[("off", "on", "+0.0", "+0.00")] == pytest.approx(
        summary["by_kind"]["class"]["mean_over_classes"]["si_sdri"], abs=0.006)
    for lufs in ("off", "-27"):  # with the offset taken out, adding one changes nothing
        assert means[(lufs, "on", "+0.0", "+0.30")] == pytest.approx(means[(lufs, "on", "+0.0", "+0.00")], abs=0.02)


def test_the_dc_offset_benchmark_scores_like_eval_and_counts_low_references(mixtures, capsys):
    script = REPO / "benchmarks" / "dc_offset.py"
    done = subprocess.run([sys.executable, str(script), "--model", "tiny", "--manifest", str(mixtures),
                           "--kinds", "class", "--min-offset", "-1"],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "2 of 2 mixtures" in done.stdout
    assert "below 20 Hz (mean taken out): speech 0 of 2, music 0 of 2, sfx 0 of 2" in done.stdout
    means = {(band, remove): float(mean) for band, remove, mean in
             re.findall(r"^(as eval scores|above 20 Hz)\s+remove_offset (on|off)\s+class.*mean\s+(\S+)$",
                        done.stdout, re.MULTILINE)}
    assert len(means) == 4
    assert main(["eval", "--model", "tiny", "--manifest", str(mixtures), "--kinds", "class", "--no-sdr",
                 "--no-upper-bound", "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert means[("as eval scores", "on")] == pytest.approx(
        summary["by_kind"]["class"]["mean_over_classes"]["si_sdri"], abs=0.006)


def test_low_share_is_the_energy_below_a_frequency():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from dc_offset import low_share, offset_share

    t = np.arange(16000) / 16000
    wav = np.sin(2 * np.pi * 5 * t) + np.sin(2 * np.pi * 440 * t) + 0.7  # 5 Hz and 440 Hz, equal energy
    assert low_share(wav, 16000, 20.0) == pytest.approx(0.5, abs=1e-6)
    assert low_share(np.sin(2 * np.pi * 440 * t), 16000, 20.0) == pytest.approx(0.0, abs=1e-9)
    assert offset_share(np.full(100, -0.5)) == pytest.approx(1.0) and offset_share(np.zeros(10)) == 0.0


def test_the_source_offsets_benchmark_counts_offsets_and_silent_recordings(tmp_path):
    t = np.arange(16000) / 16000
    tone = 0.2 * np.sin(2 * np.pi * 440 * t)
    waves = {"clean": ("speech", tone), "offset": ("speech", tone + 0.1), "silent": ("music", 0 * tone),
             "hum": ("sfx", tone - 0.01)}  # an offset of 7 % of the RMS
    lines = []
    for name, (cls, wav) in waves.items():
        sf.write(tmp_path / f"{name}.wav", wav.astype(np.float32), 16000, subtype="FLOAT")
        lines.append(json.dumps({"path": f"{name}.wav", "class": cls, "label": name, "package": f"pkg-{name}"}))
    (tmp_path / "sources.jsonl").write_text("\n".join(lines) + "\n")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "source_offsets.py"), str(tmp_path / "sources.jsonl")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.search(r"speech\s+1 of\s+2 \(50.0%\)", done.stdout) and re.search(r"sfx\s+1 of\s+1", done.stdout)
    assert re.search(r"music\s+0 of\s+1", done.stdout) and "packages: pkg-offset 1, pkg-hum 1" in done.stdout
    assert "silent: 1\n  music " in done.stdout and done.stdout.rstrip().endswith("silent.wav")


def test_stem_shares_name_the_stems_an_estimate_is_made_of():
    from codecsep_mm.eval.metrics import stem_shares

    rng = np.random.default_rng(1)
    a, b, c = rng.standard_normal((3, 16000))
    np.testing.assert_allclose(stem_shares(2.0 * a, [a, b, c]), [1, 0, 0, 0], atol=1e-9)
    shares = stem_shares(a + 2.0 * b, [a, b, c])  # b carries four times a's energy
    np.testing.assert_allclose(shares, [0.2, 0.8, 0, 0], atol=0.01)
    noise = rng.standard_normal(16000)
    shares = stem_shares(a + noise, [a, b, c])  # what no stem explains goes to the last column
    assert shares[3] == pytest.approx(0.5, abs=0.02) and shares.sum() == pytest.approx(1.0)
    gated = a + np.where(np.arange(16000) < 8000, b, 0.0)  # b let through in the first half only
    assert stem_shares(gated, [a, b, c])[3] == pytest.approx(1 / 6, abs=0.02)  # one fit: "artefacts"
    np.testing.assert_allclose(stem_shares(gated, [a, b, c], window=4000), [2 / 3, 1 / 3, 0, 0], atol=0.02)


def test_the_leakage_benchmark_prints_shares_that_add_up_per_class(mixtures):
    script = REPO / "benchmarks" / "leakage.py"
    done = subprocess.run([sys.executable, str(script), "--model", "tiny", "--manifest", str(mixtures),
                           "--worst", "2", "--min-count", "1"], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"^class\s+(speech|music|sfx)\s+(\d+)\s+(.*)$", done.stdout, re.MULTILINE)
    assert [r[0] for r in rows] == ["speech", "music", "sfx"] and all(r[1] == "2" for r in rows)
    for cls, _, values in rows:
        target, speech, music, sfx, artefacts = map(float, values.split())
        assert speech + music + sfx + artefacts == pytest.approx(100.0, abs=0.2)
        assert 0 <= target <= {"speech": speech, "music": music, "sfx": sfx}[cls] + 0.05
    assert len(re.findall(r"n +1  own source +[\d.]+ %", done.stdout)) == 2


def test_stem_energies_are_the_fitted_energy_of_each_stem():
    from codecsep_mm.eval.metrics import stem_energies

    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 16000))
    energies = stem_energies(0.5 * a + b, [a, b])  # a quarter of a's energy, all of b's, no artefacts
    assert energies[0] / (a @ a) == pytest.approx(0.25, abs=0.01)
    assert energies[1] / (b @ b) == pytest.approx(1.0, abs=0.01)
    assert energies[2] == pytest.approx(0.0, abs=1e-6 * (b @ b))


def test_the_leakage_benchmark_follows_a_label_into_each_class_words_estimate(mixtures):
    script = REPO / "benchmarks" / "leakage.py"
    label = json.loads(mixtures.read_text().splitlines()[0])["sources"][2]["label"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(script), "--model", "tiny", "--manifest", str(mixtures),
                           "--follow", label], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    found = re.search(rf"where the (\d+) sources labelled '{re.escape(label)}' go .*: "
                      r"speech ([\d.]+), music ([\d.]+), sfx ([\d.]+)$", done.stdout, re.MULTILINE)
    assert found is not None, done.stdout
    assert int(found.group(1)) >= 1 and all(float(v) >= 0 for v in found.groups()[1:])
    refused = subprocess.run([sys.executable, str(script), "--model", "tiny", "--manifest", str(mixtures),
                              "--kinds", "label", "--follow", label], capture_output=True, text=True,
                             env=env, timeout=300)
    assert refused.returncode == 2 and "--follow needs the class-word prompts" in refused.stderr


def test_oracle_masks_stay_in_the_maskers_range_and_rebuild_each_stem():
    import importlib.util

    spec = importlib.util.spec_from_file_location("oracle_mask", REPO / "benchmarks" / "oracle_mask.py")
    oracle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(oracle)
    stems = torch.tensor([[[1.0, 2.0, -1.0]], [[1.0, -1.0, -3.0]]])  # (n=2, d=1, t=3)
    mix = stems.sum(0)  # 2, 1, -4
    masks = oracle.oracle_masks(mix, stems)
    for mask in masks.values():
        assert mask.min() >= 0 and mask.max() <= 1
    # best: the stem itself where it lies between 0 and the mixture, else the nearer of the two
    torch.testing.assert_close(masks["best"] * mix, torch.tensor([[[1.0, 1.0, -1.0]], [[1.0, 0.0, -3.0]]]))
    torch.testing.assert_close(masks["ratio"].sum(0), torch.ones(1, 3))


def test_the_oracle_mask_benchmark_separates_the_starter_codecs_latent_well(tmp_path):
    rng = np.random.default_rng(0)
    stems = [0.3 * SyntheticBank(cls, 16000).crop(0, 16000, rng) for cls in ("speech", "music", "sfx")]
    (tmp_path / "stems").mkdir()
    sources = []
    for k, (cls, stem) in enumerate(zip(("speech", "music", "sfx"), stems)):
        sf.write(tmp_path / f"stems/{k}.wav", stem, 16000, subtype="FLOAT")
        sources.append({"path": f"stems/{k}.wav", "class": cls, "label": cls, "caption": cls})
    sf.write(tmp_path / "mix.wav", np.sum(stems, axis=0), 16000, subtype="FLOAT")
    manifest = tmp_path / "mixtures.jsonl"
    manifest.write_text(json.dumps({"id": "m", "mixture": "mix.wav", "sources": sources}) + "\n")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "oracle_mask.py"), "--model", "starter-16k",
                           "--manifest", str(manifest)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    means = {(name, floor): float(value) for name, floor, value
             in re.findall(r"^(best|ratio) +mask, floor (\S+):.*mean\s+(\S+)$", done.stdout, re.MULTILINE)}
    assert set(means) == {("best", "0.000"), ("best", "0.020"), ("ratio", "0.000"), ("ratio", "0.020")}
    # the MDCT-like latent of the starter codec separates these stems far above the mixture (0 dB)
    assert means[("ratio", "0.000")] > 8.0
    assert means[("best", "0.000")] >= means[("ratio", "0.000")]
    assert means[("best", "0.020")] <= means[("best", "0.000")]


def test_compare_results_pairs_the_sources_both_runs_scored(tmp_path):
    rows_a, rows_b = [], []
    for i in range(4):
        for source, cls in enumerate(("speech", "music", "sfx")):
            base = {"id": f"m{i}", "source": source, "class": cls, "kind": "class", "open_vocabulary": i == 0}
            rows_a.append({**base, "si_sdri": float(i)})
            rows_b.append({**base, "si_sdri": float(i) + source + (0.5 if i % 2 else -0.5)})
    rows_b.append({"id": "m9", "source": 0, "class": "speech", "kind": "class", "si_sdri": 99.0})  # unpaired
    for name, rows in (("a", rows_a), ("b", rows_b)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"rows": rows}))
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "compare_results.py"),
                           str(tmp_path / "a.json"), str(tmp_path / "b.json")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # differences per class: source index +- 0.5 (std 0.577, n 4 -> se 0.289); mean over classes 1.0
    assert "class    mean over classes +1.00 +- 0.17" in done.stdout
    assert "speech +0.00 +- 0.29 (n 4)" in done.stdout and "sfx +2.00 +- 0.29 (n 4)" in done.stdout
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "compare_results.py"),
                           str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--open-vocabulary"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr  # mixture m0 only: differences source index - 0.5
    assert "class    mean over classes +0.50 +- nan" in done.stdout and "sfx +1.50 +- nan (n 1)" in done.stdout
    (tmp_path / "c.json").write_text(json.dumps({"rows": [{**rows_a[0], "kind": "audio"}]}))
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "compare_results.py"),
                           str(tmp_path / "a.json"), str(tmp_path / "c.json")], capture_output=True, text=True)
    assert done.returncode != 0 and "share no scored" in done.stderr


def test_compare_results_by_label_pairs_each_label_worst_first(tmp_path):
    rows_a, rows_b = [], []
    for i in range(4):
        for source, (cls, label) in enumerate((("speech", "English speech"), ("music", "game music"),
                                               ("sfx", "wind" if i < 2 else "coins"))):
            base = {"id": f"m{i}", "source": source, "class": cls, "label": label, "kind": "class"}
            rows_a.append({**base, "si_sdri": 10.0 - 3 * source + i})
            rows_b.append({**base, "si_sdri": 10.0 - 3 * source + i + (2.0 if label == "wind" else 0.5 * i)})
    rows_b.append({**rows_b[0], "kind": "audio"})  # another kind: not in the class table
    for name, rows in (("a", rows_a), ("b", rows_b)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"rows": rows}))
    script = str(REPO / "benchmarks" / "compare_results.py")

    def run(*extra):
        return subprocess.run([sys.executable, script, str(tmp_path / "a.json"), str(tmp_path / "b.json"), *extra],
                              capture_output=True, text=True)

    done = run("--by-label", "class")
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()[3:]]
    # worst label of A first: wind (A 4.0, 5.0 -> 4.50), then coins (6.0, 7.0 -> 6.50), game music, speech
    assert [line[0] for line in lines] == ["wind", "coins", "game", "English"]
    wind = done.stdout.splitlines()[3]
    assert "sfx" in wind and "n   2" in wind and "A   4.50" in wind and "B   6.50" in wind and "+2.00 +- 0.00" in wind
    assert "B - A +0.75 +- 0.32" in done.stdout.splitlines()[6]  # speech: 0, .5, 1, 1.5: sd 0.645, se 0.32
    done = run("--by-label", "class", "--class", "sfx")
    assert done.returncode == 0 and [line.split()[0] for line in done.stdout.splitlines()[3:]] == ["wind", "coins"]
    done = run("--by-label", "image")
    assert done.returncode != 0 and "no scored source with image prompts" in done.stderr
    done = run("--class", "sfx")
    assert done.returncode != 0 and "--class goes with --by-label" in done.stderr


def test_compare_results_refuses_a_file_that_is_not_a_run(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"rows": []}))
    (tmp_path / "b.json").write_text("not json")
    script = str(REPO / "benchmarks" / "compare_results.py")
    for other in (tmp_path / "b.json", tmp_path / "missing.json"):
        done = subprocess.run([sys.executable, script, str(tmp_path / "a.json"), str(other)],
                              capture_output=True, text=True)
        assert done.returncode != 0 and f"cannot read {other}" in done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_code_stream_levels_benchmark_says_positive_where_a_stream_overstates_its_level(mixtures):
    import dataclasses
    import importlib.util

    from codecsep_mm import Separator
    from codecsep_mm.audio import load_audio

    spec = importlib.util.spec_from_file_location("code_stream_levels", REPO / "benchmarks" / "code_stream_levels.py")
    levels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(levels)
    separator = Separator.from_pretrained("tiny")
    wav, rate = load_audio(mixtures.parent / json.loads(mixtures.read_text().splitlines()[0])["mixture"])
    honest = levels.level_errors(separator, wav, rate, ["speech", "music"])
    assert list(honest) == ["mixture", "speech", "music", "residual"]
    separate_codes = separator.separate_codes
    separator.separate_codes = lambda *a, **k: {  # every stem claims 3 dB more than it holds
        key: dataclasses.replace(stem, input_db=stem.input_db + 3.0) for key, stem in separate_codes(*a, **k).items()}
    boasting = levels.level_errors(separator, wav, rate, ["speech", "music"])
    assert boasting["mixture"] == pytest.approx(honest["mixture"], abs=1e-6)
    for key in ("speech", "music", "residual"):
        assert boasting[key] - honest[key] == pytest.approx(3.0, abs=0.01)
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "code_stream_levels.py"), "--model", "tiny",
                           "--manifest", str(mixtures), "--prompts", "speech"], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(re.findall(r"^ +(mixture|speech|residual): mean [-+]\d", done.stdout, re.MULTILINE)) == 3
