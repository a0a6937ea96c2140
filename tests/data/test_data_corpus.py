"""The corpus builder on a fake package tree: labels, licences, conversion, splits, reserved packages."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from codecsep_mm.data.corpus import BuildConfig, build_corpus, read_corpus, sha256_of
from codecsep_mm.data.labels import default_group, load_label_table
from codecsep_mm.data.manifest import read_sources
from codecsep_mm.data.packages import (
    RESERVED_PACKAGES,
    PackageFile,
    ReservedPackageError,
    TreePackages,
    licence_of,
    packages_for,
    parse_copyright,
)
from codecsep_mm.data.split import labels_only_in_test


def test_label_table_has_enough_sfx_labels_and_held_out_ones():
    table = load_label_table()
    rows = defaultdict(set)
    for rule in table.rules:
        if rule.cls == "sfx" and "{" not in rule.label:
            rows[rule.label].add(rule.split)
    assert len(rows) >= 40
    held_out = [label for label, splits in rows.items() if splits == {"test"}]
    assert len(held_out) >= 8, held_out
    assert not any(rule.package in RESERVED_PACKAGES for rule in table.rules)


def test_held_out_sfx_labels_have_no_rows_that_could_reach_training():
    table = load_label_table()
    held_out = {r.label for r in table.rules if r.cls == "sfx" and r.split == "test"}
    for rule in table.rules:
        if rule.cls == "sfx" and rule.split != "test":
            assert rule.label not in held_out, (rule.line, rule.label)


def test_every_package_of_the_full_set_has_label_rows():
    table = load_label_table()
    for package in packages_for("full"):
        assert any(rule.cls != "skip" for rule in table.rules_for(package)), package


@pytest.mark.parametrize(
    "package, path, expected",
    [
        ("minetest-data", "/usr/share/games/minetest/games/minetest_game/mods/default/sounds/"
         "default_snow_footstep.3.ogg", ("sfx", "footsteps")),
        ("minetest-data", "/usr/share/games/minetest/games/minetest_game/mods/fire/sounds/"
         "fire_large.ogg", ("sfx", "fire")),
        ("supertux-data", "/usr/share/games/supertux2/music/forest/forest2.ogg",
         ("music", "game music")),
        ("supertux-data", "/usr/share/games/supertux2/sounds/explosion.wav", ("sfx", "explosion")),
        ("colobot-common-sounds", "/usr/share/games/colobot/music/Proton.ogg",
         ("music", "game music")),
        ("wordwarvi-sound", "/usr/share/wordwarvi/sounds/metalbang3.ogg", ("sfx", "metal clang")),
        ("lmms-common", "/usr/share/lmms/samples/drums/snare_hiphop01.ogg", ("music", "snare drum")),
        ("lmms-common", "/usr/share/lmms/samples/misc/applause01.ogg", ("sfx", "applause")),
        # held-out labels and voices in these packages are not used
        ("supertux-data", "/usr/share/games/supertux2/sounds/thunder.wav", None),
        ("supertux-data", "/usr/share/games/supertux2/sounds/phone.wav", None),
        ("wordwarvi-sound", "/usr/share/wordwarvi/sounds/help_down_here.ogg", None),
        ("colobot-common-sounds", "/usr/share/games/colobot/sounds/sound012.wav", None),
        ("widelands-data", "/usr/share/games/widelands/data/sound/animals/moose_01.ogg",
         ("sfx", "deer")),
        ("widelands-data", "/usr/share/games/widelands/data/sound/smiths/toolsmith_00.ogg",
         ("sfx", "hammer")),
        ("widelands-data", "/usr/share/games/widelands/data/music/ingame_07.ogg",
         ("music", "game music")),
        ("megaglest-data", "/usr/share/games/megaglest/tilesets/fernland/sounds/night.ogg",
         ("sfx", "night insects")),
        ("megaglest-data", "/usr/share/games/megaglest/techs/megapack/factions/norsemen/units/"
         "swordman/sounds/swordman_attack11.wav", ("sfx", "sword")),
        ("megaglest-data", "/usr/share/games/megaglest/techs/megapack/factions/romans/music/"
         "romans.ogg", ("music", "game music")),
        # interface sounds and unit voices are not used
        ("widelands-data", "/usr/share/games/widelands/data/sound/military/under_attack.ogg", None),
        ("megaglest-data", "/usr/share/games/megaglest/techs/megapack/factions/norsemen/units/"
         "swordman/sounds/swordman_ack3.wav", None),
    ],
)
def test_more_game_and_sample_packages_are_labelled(package, path, expected):
    found = load_label_table().resolve(PackageFile(package, path, Path(path)))
    assert (None if found is None else (found.cls, found.label)) == expected


@pytest.mark.parametrize(
    "package, path, expected",
    [
        ("lincity-ng-data", "/usr/share/games/lincity-ng/sounds/RailTrain2.wav", ("sfx", "train")),
        ("lincity-ng-data", "/usr/share/games/lincity-ng/sounds/TraficHigh1.wav", ("sfx", "traffic")),
        ("lincity-ng-data", "/usr/share/games/lincity-ng/music/default/02 - Robert van Herk - City Blues.ogg",
         ("music", "game music")),
        ("lomiri-sounds", "/usr/share/sounds/lomiri/notifications/Xylo.ogg", ("sfx", "notification chime")),
        ("yaru-theme-sound", "/usr/share/sounds/Yaru/stereo/bell.oga", ("sfx", "bell")),
        ("deepin-sound-theme", "/usr/share/sounds/deepin/stereo/device-added.wav", ("sfx", "notification chime")),
        ("frozen-bubble-data", "/usr/share/games/frozen-bubble/snd/typewriter.ogg", ("sfx", "typewriter")),
        ("extremetuxracer-data", "/usr/share/games/etr/sounds/snow_slide.wav", ("sfx", "sliding")),
        ("extremetuxracer-data", "/usr/share/games/etr/music/race1-jt.ogg", ("music", "game music")),
        # held-out labels (ringtones, camera shutters) and sounds of unclear content are not used
        ("lomiri-sounds", "/usr/share/sounds/lomiri/ringtones/Ubuntu.ogg", None),
        ("lomiri-sounds", "/usr/share/sounds/lomiri/camera/click/camera_click.ogg", None),
        ("deepin-sound-theme", "/usr/share/sounds/deepin/stereo/camera-shutter.wav", None),
        ("lincity-ng-data", "/usr/share/games/lincity-ng/sounds/School1.wav", None),
        ("frozen-bubble-data", "/usr/share/games/frozen-bubble/snd/menu_change.ogg", None),
    ],
)
def test_packages_that_only_add_training_material_are_labelled_train(package, path, expected):
    found = load_label_table().resolve(PackageFile(package, path, Path(path)))
    assert (None if found is None else (found.cls, found.label)) == expected
    assert found is None or found.split == "train"


@pytest.mark.parametrize(
    "package, path, expected",
    [
        ("asterisk-prompt-it-menardi-wav", "/usr/share/asterisk/sounds/it_IT_f_Menardi/vm-goodbye.wav",
         ("speech", "Italian speech")),
        ("flare-game", "/usr/share/games/flare/mods/fantasycore/music/town_theme.ogg",
         ("music", "orchestral music")),
        ("flare-game", "/usr/share/games/flare/mods/fantasycore/music/wind_ambient.ogg", ("sfx", "wind")),
        ("flare-game", "/usr/share/games/flare/mods/fantasycore/soundfx/enemies/zombie_die.ogg",
         ("sfx", "monster growl")),
        ("marsshooter-data", "/usr/share/games/marsshooter/audio/announcer/niceOne.wav",
         ("speech", "English speech")),
        ("openarena-data", "/usr/share/games/openarena/missionpack/mp-pak0.pk3/sound/voices/rott/"
         "followme.ogg", ("speech", "English speech")),
        ("warzone2100-data", "/usr/share/games/warzone2100/base.wz/audio/sfx/explons/lrgexpl.ogg",
         ("sfx", "explosion")),
        ("warzone2100-data", "/usr/share/games/warzone2100/base.wz/audio/taunts/taunt2/haha2.ogg",
         ("speech", "English speech")),
        # synthetic voices (festival) and sounds of unclear content are not used
        ("openarena-data", "/usr/share/games/openarena/missionpack/mp-pak0.pk3/sound/voices/"
         "festivoxmale/followme.ogg", None),
        ("flare-game", "/usr/share/games/flare/mods/fantasycore/soundfx/powers/timestop.ogg", None),
    ],
)
def test_held_out_selection_sources_are_labelled_valid(package, path, expected):
    found = load_label_table().resolve(PackageFile(package, path, Path(path)))
    assert (None if found is None else (found.cls, found.label)) == expected
    assert found is None or found.split == "valid"


def test_held_out_selection_set_shares_nothing_with_training():
    """The `heldout` packages are not in `full`, every row of theirs says valid, and no other
    package's row does (so the valid split of a `full` build stays as the splitter drew it)."""
    table = load_label_table()
    heldout = set(packages_for("heldout"))
    assert not heldout & set(packages_for("full"))
    for package in heldout:
        rules = [rule for rule in table.rules_for(package) if rule.cls != "skip"]
        assert rules and all(rule.split == "valid" for rule in rules), package
    assert all(rule.package in heldout for rule in table.rules if rule.split == "valid")
    open_labels = {rule.label for rule in table.rules if rule.cls == "sfx" and rule.split == "test"}
    assert not open_labels & {rule.label for rule in table.rules if rule.split == "valid"}


