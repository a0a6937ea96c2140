"""Assemble the embedded default model ``codecsep_mm/pretrained/starter-16k`` from its training runs.

    python tools/build_starter_model.py runs/starter-16k/best [--codec runs/starter-codec/best/codec.pth]
        [--quantizer runs/starter-codec-kmeans/best/codec.pth]
        [--average runs/starter-16k/checkpoints/step-0003000 runs/starter-16k/checkpoints/step-0003250 ...]
        [--mask-floor 0.02] [--input-lufs -27] [--mask-power 0.8]

It takes the trained masker's model folder (MiniLM text prompts, the starter audio-query encoder, the
codec stored with it), optionally swaps in a later checkpoint of the codec run whose encoder is frozen
(``finetune.freeze: [encoder]``: the quantizer and decoder trained on while the masker trained on the
fixed latent; refused if the encoder differs) or only the quantizer of another codec run
(``--quantizer``: code-stream mode's; wave mode never uses it), optionally replaces the masker's weights by the mean
of several checkpoints of its run (``--average``; kept with ``run.keep_checkpoints``) or of several
model folders of one architecture (a fine-tune and its start: weight interpolation), adds image
prompts (``imagenet-image`` with a label bridge from its 1000 classes into MiniLM: the embeddings of
their names, or of their WordNet synonyms and glosses with ``--image-targets glosses``), optionally
sets the mask floor and mask power it separates with (``--mask-floor``, ``--mask-power``) and the loudness it separates each
window at (``--input-lufs``: that of the training mixtures; models trained before the trainer stored
it have none), and writes the folder with float16 weights. It prints the
folder's size, which must stay under 60 MB.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIMIT_MB = 60.0
DESCRIPTION = ("starter model trained on open-licence audio from Debian packages: DAC-architecture "
               "codec at 16 kHz, MiniLM text, starter audio queries, ImageNet image queries")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("masker_model", help="the masker run's model folder (OUT_DIR/best)")
    parser.add_argument("--codec", help="a later codec .pth of the same run (same, frozen encoder)")
    parser.add_argument("--quantizer", metavar="CODEC.pth",
                        help="take only the residual vector quantizer from this codec .pth (of the "
                             "same architecture; e.g. fitted with finetune.quantizer_init: kmeans), "
                             "keeping the encoder and decoder the masker was trained on")
    parser.add_argument("--average", nargs="+", metavar="CHECKPOINT",
                        help="masker weights (files, checkpoint folders or model folders) whose mean "
                             "replaces the masker's")
    parser.add_argument("--mask-floor", type=float, default=None, metavar="F",
                        help="the mask floor the model separates with (chosen on benchmarks/validmix)")
    parser.add_argument("--mask-power", type=float, default=None, metavar="P",
                        help="the power every mask is raised to before the floor (chosen on heldmix)")
    parser.add_argument("--input-lufs", type=float, default=None, metavar="LUFS",
                        help="the loudness each window is separated at (its training mixtures')")
    parser.add_argument("--image-targets", choices=("names", "glosses"), default="names",
                        help="what the image bridge embeds for each ImageNet class: its name, "
                             "or its synonyms and WordNet gloss")
    parser.add_argument("--out", default=str(REPO / "codecsep_mm" / "pretrained" / "starter-16k"))
    parser.add_argument("--name", default="starter-16k")
    args = parser.parse_args(argv)

    from codecsep_mm import Separator, prompts
    from codecsep_mm.codecs import create_codec
    from codecsep_mm.errors import CodecSepError
    from codecsep_mm.prompts.imagenet import SPACE, class_glosses, class_names
    from codecsep_mm.prompts.projection import LabelBridge
    from codecsep_mm.train.checkpoint import average_weights, load_weights

    separator = Separator.from_pretrained(args.masker_model)
    settings = {"mask_floor": args.mask_floor, "input_lufs": args.input_lufs, "mask_power": args.mask_power}
    overrides = {key: value for key, value in settings.items() if value is not None}
    try:
        separator.settings = dataclasses.replace(separator.settings, **overrides)
    except CodecSepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.average:
        try:
            load_weights(separator.masker, Path(args.average[0]), average_weights(args.average))
        except CodecSepError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"masker: the mean of {len(args.average)} sets of weights (checkpoints or model folders)")
    if args.codec:
        codec = create_codec(args.codec)
        old, new = separator.codec.model.state_dict(), codec.model.state_dict()
        changed = [k for k in old if k.startswith("encoder.") and (k not in new or not old[k].equal(new[k]))]
        if changed or set(old) != set(new):
            print(f"error: {args.codec} has another encoder than the masker was trained on "
                  f"({len(changed)} tensors differ, e.g. {changed[:1]}); keep it fixed while the "
                  "masker trains (train-codec with finetune.freeze: [encoder])", file=sys.stderr)
            return 2
        separator.codec = codec
    if args.quantizer:  # the donor codec, with the model's encoder and decoder put in
        donor = create_codec(args.quantizer)
        ours, theirs = separator.codec.model.state_dict(), donor.model.state_dict()
        if set(ours) != set(theirs) or any(value.shape != theirs[key].shape for key, value in ours.items()):
            print(f"error: {args.quantizer} has another architecture than the model's codec "
                  "(its quantizer's codebooks, sizes or dimensions, or its layers, differ)", file=sys.stderr)
            return 2
        donor.model.load_state_dict({k: theirs[k] if k.startswith("quantizer.") else v for k, v in ours.items()})
        separator.codec = donor
        print(f"quantizer: from {args.quantizer}")
    image = prompts.create("imagenet-image")
    descriptions = class_glosses() if args.image_targets == "glosses" else None
    bridge = LabelBridge.for_classifier(class_names(), separator.prompt_encoder, SPACE,
                                        descriptions)
    separator.add_prompt_encoder(image, bridge)
    separator.config = {**separator.config, "name": args.name, "description": DESCRIPTION}
    out = separator.save_pretrained(args.out, half=True)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    print(f"wrote {out}: {size:.1f} MB")
    for file in sorted(f for f in out.rglob("*") if f.is_file()):
        print(f"  {file.relative_to(out)}  {file.stat().st_size / 1e6:.2f} MB")
    if size > LIMIT_MB:
        print(f"error: {size:.1f} MB is over the {LIMIT_MB:.0f} MB limit for embedded weights", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
