"""Regenerate the committed openmix recipe from a full corpus (fixed seed; same corpus -> same file).

    codecsep-mm data build --set full --out /work/corpus
    python benchmarks/openmix/make_recipe.py --corpus /work/corpus

is the same as ``codecsep-mm data make-recipe --corpus CORPUS --out benchmarks/openmix/recipe.jsonl
--n 300 --seconds 5 --seed 20250917``; it writes ``recipe.jsonl`` and ``recipe.meta.json`` here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from codecsep_mm.data.recipe import RecipeConfig, make_recipe, recipe_meta, write_recipe

HERE = Path(__file__).resolve().parent
CONFIG = RecipeConfig(n_mixtures=300, seconds=5.0, seed=20250917, max_gain_db=5.0, prefix="openmix")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="a corpus built with --set full")
    parser.add_argument("--out", default=str(HERE / "recipe.jsonl"))
    args = parser.parse_args()
    lines = make_recipe(args.corpus, CONFIG)
    path = write_recipe(lines, args.out, meta=recipe_meta(args.corpus, CONFIG, lines))
    print(f"recipe: {len(lines)} mixtures in {path}")


if __name__ == "__main__":
    main()