def test_label_table_resolves_paths_to_labels_captions_and_groups(fake_tree):
    table = load_label_table()
    tux = fake_tree / "tuxpaint-stamps-default"

    def resolve(relative):
        return table.resolve(PackageFile("tuxpaint-stamps-default", "/" + relative, tux / relative))

    dog = resolve("usr/share/tuxpaint/stamps/animals/mammals/dogs/dog.ogg")
    assert (dog.cls, dog.label, dog.caption, dog.split) == ("sfx", "dog", "a dog barking", "auto")
    french = resolve("usr/share/tuxpaint/stamps/animals/mammals/dogs/dog_desc_fr.ogg")
    assert french.label == "French speech"
    assert french.caption == 'someone saying "Un chien." in French'
    spanish = resolve("usr/share/tuxpaint/stamps/animals/mammals/dogs/dog_desc_es.ogg")
    assert spanish.split == "test" and spanish.group == "tuxpaint-desc:es"
    english = resolve("usr/share/tuxpaint/stamps/animals/mammals/dogs/dog_desc.ogg")
    assert english.caption == 'someone saying "A dog." in English'
    assert resolve("usr/share/tuxpaint/stamps/symbols/faces/happy.ogg") is None


def test_default_group_keeps_near_duplicates_together():
    assert default_group("/s/rain_01.ogg") == default_group("/s/rain_05.ogg")
    assert default_group("/s/bat_left.ogg") == default_group("/s/bat_right.ogg")
    assert default_group("/s/wolf-growl-1.ogg") == default_group("/s/wolf-growl-4.ogg")
    assert default_group("/s/glass.ogg") == "/s/glass"
    assert default_group("/s/glass.ogg") != default_group("/s/gorilla.ogg")


