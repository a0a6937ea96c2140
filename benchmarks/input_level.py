"""Mean SI-SDRi with the mixtures made louder, quieter or offset, and the separator's input settings on or off.

Each mixture is scaled by each gain in ``--gains`` (dB) and has each offset in ``--offsets`` added
to its samples before it is separated, with each value of ``--input-lufs`` (``model``: the model's
own ``separation.input_lufs``; ``off``; or a loudness in LUFS) and of ``--remove-offset`` (``on``,
``off``: ``separation.remove_offset``), and scored by ``codecsep-mm eval``'s own loop (``evaluate``:
same prompts per kind, SI-SDRi in 10 s chunks, mean over the classes of per-class means; SI-SDRi
does not change when the estimate and the mixture are scaled alike, and, zero-mean, not with an
offset in either). A model that separates its input as it is can separate differently at
different levels; one that separates each window at a set loudness should not. Choose
``input_lufs`` on a selection set (``benchmarks/heldmix``), not on openmix.

Usage:
    python benchmarks/input_level.py --model starter-16k --manifest /work/heldmix-rendered/mixtures.jsonl \\
        [--limit 60] [--kinds class] [--gains=-12,0,12] [--input-lufs=off,model] [--offsets=0,0.3] \\
        [--remove-offset=on,off]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import os

from manifest_options import add_manifest_options, load_manifest_run

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_manifest_options(parser, kinds="class")
    parser.add_argument("--gains", default="-12,0,12", help="dB, comma-separated (write --gains=-12,0)")
    parser.add_argument("--input-lufs", default="off,model", help="'off', 'model' or LUFS values, comma-separated")
    parser.add_argument("--offsets", default="0", help="added to every sample, comma-separated (--offsets=0,0.3)")
    parser.add_argument("--remove-offset", default="on", help="'on', 'off' or both, comma-separated")
    args = parser.parse_args()

    from codecsep_mm.eval.evaluate import evaluate
    from codecsep_mm.eval.report import class_means_line

    gains = [float(g) for g in args.gains.split(",")]
    offsets = [float(o) for o in args.offsets.split(",")]
    separator, records, kinds = load_manifest_run(args)
    own = separator.settings
    loudness = {name: None if name == "off" else float(name)
                for name in args.input_lufs.split(",") if name != "model"}
    if "model" in args.input_lufs.split(","):
        loudness[f"model ({own.input_lufs})"] = own.input_lufs
    removal = {name: {"on": True, "off": False}[name] for name in args.remove_offset.split(",")}
    plain_separate = separator.separate
    print(f"{args.model} on {len(records)} mixtures of {args.manifest}")
    print("mean SI-SDRi (dB), speech / music / sfx, and the mean over the classes")
    for (name, lufs), (removed, remove) in itertools.product(loudness.items(), removal.items()):
        separator.settings = dataclasses.replace(own, input_lufs=lufs, remove_offset=remove)
        for gain_db, offset in itertools.product(gains, offsets):
            factor = 10 ** (gain_db / 20)
            separator.separate = lambda mixture, prompts, factor=factor, offset=offset, **kw: plain_separate(
                factor * mixture + offset, prompts, **kw)
            results = evaluate(separator, records, kinds, with_sdr=False, upper_bound=False)
            scores: dict[tuple, list[float]] = collections.defaultdict(list)
            for row in results.rows:
                scores[(row["kind"], row["class"])].append(row["si_sdri"])
            for kind in kinds:
                by_class = {c: scores[(kind, c)] for c in ("speech", "music", "sfx")}
                where = f"input_lufs {name:14s} remove_offset {removed:3s} gain {gain_db:+5.1f} dB offset {offset:+.2f}"
                print(class_means_line(f"{where} {kind:8s}:", by_class), flush=True)


if __name__ == "__main__":
    main()
