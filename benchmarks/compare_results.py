"""Is model B better than model A on the same mixtures? Paired differences of two ``codecsep-mm eval`` runs.

Both runs must have scored the same manifest (``results.json`` from ``codecsep-mm eval --out DIR``).
For each prompt kind the script pairs the SI-SDRi of every (mixture, source) both runs scored and
prints B - A per class and for the mean over the classes (the figure ``codecsep-mm eval`` reports),
each with its standard error (per class: the standard deviation of the paired differences over the
square root of their number; for the mean over classes: the classes' errors combined). Two models
scored on the same mixtures differ far less from mixture to mixture than either model's scores do,
so a paired difference resolves changes that the two means alone hide in their spread.

``--open-vocabulary`` pairs only the sources whose labels never occur in training (the report's
open-vocabulary table).

Usage:
    python benchmarks/compare_results.py /work/hm-s9/results.json /work/hm-s/results.json [--open-vocabulary]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

CLASSES = ("speech", "music", "sfx")
KINDS = ("class", "label", "caption", "audio", "image")


def paired_differences(rows_a: list[dict], rows_b: list[dict]) -> dict[str, dict]:
    """Per prompt kind: ``{"classes": {cls: (mean, se, n)}, "mean_over_classes": (mean, se)}`` of
    B - A over the (mixture, source) pairs both scored."""
    a = {(r["id"], r["source"], r["kind"]): r for r in rows_a}
    b = {(r["id"], r["source"], r["kind"]): r for r in rows_b}
    out: dict[str, dict] = {}
    for kind in KINDS:
        per_class = {}
        for cls in CLASSES:
            keys = [k for k, r in a.items() if k[2] == kind and r["class"] == cls and k in b]
            if not keys:
                continue
            diff = np.array([b[k]["si_sdri"] - a[k]["si_sdri"] for k in keys])
            se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
            per_class[cls] = (float(diff.mean()), se, len(diff))
        if per_class:
            mean = float(np.mean([v[0] for v in per_class.values()]))
            se = float(np.sqrt(sum(v[1] ** 2 for v in per_class.values())) / len(per_class))
            out[kind] = {"classes": per_class, "mean_over_classes": (mean, se)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="results.json of the reference model")
    parser.add_argument("b", help="results.json of the model compared with it")
    parser.add_argument("--open-vocabulary", action="store_true",
                        help="only the sources whose labels never occur in training")
    args = parser.parse_args()
    runs = []
    for path in (args.a, args.b):
        with open(path) as handle:
            runs.append(json.load(handle))
    rows = [run["rows"] for run in runs]
    if args.open_vocabulary:
        rows = [[r for r in run_rows if r.get("open_vocabulary")] for run_rows in rows]
    found = paired_differences(*rows)
    if not found:
        raise SystemExit("the two runs share no scored (mixture, source, prompt kind); "
                         "score both on the same manifest")
    which = "open-vocabulary sources" if args.open_vocabulary else "sources"
    print(f"B - A, SI-SDRi (dB) +- standard error, paired over the {which} both scored\n"
          f"A: {args.a}\nB: {args.b}")
    for kind, entry in found.items():
        cells = "  ".join(f"{cls} {m:+.2f} +- {se:.2f} (n {n})" for cls, (m, se, n) in entry["classes"].items())
        mean, se = entry["mean_over_classes"]
        print(f"{kind:8s} mean over classes {mean:+.2f} +- {se:.2f}   {cells}")


if __name__ == "__main__":
    main()
