"""What a masker training step costs on this machine, and what ``run.linear_encoder`` saves.

For a model's codec and masker (default: the embedded ``starter-16k``) and one batch like its
training batches (``--batch`` mixtures of 3 sources, ``--seconds`` each), prints the time of

- encoding the mixtures and the stems with the codec's encoder (DAC's layers, as the trainer does
  without ``run.linear_encoder``);
- encoding the stems with the encoder's strided-convolution equivalent
  (:func:`codecsep_mm.codecs.linear.linearize_encoder`), and how far it is from the encoder (dB);
- the masker's forward and backward pass over the batch's stems;

each the median of ``--repeats`` runs, on ``--threads`` threads. Random audio and prompt vectors:
the cost does not depend on the values.

Usage:
    python benchmarks/training_step.py [--model starter-16k] [--batch 6] [--seconds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="starter-16k")
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import torch

    from codecsep_mm import Separator
    from codecsep_mm.codecs.linear import linearize_encoder

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    separator = Separator.from_pretrained(args.model)
    codec, masker = separator.codec, separator.masker.float().train()
    n_samples = int(args.seconds * codec.sample_rate)
    stems = 0.05 * torch.randn(args.batch * 3, 1, n_samples)
    mixtures = stems.view(args.batch, 3, n_samples).sum(1, keepdim=True)
    cond = torch.nn.functional.normalize(torch.randn(args.batch * 3, masker.config.cond_dim), dim=-1)

    start = time.perf_counter()
    linear = linearize_encoder(codec)
    build_seconds = time.perf_counter() - start
    with torch.no_grad():
        dac_seconds = timed(lambda: (codec.encode(mixtures), codec.encode(stems)), args.repeats)
        linear_seconds = timed(lambda: linear(stems), args.repeats)
        latent = linear(stems)

    def masker_step():
        masker.zero_grad(set_to_none=True)
        masked = latent * masker(latent, cond)
        masked.pow(2).mean().backward()

    masker_seconds = timed(masker_step, args.repeats)
    print(f"model {args.model}: batch {args.batch} x 3 stems x {args.seconds:g} s, "
          f"{args.threads} threads, median of {args.repeats}")
    print(f"linear equivalent: kernel {tuple(linear.kernel.shape)}, error {linear.error_db:.1f} dB, "
          f"built in {build_seconds:.1f} s")
    print(f"encode mixtures + stems, DAC layers:   {dac_seconds:.3f} s")
    print(f"encode stems, strided convolution:     {linear_seconds:.3f} s "
          f"({dac_seconds / linear_seconds:.0f}x faster)")
    print(f"masker forward + backward:             {masker_seconds:.3f} s")
    print(f"step without / with run.linear_encoder: {dac_seconds + masker_seconds:.2f} s / "
          f"{linear_seconds + masker_seconds:.2f} s (data loading and the optimizer not counted)")


if __name__ == "__main__":
    main()
