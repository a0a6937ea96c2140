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
from codecsep_mm.data.manifest import CLASSES, SPLITS, SourceRecord
from codecsep_mm.data.split import labels_only_in_test

#: Length bins (seconds) of the ``train`` recordings table: ``[low, high)``.
LENGTH_BINS = ((0.0, 1.0), (1.0, 4.0), (4.0, 20.0), (20.0, float("inf")))


def _bin_name(low: float, high: float) -> str:
    return f">= {low:g} s" if high == float("inf") else f"{low:g}-{high:g} s"


def train_lengths(
    records: list[SourceRecord],
    duration_weights: dict[str, float] | None = None,
    balance_labels: tuple[str, ...] = (),
) -> dict[str, dict[str, Any]]:
    """Per class, how the ``train`` recordings spread over :data:`LENGTH_BINS`: the share of the
    recordings in each bin and, for a class in ``duration_weights`` ({class: cap seconds}, as
    ``data.mixing.duration_weight_seconds``), the share of the trainer's draws (uniform otherwise),
    label first for a class in ``balance_labels`` (as ``data.mixing.balance_labels``);
    ``synthetic_draws``: the share of the draws that land on synthetic recordings; ``top_label``:
    the label drawn most often and its share; ``label_draws``: every label's share."""

    from codecsep_mm.data.mixing import (
        check_balance_labels,
        check_duration_weights,
        draw_odds,
        playable_seconds,
    )

    check_balance_labels(balance_labels)
    duration_weights = duration_weights or {}
    check_duration_weights(duration_weights)
    table: dict[str, dict[str, Any]] = {}
    for cls in CLASSES:
        train = [r for r in records if r.cls == cls and r.split == "train"]
        if not train:
            continue
        seconds = [playable_seconds(r, 0.0) for r in train]
        draw_cap = duration_weights.get(cls)
        odds = draw_odds(train, draw_cap, cls in balance_labels)
        synthetic = [i for i, r in enumerate(train) if r.synthetic]
        by_label: dict[str, float] = defaultdict(float)
        for record, odd in zip(train, odds):
            by_label[record.label or cls] += float(odd)
        top, top_share = max(by_label.items(), key=lambda item: item[1])
        row: dict[str, Any] = {"recordings": len(train), "draw_cap_seconds": draw_cap,
                               "label_first": cls in balance_labels, "bins": {},
                               "synthetic_draws": round(float(odds[synthetic].sum()), 4),
                               "top_label": [top, round(top_share, 4)],
                               "label_draws": {k: round(v, 4) for k, v in sorted(by_label.items())}}
        for low, high in LENGTH_BINS:
            inside = [i for i, sec in enumerate(seconds) if low <= sec < high]
            row["bins"][_bin_name(low, high)] = {
                "recordings": round(len(inside) / len(train), 4),
                "draws": round(float(odds[inside].sum()), 4),
            }
        table[cls] = row
    return table


def corpus_stats(
    out: str | Path,
    duration_weights: dict[str, float] | None = None,
    balance_labels: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Counts and hours of a corpus, from its manifests and ``build.json``; ``duration_weights``
    and ``balance_labels`` as in :func:`train_lengths`."""
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
        "train_lengths": train_lengths(records, duration_weights, balance_labels),
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
    lengths = stats.get("train_lengths", {})
    if lengths:
        names = [_bin_name(low, high) for low, high in LENGTH_BINS]
        lines += [
            "",
            "`train` recordings by length, and the share of the trainer's draws (%):",
            "",
            "| class | drawn | " + " | ".join(names) + " |",
            "|---|---|" + "---:|" * len(names),
        ]
        for cls, row in lengths.items():
            cap = row["draw_cap_seconds"]
            how = f"by length up to {cap:g} s" if cap else "uniformly"
            if row.get("label_first"):
                how = "label first, then " + how
            for what, drawn in (("recordings", "n = " + str(row["recordings"])), ("draws", how)):
                cells = " | ".join(f"{100 * row['bins'][n][what]:.1f}" for n in names)
                lines.append(f"| {cls} {what} | {drawn} | {cells} |")
        shares = ", ".join(f"{cls} {100 * row['synthetic_draws']:.1f}" for cls, row in lengths.items())
        lines += ["", f"Share of the draws that are synthetic recordings (%): {shares}"]
        tops = ", ".join(f"{cls} {row['top_label'][0]} {100 * row['top_label'][1]:.1f}"
                         for cls, row in lengths.items())
        lines += [f"The label drawn most often, and its share of the draws (%): {tops}"]
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