def test_licence_comes_from_the_matching_copyright_stanza(fake_tree):
    doc = fake_tree / "tuxpaint-stamps-default/usr/share/doc/tuxpaint-stamps-default/copyright"
    stanzas = parse_copyright(doc.read_text())
    assert licence_of("/usr/share/game/sounds/special/x.ogg", stanzas, None) == "CC0-1.0"
    assert licence_of("/usr/share/game/music/y.ogg", stanzas, None) == "GPL-2"
    assert licence_of("/a.ogg", [], "CC-BY-SA-3.0") == "CC-BY-SA-3.0"


@pytest.mark.parametrize("package", sorted(RESERVED_PACKAGES))
def test_reserved_packages_are_refused(package, fake_tree, tmp_path):
    (fake_tree / package).mkdir(exist_ok=True)  # even when present, they are never read
    with pytest.raises(ReservedPackageError, match="reserved"):
        packages_for("core", [package])
    with pytest.raises(ReservedPackageError):
        TreePackages(fake_tree).ensure([package])
    with pytest.raises(ReservedPackageError):
        TreePackages(fake_tree).audio_files(package)
    with pytest.raises(ReservedPackageError):
        build_corpus(BuildConfig(out=tmp_path, packages_tree=fake_tree, extra_packages=(package,)))
    assert not (tmp_path / "sources.jsonl").exists()


