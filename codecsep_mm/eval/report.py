"""Evaluation reports: Markdown tables, a JSON file and a PNG of the per-class distributions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from statistics import fmean
from typing import Any

from codecsep_mm.data.manifest import CLASSES
from codecsep_mm.eval.evaluate import PROMPT_KINDS, EvalResults


def class_means_line(title: str, by_class: dict[str, list[float]]) -> str:
    """``title``, the mean of each class's values (speech / music / sfx, those with any) and their
    mean over the classes, as the benchmark scripts print them.

    Example:
        >>> class_means_line("class floor 0.020:", {"speech": [6.0, 8.0], "music": [2.0], "sfx": [4.0]})
        'class floor 0.020:   7.00 /   2.00 /   4.00   mean   4.33'
    """
    per = [fmean(by_class[c]) for c in CLASSES if by_class.get(c)]
    return f"{title} " + " / ".join(f"{v:6.2f}" for v in per) + f"   mean {fmean(per):6.2f}"


def to_markdown(results: EvalResults) -> str:
    """Tables of mean SI-SDRi, SI-SDR and SDR (dB) by prompt kind and class, with reference points."""
    summary = results.summary()
    info = results.info
    lines = [f"# Evaluation of `{info.get('model', '?')}`", ""]
    if info:
        mode = ("code-stream mode (the upper bound: the codes' resynthesis); "
                if info.get("mode") == "codes" else "")
        lines.append(f"{summary['n_mixtures']} mixtures from `{info.get('manifest', '?')}`; {mode}"
                     f"scored in {info.get('chunk_seconds', 10)} s chunks; command: "
                     f"`{info.get('command', 'codecsep-mm eval')}`")
        lines.append("")
    for metric, title in (("si_sdri", "SI-SDRi"), ("si_sdr", "SI-SDR"), ("sdr", "SDR")):
        table = _table(summary, metric, title)
        if table:
            lines += table + [""]
    open_rows = [(k, v["open_vocabulary"]) for k, v in summary["by_kind"].items() if "open_vocabulary" in v]
    if open_rows:
        lines += ["## Sound-effect labels never seen in training (open vocabulary)", "",
                  "| prompt | n | SI-SDRi (dB) | SI-SDR (dB) |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {k} | {v['n']} | {v['si_sdri']:.2f} | {v['si_sdr']:.2f} |" for k, v in open_rows]
        lines.append("")
    if summary["skipped"]:
        lines += ["Not scored: " + "; ".join(f"{k} ({why})" for k, why in summary["skipped"].items()), ""]
    return "\n".join(lines).rstrip() + "\n"


def _table(summary: dict[str, Any], metric: str, title: str) -> list[str]:
    by_kind = summary["by_kind"]
    if not any(metric in c for k in by_kind.values() for c in k["classes"].values()):
        return []
    header = f"| prompt | {' | '.join(CLASSES)} | mean over classes |"
    lines = [f"## {title} (dB, mean)", "", header, "|" + " --- |" + " ---: |" * (len(CLASSES) + 1)]
    for kind in PROMPT_KINDS:
        if kind not in by_kind:
            continue
        classes = by_kind[kind]["classes"]
        cells = [_cell(classes.get(c, {}).get(metric)) for c in CLASSES]
        lines.append(f"| {kind} | {' | '.join(cells)} | "
                     f"{_cell(by_kind[kind]['mean_over_classes'].get(metric))} |")
    if metric in ("si_sdr", "sdr") and summary["upper_bound"]:
        cells = [_cell(summary["upper_bound"].get(c, {}).get(metric)) for c in CLASSES]
        lines.append(f"| codec resynthesis (upper bound) | {' | '.join(cells)} | |")
    if metric == "si_sdr" and summary["mixture_baseline"]:
        cells = [_cell(summary["mixture_baseline"].get(c, {}).get("si_sdr")) for c in CLASSES]
        lines.append(f"| mixture as estimate (baseline) | {' | '.join(cells)} | |")
    return lines


def _cell(value) -> str:
    return "" if value is None else f"{value:.2f}"


def to_json(results: EvalResults) -> dict[str, Any]:
    return {"info": results.info, "summary": results.summary(), "rows": results.rows,
            "upper_bound": results.upper_bound}


def plot(results: EvalResults, path: str | os.PathLike) -> Path:
    """Box plots of SI-SDRi per class, one box per prompt kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [k for k in PROMPT_KINDS if any(r["kind"] == k for r in results.rows)]
    figure, axes = plt.subplots(1, len(CLASSES), figsize=(4 * len(CLASSES), 3.6), sharey=True)
    for axis, cls in zip(axes, CLASSES):
        data = [[r["si_sdri"] for r in results.rows if r["class"] == cls and r["kind"] == k] for k in kinds]
        if any(data):
            axis.boxplot([d if d else [float("nan")] for d in data], showmeans=True)
            axis.set_xticks(range(1, len(kinds) + 1), kinds, rotation=30)
        axis.axhline(0.0, color="grey", linewidth=0.8)
        axis.set_title(cls)
    axes[0].set_ylabel("SI-SDRi (dB)")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_report(results: EvalResults, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``results.md``, ``results.json`` and ``results.png`` into ``out_dir`` (atomically each)."""
    from codecsep_mm.audio import atomic_path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "results.md", "json": out / "results.json", "plot": out / "results.png"}
    with atomic_path(paths["markdown"]) as tmp:
        Path(tmp).write_text(to_markdown(results))
    with atomic_path(paths["json"]) as tmp:
        Path(tmp).write_text(json.dumps(to_json(results), indent=1))
    with atomic_path(paths["plot"]) as tmp:
        plot(results, tmp)
    return paths
