"""Is model B better than model A on the same mixtures? Paired differences of two ``codecsep-mm eval`` runs.

Both runs must have scored the same manifest (``results.json`` from ``codecsep-mm eval --out DIR``).
For each prompt kind the script pairs the SI-SDRi of every (mixture, source) both runs scored and
prints B - A per class and for the mean over the classes (the figure ``codecsep-mm eval`` reports),
each with its standard error (per class: the standard deviation of the paired differences over the
square root of their number; for the mean over classes: the classes' errors combined). Two models
scored on the same mixtures differ far less from mixture to mixture than either model's scores do,
so a paired difference resolves changes that the two means alone hide in their spread.

``--open-vocabulary`` pairs only the sources whose labels never occur in training (the report's
open-vocabulary table). ``--by-label KIND`` prints, for that prompt kind, one line per source label
instead: its class, how many sources, A's and B's mean SI-SDRi and the paired difference, worst label
of A first (``--class sfx`` keeps one class); a label that loses or gains shows there, where the class
means average it away.

Usage:
    python benchmarks/compare_results.py /work/hm-s9/results.json /work/hm-s/results.json [--open-vocabulary]
    python benchmarks/compare_results.py A/results.json B/results.json --by-label class [--class sfx]
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
            per_class[cls] = (float(diff.mean()), _standard_error(diff), len(diff))
        if per_class:
            mean = float(np.mean([v[0] for v in per_class.values()]))
            se = float(np.sqrt(sum(v[1] ** 2 for v in per_class.values())) / len(per_class))
            out[kind] = {"classes": per_class, "mean_over_classes": (mean, se)}
    return out


def label_differences(rows_a: list[dict], rows_b: list[dict], kind: str) -> list[tuple]:
    """``(label, class, n, mean A, mean B, mean B - A, its standard error)`` for every source label of
    ``kind`` both runs scored, the label A separates worst first."""
    a = {(r["id"], r["source"]): r for r in rows_a if r["kind"] == kind}
    b = {(r["id"], r["source"]): r for r in rows_b if r["kind"] == kind}
    groups: dict[tuple[str, str], list] = {}
    for key in sorted(set(a) & set(b)):
        groups.setdefault((a[key]["label"], a[key]["class"]), []).append((a[key]["si_sdri"], b[key]["si_sdri"]))
    lines = []
    for (label, cls), pairs in groups.items():
        values = np.array(pairs)
        diff = values[:, 1] - values[:, 0]
        lines.append((label, cls, len(diff), float(values[:, 0].mean()), float(values[:, 1].mean()),
                      float(diff.mean()), _standard_error(diff)))
    return sorted(lines, key=lambda line: line[3])


def _standard_error(diff: np.ndarray) -> float:
    """The standard error of the mean of paired differences (nan for a single one)."""
    return float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")


def _print_labels(lines: list[tuple], kind: str, which: str) -> None:
    print(f"per label, {kind} prompts, SI-SDRi (dB): mean of A, of B, and B - A +- standard error, "
          f"paired over the {which} both scored")
    width = max(len(line[0]) for line in lines)
    for label, cls, n, mean_a, mean_b, diff, se in lines:
        print(f"{label:{width}s}  {cls:6s}  n {n:3d}  A {mean_a:6.2f}  B {mean_b:6.2f}  B - A {diff:+.2f} +- {se:.2f}")


def _read_rows(path: str) -> list[dict]:
    """The scored rows of a ``codecsep-mm eval --out DIR`` run's ``results.json``."""
    try:
        with open(path) as handle:
            return json.load(handle)["rows"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(f"cannot read {path} ({error.__class__.__name__}: {error}); give the "
                         "results.json that `codecsep-mm eval --out DIR` wrote") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="results.json of the reference model")
    parser.add_argument("b", help="results.json of the model compared with it")
    parser.add_argument("--open-vocabulary", action="store_true",
                        help="only the sources whose labels never occur in training")
    parser.add_argument("--by-label", metavar="KIND", choices=KINDS,
                        help="one line per source label for this prompt kind instead of the class table")
    parser.add_argument("--class", dest="cls", choices=CLASSES, help="with --by-label: only this class")
    args = parser.parse_args()
    if args.cls and not args.by_label:
        parser.error("--class goes with --by-label KIND")
    rows = [_read_rows(path) for path in (args.a, args.b)]
    if args.open_vocabulary:
        rows = [[r for r in run_rows if r.get("open_vocabulary")] for run_rows in rows]
    which = "open-vocabulary sources" if args.open_vocabulary else "sources"
    if args.by_label:
        if args.cls:
            rows = [[r for r in run_rows if r["class"] == args.cls] for run_rows in rows]
        lines = label_differences(*rows, args.by_label)
        if not lines:
            raise SystemExit(f"the two runs share no scored source with {args.by_label} prompts"
                             + (f" of class {args.cls}" if args.cls else "")
                             + "; score both on the same manifest with that kind")
        print(f"A: {args.a}\nB: {args.b}")
        _print_labels(lines, args.by_label, which)
        return
    found = paired_differences(*rows)
    if not found:
        raise SystemExit("the two runs share no scored (mixture, source, prompt kind); "
                         "score both on the same manifest")
    print(f"B - A, SI-SDRi (dB) +- standard error, paired over the {which} both scored\n"
          f"A: {args.a}\nB: {args.b}")
    for kind, entry in found.items():
        cells = "  ".join(f"{cls} {m:+.2f} +- {se:.2f} (n {n})" for cls, (m, se, n) in entry["classes"].items())
        mean, se = entry["mean_over_classes"]
        print(f"{kind:8s} mean over classes {mean:+.2f} +- {se:.2f}   {cells}")


if __name__ == "__main__":
    main()