def test_cli_refuses_reserved_package_with_exit_2(fake_tree, tmp_path, capsys):
    from codecsep_mm.cli import main

    code = main(
        [
            "data",
            "build",
            "--out",
            str(tmp_path),
            "--packages-tree",
            str(fake_tree),
            "--package",
            "hedgewars-data",
        ]
    )
    assert code == 2
    assert "reserved" in capsys.readouterr().err


def test_missing_package_names_it(tmp_path):
    (tmp_path / "tuxpaint-stamps-default").mkdir()
    with pytest.raises(Exception, match="asterisk-core-sounds-en-wav"):
        TreePackages(tmp_path).ensure(packages_for("core"))


def test_build_writes_16k_mono_flac_with_checksums_and_manifests(fake_corpus):
    records = read_sources(fake_corpus / "sources.jsonl")  # also checks every file exists
    assert len(records) > 40
    for record in records:
        info = sf.info(record.path)
        assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
        assert sha256_of(record.path) == record.sha256
        assert record.licence and record.package and record.package_version == "1.0-test"
        assert abs(info.duration - record.duration) < 1e-3
    split_sizes = {s: len(read_sources(fake_corpus / f"{s}.jsonl")) for s in ("train", "test")}
    assert sum(split_sizes.values()) <= len(records)
    build = json.loads((fake_corpus / "build.json").read_text())
    assert build["n_dropped"] == 1 and build["build_seconds"] >= 0
    assert build["tools"] == {}  # nothing synthetic, no programs or soundfonts to record
    assert (fake_corpus / "licences/tuxpaint-stamps-default.copyright").is_file()


def test_build_labels_images_and_archive_members(fake_corpus):
    records = read_corpus(fake_corpus)
    by_label = defaultdict(list)
    for r in records:
        by_label[(r.cls, r.label)].append(r)
    dog = by_label[("sfx", "dog")][0]
    assert dog.caption == "a dog barking" and dog.image.endswith("dog.png")
    assert (fake_corpus / dog.image).read_bytes().startswith(b"\x89PNG")
    assert len(by_label[("music", "game music")]) == 5  # 3 held-out + 2 from the pk3 archive
    assert any(r.origin.endswith("0music.pk3/music/track0.ogg") for r in records)
    assert not any("/silence/" in r.origin for r in records)


def test_splits_follow_groups_held_out_sources_and_test_only_labels(fake_corpus):
    records = read_corpus(fake_corpus)
    splits_of_group = defaultdict(set)
    for r in records:
        splits_of_group[r.group].add(r.split)
    assert all(len(s) == 1 for s in splits_of_group.values()), "a group is split"
    for r in records:
        if r.label in ("Spanish speech", "Catalan speech") or r.origin.startswith(
            "/usr/share/planetblupi"
        ):
            assert r.split == "test"
        if r.cls in ("speech", "music") and r.split == "test":
            assert r.label in ("Spanish speech", "Catalan speech", "English speech", "game music")
    only_test = labels_only_in_test(records)
    assert {"kettle", "cuckoo", "camera shutter", "telephone ringing"} <= set(only_test["sfx"])
    train_labels = {(r.cls, r.label) for r in records if r.split == "train"}
    assert ("sfx", "dog") in train_labels and ("sfx", "horn") in train_labels


def test_rebuild_reuses_converted_files(fake_tree, fake_corpus, tmp_path):
    before = {r.path: r.sha256 for r in read_corpus(fake_corpus)}
    build_corpus(BuildConfig(out=fake_corpus, packages_tree=fake_tree), log=lambda _: None)
    after = {r.path: r.sha256 for r in read_corpus(fake_corpus)}
    assert before == after


