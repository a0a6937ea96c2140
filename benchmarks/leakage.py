"""What each separated stem is made of: its own source, the other sources, or artefacts.

SI-SDRi says how good a stem is, not what went wrong. This script separates each source of a rendered
mixture manifest with the prompts ``codecsep-mm eval`` uses, fits every estimate by the mixture's
reference stems (least squares in windows of ``--window-seconds``, 0.5 s by default, so that a stem
let through only at times counts as that stem; ``codecsep_mm.eval.metrics.stem_shares``) and prints, per prompted
class, the mean share of the estimate's energy that comes from the target stem, from the stems of each
class, and from nothing in the mixture (artefacts). With ``--worst N`` it also lists the N labels
(with at least ``--min-count`` sources) whose estimates hold the least of their own source. With
``--follow LABEL`` (repeatable; class-word prompts) it also says where the sources of that label go:
the mean share of their energy that each class word's estimate carries (a chime that the "speech"
estimate takes is named there, where SI-SDRi only says it is missing from the sound effects). The model
separates with its stored mask floor (a floor adds a share of every stem); ``--mask-floor`` sets one.
Run it on the valid sets; on openmix only to describe a model already chosen.

Usage:
    python benchmarks/leakage.py --model starter-16k --manifest /work/validtracks-rendered/mixtures.jsonl \\
        [--limit 100] [--kinds class] [--worst 8] [--follow "notification chime"] [--threads 1]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os

from manifest_options import add_manifest_options, load_manifest_run

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CLASSES = ("speech", "music", "sfx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_manifest_options(parser, kinds="class")
    parser.add_argument("--mask-floor", type=float, default=None)
    parser.add_argument("--window-seconds", type=float, default=0.5)
    parser.add_argument("--worst", type=int, default=0, metavar="N")
    parser.add_argument("--min-count", type=int, default=3)
    parser.add_argument("--follow", action="append", default=[], metavar="LABEL")
    args = parser.parse_args()
    if args.follow and "class" not in args.kinds.split(","):
        parser.error("--follow needs the class-word prompts: add class to --kinds")

    import numpy as np

    from codecsep_mm.eval.evaluate import separate_each
    from codecsep_mm.eval.metrics import energy_shares, mono, stem_energies

    separator, records, kinds = load_manifest_run(args)
    if args.mask_floor is not None:
        separator.settings = dataclasses.replace(separator.settings, mask_floor=args.mask_floor)
    # (kind, class) -> rows of [target, speech, music, sfx, artefacts]; (kind, class, label) -> target
    table: dict[tuple, list[np.ndarray]] = collections.defaultdict(list)
    own: dict[tuple, list[float]] = collections.defaultdict(list)
    # (label, class word) -> share of each followed source's energy in that class word's estimate
    went: dict[tuple, list[float]] = collections.defaultdict(list)
    for done in separate_each(separator, records, kinds):
        window = int(args.window_seconds * done.sample_rate)
        for (index, kind, _), estimate in zip(done.jobs, done.estimates):
            energies = stem_energies(estimate, done.references, window)
            shares = energy_shares(energies)
            row = np.zeros(len(CLASSES) + 2)
            row[0] = shares[index]
            for j, source in enumerate(done.record.sources):
                row[1 + CLASSES.index(source.cls)] += shares[j]
            row[-1] = shares[-1]
            source = done.record.sources[index]
            table[(kind, source.cls)].append(row)
            own[(kind, source.cls, source.label)].append(float(shares[index]))
            if kind == "class" and args.follow:
                for j, followed in enumerate(done.record.sources):
                    if followed.label in args.follow:
                        reference = mono(done.references[j])[: len(mono(estimate))]
                        went[(followed.label, source.cls)].append(float(energies[j] / (reference @ reference)))
    floor = separator.settings.mask_floor
    print(f"{args.model} (mask floor {floor}) on {len(records)} mixtures of {args.manifest}, "
          f"fitted in {args.window_seconds} s windows")
    print("mean share of each estimate's energy (%): its own source; the stems of each class "
          "(the own class includes the target); artefacts")
    print(f"{'prompt':8s} {'class':7s} {'n':>4s} {'target':>7s} {'speech':>7s} {'music':>7s} "
          f"{'sfx':>7s} {'artef.':>7s}")
    for kind in kinds:
        for cls in CLASSES:
            rows = table.get((kind, cls))
            if rows:
                mean = 100 * np.mean(rows, axis=0)
                print(f"{kind:8s} {cls:7s} {len(rows):4d} " + " ".join(f"{v:7.1f}" for v in mean))
    if args.worst:
        ranked = sorted((np.mean(v), key) for key, v in own.items() if len(v) >= args.min_count)
        print(f"\nthe {args.worst} labels whose estimates hold the least of their own source "
              f"(at least {args.min_count} sources):")
        for value, (kind, cls, label) in ranked[: args.worst]:
            print(f"  {kind:8s} {cls:7s} {label:32s} n {len(own[(kind, cls, label)]):3d}  "
                  f"own source {100 * value:5.1f} %")
    for label in args.follow:
        counts = [len(went[(label, cls)]) for cls in CLASSES]
        shares_text = ", ".join(f"{cls} {100 * np.mean(went[(label, cls)]):.1f}" for cls in CLASSES
                                if went[(label, cls)])
        print(f"\nwhere the {max(counts)} sources labelled {label!r} go (mean share of their energy "
              f"in each class word's estimate, %): {shares_text or 'no such source'}")


if __name__ == "__main__":
    main()
