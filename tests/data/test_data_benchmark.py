"""The openmix recipe and its renderer: fixed mixtures, exact sums, bit-identical renders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codecsep_mm.data.manifest import read_mixtures
from codecsep_mm.data.recipe import RecipeConfig, make_recipe, recipe_meta, write_recipe
from codecsep_mm.data.render import RecipeError, render_recipe


@pytest.fixture(scope="module")
def recipe(fake_corpus, tmp_path_factory) -> Path:
    config = RecipeConfig(n_mixtures=6, seed=7)
    lines = make_recipe(fake_corpus, config, log=lambda _: None)
    path = tmp_path_factory.mktemp("recipe") / "recipe.jsonl"
    return write_recipe(lines, path, meta=recipe_meta(fake_corpus, config, lines))


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_recipe_is_a_pure_function_of_corpus_and_seed(fake_corpus, recipe):
    again = make_recipe(fake_corpus, RecipeConfig(n_mixtures=6, seed=7), log=lambda _: None)
    assert again == _lines(recipe)
    other = make_recipe(fake_corpus, RecipeConfig(n_mixtures=6, seed=8), log=lambda _: None)
    assert other != _lines(recipe)


def test_recipe_mixtures_have_three_test_sources_within_5_db(recipe, fake_corpus):
    from codecsep_mm.data.corpus import read_corpus

    split_of = {r.path: r.split for r in read_corpus(fake_corpus)}
    for line in _lines(recipe):
        assert line["n_samples"] == 80000 and line["sample_rate"] == 16000
        assert [s["class"] for s in line["sources"]] == ["speech", "music", "sfx"]
        gains = [s["gain_db"] for s in line["sources"]]
        assert max(gains) - min(gains) <= 5.0  # relative gains within ±5 dB
        for source in line["sources"]:
            assert split_of[source["path"]] == "test"
            assert source["onset"] + source["length"] <= line["n_samples"]
            if source["audio_query"]:
                assert source["audio_query"]["path"] != source["path"]
    meta = json.loads(recipe.with_suffix(".meta.json").read_text())
    assert meta["n_mixtures"] == 6 and "make-recipe" in meta["command"]


def test_open_vocabulary_flag_marks_test_only_labels(fake_corpus):
    lines = make_recipe(fake_corpus, RecipeConfig(n_mixtures=40, seed=3), log=lambda _: None)
    flags = {(s["label"], s["open_vocabulary"]) for line in lines for s in line["sources"]}
    assert ("kettle", True) in flags or ("cuckoo", True) in flags
    assert all(
        not flag for label, flag in flags if label in ("horn", "game music", "Spanish speech")
    )
    assert any(s["image_query"] for line in lines for s in line["sources"])


def test_render_twice_is_bit_identical_and_mixture_is_sum_of_stems(recipe, fake_corpus, tmp_path):
    first = render_recipe(recipe, fake_corpus, tmp_path / "a", log=lambda _: None)
    second = render_recipe(recipe, fake_corpus, tmp_path / "b", log=lambda _: None)
    files_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    files_b = sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert files_a == files_b and len(files_a) > 6 * 4
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    mixtures = read_mixtures(first)  # the format `codecsep-mm eval --manifest` reads
    assert second.name == "mixtures.jsonl" and len(mixtures) == 6
    for record in mixtures:
        mixture, rate = sf.read(record.mixture, dtype="float32")
        stems = [sf.read(s.path, dtype="float32")[0] for s in record.sources]
        assert rate == 16000 and mixture.shape == (80000,)
        assert np.array_equal(mixture, stems[0] + stems[1] + stems[2])
        assert np.abs(mixture).max() <= 10 ** (-1 / 20) + 1e-6
        for source in record.sources:
            assert source.label and source.caption
            if source.audio_query:
                assert Path(source.audio_query).is_file()


def test_cli_make_recipe_and_render(fake_corpus, tmp_path):
    from codecsep_mm.cli import main

    recipe = tmp_path / "r.jsonl"
    assert (
        main(
            ["data", "make-recipe", "--corpus", str(fake_corpus), "--out", str(recipe), "--n", "2"]
        )
        == 0
    )
    assert (
        main(
            [
                "data",
                "render-benchmark",
                str(recipe),
                "--corpus",
                str(fake_corpus),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    assert len(read_mixtures(tmp_path / "o/mixtures.jsonl")) == 2


def test_missing_corpus_file_names_its_package(recipe, fake_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(fake_corpus, corpus)
    source = _lines(recipe)[0]["sources"][1]
    (corpus / source["path"]).unlink()
    with pytest.raises(RecipeError, match=source["package"]):
        render_recipe(recipe, corpus, tmp_path / "out", log=lambda _: None)
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_changed_corpus_file_fails_the_checksum(recipe, fake_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(fake_corpus, corpus)
    source = _lines(recipe)[0]["sources"][0]
    data, rate = sf.read(corpus / source["path"])
    sf.write(corpus / source["path"], data * 0.5, rate, format="FLAC", subtype="PCM_16")
    with pytest.raises(RecipeError, match="sha256"):
        render_recipe(recipe, corpus, tmp_path / "out", log=lambda _: None)


def test_tampered_gain_fails_the_pcm_check(recipe, fake_corpus, tmp_path):
    lines = _lines(recipe)
    lines[0]["sources"][2]["gain"] *= 1.01
    with pytest.raises(RecipeError, match="pcm_sha256"):
        render_recipe(lines, fake_corpus, tmp_path / "out", log=lambda _: None)


def test_a_validation_recipe_draws_from_the_valid_split_only(fake_corpus, tmp_path):
    from codecsep_mm.cli import main
    from codecsep_mm.data.corpus import read_corpus

    corpus = tmp_path / "corpus"  # the small fake corpus has no valid speech: its test split becomes valid
    shutil.copytree(fake_corpus, corpus)
    manifest = corpus / "sources.jsonl"
    manifest.write_text(manifest.read_text().replace('"split": "test"', '"split": "valid"'))
    split_of = {r.path: r.split for r in read_corpus(corpus)}
    recipe = tmp_path / "valid.jsonl"
    assert main(["data", "make-recipe", "--corpus", str(corpus), "--out", str(recipe), "--n", "4",
                 "--split", "valid"]) == 0
    lines = _lines(recipe)
    assert [line["id"] for line in lines] == [f"validmix-{i:04d}" for i in range(1, 5)]
    for line in lines:
        for source in line["sources"]:
            assert split_of[source["path"]] == "valid" and not source["open_vocabulary"]
    meta = json.loads(recipe.with_suffix(".meta.json").read_text())
    assert meta["recipe"]["split"] == "valid" and "--split valid --prefix validmix" in meta["command"]
    with pytest.raises(Exception, match="recipe split 'train'"):
        RecipeConfig(split="train")


def test_a_recipe_can_draw_music_tracks_only(fake_corpus, tmp_path):
    from codecsep_mm.cli import main
    from codecsep_mm.data.corpus import read_corpus
    from codecsep_mm.data.packages import CorpusError

    corpus = tmp_path / "corpus"  # every music recording in test: tracks of 8 to 12 s, a 3 s sample
    shutil.copytree(fake_corpus, corpus)
    manifest = corpus / "sources.jsonl"
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    for line in lines:
        line["split"] = "test" if line["class"] == "music" else line["split"]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    durations = {r.path: r.duration for r in read_corpus(corpus)}
    music = sorted(r.duration for r in read_corpus(corpus) if r.cls == "music")
    assert music[0] < 9.0 <= music[-1]
    recipe = tmp_path / "tracks.jsonl"
    assert main(["data", "make-recipe", "--corpus", str(corpus), "--out", str(recipe), "--n", "6",
                 "--music-min-seconds", "9"]) == 0
    for line in _lines(recipe):
        assert durations[line["sources"][1]["path"]] >= 9.0
    meta = json.loads(recipe.with_suffix(".meta.json").read_text())
    assert meta["recipe"]["music_min_seconds"] == 9.0 and "--music-min-seconds 9" in meta["command"]
    with pytest.raises(CorpusError, match="no music recordings of at least 1000 s"):
        make_recipe(corpus, RecipeConfig(n_mixtures=2, music_min_seconds=1000), log=lambda _: None)


def test_cli_data_refuses_sizes_it_cannot_build_before_it_starts(fake_corpus, tmp_path, capsys):
    from codecsep_mm.cli import main

    out = tmp_path / "corpus"
    recipe = tmp_path / "recipe.jsonl"
    cases = [
        (["build", "--out", str(out), "--synth-music", "-1"], "synth_music_hours is -1.0; give 0 (none) to 1000 hours"),
        (["build", "--out", str(out), "--tts", "nan"], "tts_hours is nan"),
        (["build", "--out", str(out), "--synth-sfx", "1e9"], "synth_sfx_hours is 1000000000.0"),
        (["build", "--out", str(out), "--limit", "0"], "limit_per_package is 0; give at least 1 file"),
        (["make-recipe", "--corpus", str(fake_corpus), "--out", str(recipe), "--n", "0"],
         "a recipe of 0 mixtures; give at least 1"),
        (["make-recipe", "--corpus", str(fake_corpus), "--out", str(recipe), "--seconds", "nan"],
         "mixtures of nan s; give 1 to 600 seconds"),
        (["make-recipe", "--corpus", str(fake_corpus), "--out", str(recipe), "--music-min-seconds", "nan"],
         "music_min_seconds must be 0"),
    ]
    for argv, message in cases:
        assert main(["data", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert not out.exists() and not recipe.exists()
