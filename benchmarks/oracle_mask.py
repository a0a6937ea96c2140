"""How well could a perfect masker do on this codec's latent? Oracle masks, scored like ``codecsep-mm eval``.

A separator's masker can only scale each latent coefficient of the mixture by a value in [0, 1]
(``separation.mask_floor`` lifts it to ``f + (1 - f) * m``). This script computes, from the true
stems, the masks a perfect masker would give, applies them to the mixture's latent and decodes:

- ``best``: for each coefficient the value in [0, 1] closest to the stem's coefficient,
  ``clip(z_stem / z_mix, 0, 1)`` (the most any mask in the masker's range can give, per coefficient);
- ``ratio``: the magnitude ratio ``|z_stem| / sum_j |z_j|`` (an ideal ratio mask, blind to signs).

Each is scored against the reference stem as ``codecsep-mm eval`` scores (SI-SDRi in 10 s chunks, mean
over the classes of per-class means), also with the model's stored mask floor. The gap between these
figures and a trained model's is what the masker and its training leave on the table; the gap between
them and the codec-resynthesis upper bound is what masking the latent costs. The oracle uses the
reference stems, so it is a bound, not a model: running it on openmix chooses nothing.

Usage:
    python benchmarks/oracle_mask.py --model starter-16k --manifest /work/openmix-rendered/mixtures.jsonl \\
        [--limit 100]
"""

from __future__ import annotations

import argparse
import collections
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def oracle_masks(mix_latent, stem_latents):
    """``(d, t)`` mixture latent, ``(n, d, t)`` stem latents -> ``{"best", "ratio"}`` masks ``(n, d, t)``,
    each in [0, 1]."""
    import torch

    safe = torch.where(mix_latent.abs() > 1e-8, mix_latent, torch.full_like(mix_latent, 1e-8))
    best = (stem_latents / safe).clamp(0.0, 1.0)
    magnitudes = stem_latents.abs()
    ratio = magnitudes / magnitudes.sum(0, keepdim=True).clamp_min(1e-8)
    return {"best": best, "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="starter-16k")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import numpy as np
    import torch

    from codecsep_mm import Separator
    from codecsep_mm.audio import load_audio, resample
    from codecsep_mm.data.manifest import CLASSES, read_mixtures
    from codecsep_mm.eval.metrics import mono, score
    from codecsep_mm.eval.report import class_means_line

    if args.threads:
        torch.set_num_threads(args.threads)
    separator = Separator.from_pretrained(args.model)
    codec, floor = separator.codec, separator.settings.mask_floor
    floors = sorted({0.0, floor})
    scores: dict[tuple, list[float]] = collections.defaultdict(list)
    records = read_mixtures(args.manifest)[: args.limit]
    for record in records:
        mixture, rate = load_audio(record.mixture)
        references = [load_audio(s.path)[0] for s in record.sources]
        signals = np.stack([mono(x) for x in [mixture, *references]])
        at_codec = resample(signals, rate, codec.sample_rate).astype(np.float32)
        with torch.inference_mode():
            latents = codec.encode(torch.from_numpy(at_codec)[:, None].to(separator.device))
            masks = oracle_masks(latents[0], latents[1:])
            for name, mask in masks.items():
                for f in floors:
                    stems = (f + (1.0 - f) * mask) * latents[0][None]
                    decoded = codec.decode(stems)[:, 0, : at_codec.shape[-1]].cpu().numpy()
                    estimates = resample(decoded, codec.sample_rate, rate)
                    for index, source in enumerate(record.sources):
                        value = score(estimates[index], references[index], mixture, rate, 10.0,
                                      with_sdr=False)["si_sdri"]
                        scores[(name, f, source.cls)].append(value)
    print(f"oracle masks on the latent of {args.model}'s codec, {len(records)} mixtures of {args.manifest}")
    print("mean SI-SDRi (dB), speech / music / sfx, and the mean over the classes")
    for name in ("best", "ratio"):
        for f in floors:
            by_class = {c: scores[(name, f, c)] for c in CLASSES}
            print(class_means_line(f"{name:5s} mask, floor {f:.3f}:", by_class), flush=True)


if __name__ == "__main__":
    main()
