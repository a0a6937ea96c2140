"""Figures of a built corpus: files and hours per class and split, labels, licences, build time.

``codecsep-mm data stats DIR`` prints them as Markdown (the tables of ``docs/corpus.md``), or as
JSON with ``--json``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from codecsep_mm.data.corpus import BUILD_INFO, read_corpus
from codecsep_mm.data.manifest import CLASSES, SPLITS
from codecsep_mm.data.split import labels_only_in_test


def corpus_stats(out: str | Path) -> dict[str, Any]:
    """Counts and hours of a corpus, from its manifests and ``build.json``."""
    out = Path(out)
    records = read_corpus(out)
    table: dict[str, dict[str, dict[str, float]]] = {
        c: {s: {"files": 0, "hours": 0.0} for s in SPLITS} for c in CLASSES
    }
    synthetic: dict[str, dict[str, float]] = {c: {"files": 0, "hours": 0.0} for c in CLASSES}
    labels: dict[str, dict[str, Counter]] = {c: defaultdict(Counter) for c in CLASSES}
    licences: Counter = Counter()
    packages: Counter = Counter()
    for r in records:
        hours = (r.duration or 0.0) / 3600
        table[r.cls][r.split]["files"] += 1
        table[r.cls][r.split]["hours"] += hours
        if r.synthetic:
            synthetic[r.cls]["files"] += 1
            synthetic[r.cls]["hours"] += hours
        labels[r.cls][r.label or r.cls][r.split] += 1
        licences[r.licence or "unknown"] += 1
        packages[r.package or "unknown"] += 1
    for cls in CLASSES:
        for split in SPLITS:
            table[cls][split]["hours"] = round(table[cls][split]["hours"], 3)
        synthetic[cls]["hours"] = round(synthetic[cls]["hours"], 3)
    info_path = out / BUILD_INFO
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    only_test = labels_only_in_test(records)
    return {
        "corpus": str(out),
        "n_files": len(records),
        "hours": round(sum((r.duration or 0) for r in records) / 3600, 3),
        "per_class_split": table,
        "synthetic": synthetic,
        "labels": {
            c: {lab: dict(splits) for lab, splits in sorted(labels[c].items())} for c in CLASSES
        },
        "n_labels": {c: len(labels[c]) for c in CLASSES},
        "test_only_labels": only_test,
        "licences": dict(licences.most_common()),
        "packages": {
            p: {"files": n, "version": info.get("packages", {}).get(p)}
            for p, n in sorted(packages.items())
        },
        "build_seconds": info.get("build_seconds"),
        "n_reused": info.get("n_reused"),
        "n_dropped": info.get("n_dropped"),
        "options": info.get("options"),
    }


def format_markdown(stats: dict[str, Any]) -> str:
    """The stats as Markdown tables."""
    lines = [f"Corpus `{stats['corpus']}`: {stats['n_files']} files, {stats['hours']:.2f} h."]
    if stats.get("build_seconds") is not None:
        reused = stats.get("n_reused")
        note = f" ({reused} recordings reused from an earlier build)" if reused else ""
        lines.append(f"Build time (build.json): {stats['build_seconds']:.0f} s{note}.")
    lines += [
        "",
        "| class | " + " | ".join(f"{s} files | {s} h" for s in SPLITS) + " | synthetic h |",
        "|---|" + "---:|" * (2 * len(SPLITS) + 1),
    ]
    for cls, row in stats["per_class_split"].items():
        cells = " | ".join(f"{row[s]['files']} | {row[s]['hours']:.2f}" for s in SPLITS)
        lines.append(f"| {cls} | {cells} | {stats['synthetic'][cls]['hours']:.2f} |")
    lines += [
        "",
        "Labels per class: " + ", ".join(f"{c} {n}" for c, n in stats["n_labels"].items()),
    ]
    for cls, only in stats["test_only_labels"].items():
        lines.append(f"Test-only {cls} labels ({len(only)}): {', '.join(only)}")
    for cls in CLASSES:
        lines += [
            "",
            f"| {cls} label | " + " | ".join(SPLITS) + " |",
            "|---|" + "---:|" * len(SPLITS),
        ]
        for label, splits in stats["labels"][cls].items():
            lines.append(f"| {label} | " + " | ".join(str(splits.get(s, 0)) for s in SPLITS) + " |")
    lines += ["", "| licence | files |", "|---|---:|"]
    lines += [f"| {lic} | {n} |" for lic, n in stats["licences"].items()]
    lines += ["", "| package | version | files |", "|---|---|---:|"]
    lines += [f"| {p} | {v['version']} | {v['files']} |" for p, v in stats["packages"].items()]
    return "\n".join(lines)
