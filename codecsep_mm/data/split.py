"""Train / valid / test assignment by recording group.

Rules (every file of a group lands in the same split):

1. A group with any file whose table row says ``test`` (or ``train`` or ``valid``) goes there
   whole. This holds out whole sources (two tuxpaint languages, ktuberling's English words,
   held-out soundtracks; the ``heldout`` package set in ``valid``) and the open-vocabulary
   sound-effect labels that training never sees.
2. Every other ("auto") group gets a stable pseudo-random number from ``sha256(seed, group)``: below
   ``valid_fraction`` it goes to valid; sound-effect groups in the next ``sfx_test_fraction`` go to
   test (held-out recordings of labels that training also sees); the rest to train. Speech and music
   test sets come from held-out sources only (rule 1).
3. A label all of whose auto groups missed train gets its lowest-numbered group moved to train, so
   the only labels absent from training are the ones the table holds out on purpose.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SplitConfig:
    seed: int = 0
    valid_fraction: float = 0.1
    sfx_test_fraction: float = 0.15


@dataclass(frozen=True)
class SplitItem:
    """What the splitter needs to know about one file."""

    cls: str
    label: str
    group: str
    rule_split: str  # "auto", "test", "train" or "valid"


def group_number(group: str, seed: int) -> float:
    """A stable number in [0, 1) for a group name."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(items: Sequence[SplitItem], config: SplitConfig = SplitConfig()) -> list[str]:
    """The split of every item, in order. Files of one group always share a split.

    Example:
        >>> items = [SplitItem("sfx", "dog", "g1", "auto"), SplitItem("sfx", "kettle", "g2", "test")]
        >>> assign_splits(items)
        ['train', 'test']
    """
    forced: dict[str, str] = {}
    classes: dict[str, set[str]] = defaultdict(set)
    for item in items:
        classes[item.group].add(item.cls)
        if item.rule_split != "auto":
            previous = forced.get(item.group)
            # test wins over train when a group is (wrongly) given both
            if previous != "test":
                forced[item.group] = item.rule_split
    group_split: dict[str, str] = {}
    for group, group_classes in classes.items():
        if group in forced:
            group_split[group] = forced[group]
            continue
        number = group_number(group, config.seed)
        test_fraction = config.sfx_test_fraction if group_classes == {"sfx"} else 0.0
        if number < config.valid_fraction:
            group_split[group] = "valid"
        elif number < config.valid_fraction + test_fraction:
            group_split[group] = "test"
        else:
            group_split[group] = "train"
    _ensure_train_per_label(items, forced, group_split, config.seed)
    return [group_split[item.group] for item in items]


def _ensure_train_per_label(items, forced, group_split, seed) -> None:
    auto_groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for item in items:
        if item.group not in forced:
            auto_groups[(item.cls, item.label)].add(item.group)
    for key in sorted(auto_groups):
        groups = auto_groups[key]
        if not any(group_split[g] == "train" for g in groups):
            chosen = min(groups, key=lambda g: group_number(g, seed))
            group_split[chosen] = "train"


def labels_only_in_test(records: Sequence) -> dict[str, list[str]]:
    """Per class, the labels that appear in the test split and in no other split.

    ``records`` are :class:`~codecsep_mm.data.manifest.SourceRecord` (anything with ``cls``,
    ``label`` and ``split``).
    """
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for record in records:
        seen[(record.cls, record.label)].add(record.split)
    found: dict[str, list[str]] = defaultdict(list)
    for (cls, label), splits in sorted(seen.items()):
        if splits == {"test"}:
            found[cls].append(label)
    return dict(found)