def test_a_recording_whose_16_khz_copy_would_be_silent_is_dropped_when_converted_and_when_reused(tmp_path):
    from codecsep_mm.data.corpus import SILENCE_PEAK, convert_to_flac
    from codecsep_mm.data.packages import PackageFile

    rng = np.random.default_rng(0)
    hiss = np.zeros((44100, 2), np.float32)  # faint noise above 16 kHz: loud enough at 44.1 kHz, gone at 16
    hiss[::2] = 3 * SILENCE_PEAK
    hiss[1::2] = -3 * SILENCE_PEAK
    sf.write(tmp_path / "silence.wav", hiss, 44100, subtype="FLOAT")
    assert np.abs(hiss).max() > SILENCE_PEAK
    assert convert_to_flac(PackageFile("p", "/silence.wav", tmp_path / "silence.wav"), tmp_path / "a.flac") is None
    assert not (tmp_path / "a.flac").exists()
    tone = (0.1 * np.sin(np.arange(16000) / 5) + 1e-3 * rng.standard_normal(16000)).astype(np.float32)
    sf.write(tmp_path / "tone.wav", tone, 16000, subtype="FLOAT")
    assert convert_to_flac(PackageFile("p", "/tone.wav", tmp_path / "tone.wav"), tmp_path / "b.flac") == 1.0
    assert convert_to_flac(PackageFile("p", "/tone.wav", tmp_path / "tone.wav"), tmp_path / "b.flac") == 1.0
    sf.write(tmp_path / "b.flac", np.zeros(16000, np.float32), 16000, subtype="PCM_16")  # an earlier build's
    assert convert_to_flac(PackageFile("p", "/tone.wav", tmp_path / "tone.wav"), tmp_path / "b.flac") is None


