"""Mean SI-SDRi for a range of mask floors, from one separation pass: to choose a model's floor.

A mask floor ``f`` (``separation.mask_floor``) makes each stem latent ``z * (f + (1 - f) * m)``.
Through a linear decoder that is the waveform ``(1 - f) * estimate + f * mixture``, so this script
separates each mixture once with the model's masks as they are (floor 0) and scores those blends
for every floor, scored exactly as ``codecsep-mm eval`` scores (same prompts per kind, SI-SDRi in
10 s chunks, mean over the classes of per-class means). The starter codec's decoder is an MDCT
synthesis, linear up to its near-identity Snakes, so the blend stands for the floor; confirm the
chosen value with ``codecsep-mm eval --mask-floor F``. Run it on ``benchmarks/validmix``, not on
openmix (that is the test).

Usage:
    python benchmarks/mask_floor.py --model DIR --manifest /work/validmix-rendered/mixtures.jsonl \\
        [--limit 100] [--kinds class,caption,audio] [--floors 0,0.01,0.02,0.03,0.05,0.08]
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
    add_manifest_options(parser, kinds="class,caption,audio")
    parser.add_argument("--floors", default="0,0.01,0.02,0.03,0.05,0.08")
    args = parser.parse_args()

    from codecsep_mm.eval.evaluate import separate_each
    from codecsep_mm.eval.metrics import score
    from codecsep_mm.eval.report import class_means_line

    floors = [float(f) for f in args.floors.split(",")]
    separator, records, kinds = load_manifest_run(args)
    stored = separator.settings.mask_floor
    separator.settings = dataclasses.replace(separator.settings, mask_floor=0.0)
    scores: dict[tuple, list[float]] = collections.defaultdict(list)
    for done in separate_each(separator, records, kinds):
        mixture, rate = done.mixture, done.sample_rate
        for (index, kind, _), estimate in zip(done.jobs, done.estimates):
            for floor in floors:
                blend = (1.0 - floor) * estimate + floor * mixture
                value = score(blend, done.references[index], mixture, rate, 10.0, with_sdr=False)["si_sdri"]
                scores[(floor, kind, done.record.sources[index].cls)].append(value)
    print(f"{args.model} on {len(records)} mixtures of {args.manifest} (stored floor: {stored})")
    print("mean SI-SDRi (dB), speech / music / sfx, and the mean over the classes")
    for kind in kinds:
        for floor in floors:
            by_class = {c: scores[(floor, kind, c)] for c in CLASSES}
            print(class_means_line(f"{kind:8s} floor {floor:.3f}:", by_class), flush=True)


if __name__ == "__main__":
    main()