def test_stats_command_prints_per_class_tables(fake_corpus, capsys):
    from codecsep_mm.cli import main

    assert main(["data", "stats", str(fake_corpus), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["n_files"] == len(read_corpus(fake_corpus))
    assert stats["per_class_split"]["sfx"]["test"]["files"] > 0
    assert "kettle" in stats["test_only_labels"]["sfx"]
    assert main(["data", "stats", str(fake_corpus)]) == 0
    assert "| sfx |" in capsys.readouterr().out


def test_corpus_not_built_is_a_clear_error(tmp_path, capsys):
    from codecsep_mm.cli import main

    assert main(["data", "stats", str(tmp_path)]) == 2
    assert "data build" in capsys.readouterr().err


def test_tree_paths_look_like_installed_paths(fake_tree):
    files = TreePackages(fake_tree).audio_files("ufoai-music")
    assert [f.path for f in files] == [
        "/usr/share/games/ufoai/base/0music.pk3/music/track0.ogg",
        "/usr/share/games/ufoai/base/0music.pk3/music/track1.ogg",
    ]
    assert files[0].read_bytes()[:4] == b"OggS"
    assert isinstance(files[0].disk_path, Path)


def test_apt_source_stops_cleanly_without_root(monkeypatch):
    from codecsep_mm.data.packages import AptPackages, CorpusError

    monkeypatch.setattr(AptPackages, "_installed", lambda self, package: False)
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    calls = []
    monkeypatch.setattr("subprocess.run", lambda *a, **k: calls.append(a))
    with pytest.raises(CorpusError, match=r"needs root; run `sudo apt-get install"):
        AptPackages().ensure(["tuxpaint-stamps-default"])
    assert calls == []  # nothing was run


def test_stats_train_lengths_give_shares_of_recordings_and_of_draws():
    from codecsep_mm.data.manifest import SourceRecord
    from codecsep_mm.data.stats import train_lengths

    def record(i, cls, seconds, split="train", synthetic=False):
        return SourceRecord(path=f"{cls}{i}.flac", cls=cls, label="l", duration=seconds, split=split,
                            synthetic=synthetic)

    # sound effects of 0.5, 0.5, 2 and 30 s; a test recording that must not count
    records = [record(i, "sfx", d) for i, d in enumerate([0.5, 0.5, 2.0, 30.0])]
    records.append(record(9, "sfx", 60.0, split="test"))
    uniform = train_lengths(records)["sfx"]
    assert uniform["recordings"] == 4 and uniform["draw_cap_seconds"] is None
    assert uniform["bins"]["0-1 s"] == {"recordings": 0.5, "draws": 0.5}
    assert uniform["bins"][">= 20 s"] == {"recordings": 0.25, "draws": 0.25}
    weighted = train_lengths(records, {"sfx": 4.0})["sfx"]["bins"]
    # odds 0.5 : 0.5 : 2 : 4 (the long one counts as 4 s)
    assert weighted["0-1 s"]["draws"] == pytest.approx(1 / 7, abs=1e-4)
    assert weighted["1-4 s"]["draws"] == pytest.approx(2 / 7, abs=1e-4)
    assert weighted[">= 20 s"]["draws"] == pytest.approx(4 / 7, abs=1e-4)
    assert weighted["4-20 s"] == {"recordings": 0.0, "draws": 0.0}
    assert uniform["synthetic_draws"] == 0.0
    records.append(record(10, "sfx", 3.0, synthetic=True))  # odds 0.5 : 0.5 : 2 : 4 : 3
    assert train_lengths(records, {"sfx": 4.0})["sfx"]["synthetic_draws"] == pytest.approx(3 / 10)
    assert train_lengths(records)["sfx"]["synthetic_draws"] == pytest.approx(1 / 5)


def test_stats_command_duration_weight(fake_corpus, capsys):
    from codecsep_mm.cli import main

    assert main(["data", "stats", str(fake_corpus), "--duration-weight", "sfx=4"]) == 0
    out = capsys.readouterr().out
    assert "| sfx draws | by length up to 4 s |" in out and "| music draws | uniformly |" in out
    assert "Share of the draws that are synthetic recordings (%): speech 0.0, music 0.0, sfx 0.0" in out
    for bad, message in (("sfx", "CLASS=SECONDS"), ("noise=3", "unknown class 'noise'"), ("sfx=0", "positive")):
        assert main(["data", "stats", str(fake_corpus), "--duration-weight", bad]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


def test_stats_label_first_draws_give_every_label_the_same_share():
    from codecsep_mm.data.manifest import SourceRecord
    from codecsep_mm.data.stats import train_lengths

    # label a: three 0.5 s recordings; label b: one 2 s recording
    records = [SourceRecord(path=f"s{i}.flac", cls="sfx", label=label, duration=d, split="train")
               for i, (label, d) in enumerate([("a", 0.5), ("a", 0.5), ("a", 0.5), ("b", 2.0)])]
    plain = train_lengths(records)["sfx"]
    assert plain["top_label"] == ["a", 0.75] and plain["label_first"] is False
    balanced = train_lengths(records, balance_labels=("sfx",))["sfx"]
    assert balanced["label_first"] is True and balanced["top_label"][1] == pytest.approx(0.5)
    assert balanced["label_draws"] == {"a": 0.5, "b": 0.5} and plain["label_draws"] == {"a": 0.75, "b": 0.25}
    assert balanced["bins"]["0-1 s"]["draws"] == pytest.approx(0.5)
    assert balanced["bins"]["1-4 s"]["draws"] == pytest.approx(0.5)


def test_stats_command_balance_labels(fake_corpus, capsys):
    from codecsep_mm.cli import main

    assert main(["data", "stats", str(fake_corpus), "--duration-weight", "sfx=4", "--balance-labels", "sfx"]) == 0
    out = capsys.readouterr().out
    assert "| sfx draws | label first, then by length up to 4 s |" in out
    assert "The label drawn most often, and its share of the draws (%): " in out
    assert main(["data", "stats", str(fake_corpus), "--balance-labels", "noise"]) == 2
    err = capsys.readouterr().err
    assert "unknown classes ['noise']" in err and len(err.strip().splitlines()) == 1


def test_find_overlaps_names_a_copy_of_a_held_out_recording_and_not_a_new_one(fake_corpus, tmp_path):
    import subprocess
    import sys

    held = [r for r in read_corpus(fake_corpus) if r.split in ("valid", "test")]
    record = max(held, key=lambda r: r.duration or 0.0)
    wav, rate = sf.read(fake_corpus / record.path, dtype="float32")
    new = tmp_path / "new"
    new.mkdir()
    # a quieter copy that starts later, in another format and at another rate
    copy = np.concatenate([np.zeros(rate // 10, dtype=np.float32), 0.5 * wav])
    sf.write(new / "copy.ogg", soxr.resample(copy, rate, 22050), 22050)
    noise = np.random.default_rng(3).standard_normal(len(wav)).astype(np.float32) * 0.1
    sf.write(new / "other.wav", noise, rate)
    script = Path(__file__).resolve().parents[2] / "tools" / "find_overlaps.py"
    done = subprocess.run([sys.executable, str(script), "--corpus", str(fake_corpus), str(new)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and "copy.ogg  repeats" in lines[0] and record.path in lines[0]
    assert float(lines[0].split()[0]) > 0.95
    assert lines[-1].startswith(f"1 pairs at or above 0.9 among the {len(held)} recordings")
