"""The curated label table: installed path pattern -> class, label, caption, split rule, group.

The table (``labels.tsv`` beside this module) was written by hand from the file and folder names of
the packages. It has tab-separated columns::

    package  pattern  class  label  caption  split  group

* ``package`` — a package name (shell wildcards allowed);
* ``pattern`` — a Python regular expression searched in the installed path (archive members are
  ``<archive>/<member>``); named groups become placeholders;
* ``class`` — ``speech``, ``music``, ``sfx``, or ``skip`` (matched files are left out);
* ``label`` / ``caption`` — templates. Placeholders: any named group of the pattern, ``{lang}``
  (the language name of the ``lang`` group), ``{title}`` (the file name made readable) and
  ``{transcript}`` (tuxpaint's sentence for that language). Alternatives are separated by ``|``;
  the first whose placeholders all resolve is used;
* ``split`` — ``auto`` (assigned by recording group), ``test`` (held out: whole sources, or labels
  never seen in training), ``train``, or ``valid`` (held-out sources to choose models on: the
  ``heldout`` package set, never trained on);
* ``group`` — a template for the recording group (groups may span packages, e.g. one speaker), or
  ``-`` for the default: ``<package>:<path>`` with trailing digits and left/right/size suffixes
  removed.

The first matching row wins; files that match no row are not used.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from codecsep_mm.data.packages import CorpusError, PackageFile

TABLE_COLUMNS = ("package", "pattern", "class", "label", "caption", "split", "group")
RULE_CLASSES = ("speech", "music", "sfx", "skip")
RULE_SPLITS = ("auto", "test", "train", "valid")
LANGUAGES = {
    "ar": "Arabic",
    "be": "Belarusian",
    "bg": "Bulgarian",
    "ca": "Catalan",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "en_GB": "British English",
    "en_US": "American English",
    "es": "Spanish",
    "fi": "Finnish",
    "fr": "French",
    "ga": "Irish",
    "gl": "Galician",
    "he": "Hebrew",
    "hu": "Hungarian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "lt": "Lithuanian",
    "ml": "Malayalam",
    "nb": "Norwegian",
    "nds": "Low German",
    "nl": "Dutch",
    "nn": "Norwegian",
    "pt": "Portuguese",
    "pt_BR": "Brazilian Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sl": "Slovenian",
    "sr": "Serbian",
    "sv": "Swedish",
    "tn": "Tswana",
    "uk": "Ukrainian",
    "wa": "Walloon",
    "zh_tw": "Mandarin Chinese",
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_GROUP_SUFFIX = re.compile(
    r"([-_ .]?\d+|[-_ .](left|right|small|big|large|open|closed|soft|hard|short|long|[a-z]))+$"
)


@dataclass(frozen=True)
class LabelRule:
    package: str
    pattern: re.Pattern
    cls: str
    label: str
    caption: str
    split: str
    group: str
    line: int


@dataclass(frozen=True)
class Labelled:
    """What the table says about one file."""

    cls: str
    label: str
    caption: str
    split: str
    group: str
    rule_line: int


class LabelTable:
    """An ordered list of :class:`LabelRule`; :meth:`resolve` labels one package file."""

    def __init__(self, rules: list[LabelRule], source: str = "labels.tsv"):
        self.rules = rules
        self.source = source

    def rules_for(self, package: str) -> list[LabelRule]:
        return [r for r in self.rules if fnmatch.fnmatchcase(package, r.package)]

    def resolve(self, file: PackageFile) -> Labelled | None:
        """The label of ``file`` from the first matching rule, or None (skipped or unmatched)."""
        for rule in self.rules_for(file.package):
            match = rule.pattern.search(file.path)
            if match is None:
                continue
            if rule.cls == "skip":
                return None
            values = _values(file, match)
            label = _fill(rule.label, values)
            caption = _fill(rule.caption, values)
            if label is None or caption is None:
                raise CorpusError(
                    f"{self.source}:{rule.line}: cannot fill {rule.label!r} / {rule.caption!r} "
                    f"for {file.path}; add an alternative after '|'"
                )
            group = _fill(rule.group, values) if rule.group != "-" else None
            if group is None:
                group = f"{file.package}:{default_group(file.path)}"
            return Labelled(
                cls=rule.cls,
                label=label,
                caption=caption,
                split=rule.split,
                group=group,
                rule_line=rule.line,
            )
        return None


def default_group(path: str) -> str:
    """The recording group of a path: its folder and stem without take numbers or variants.

    Example:
        >>> default_group("/a/ambient/rain_03.ogg") == default_group("/a/ambient/rain_01.ogg")
        True
        >>> default_group("/a/bat_left.ogg")
        '/a/bat'
    """
    p = Path(path)
    stem = p.stem.lower()
    trimmed = _GROUP_SUFFIX.sub("", stem) or stem
    return f"{p.parent.as_posix()}/{trimmed}"


def load_label_table(path: str | Path | None = None) -> LabelTable:
    """Read a label table (default: the committed ``labels.tsv``).

    Raises:
        CorpusError: naming the line of a malformed row.
    """
    if path is None:
        text = resources.files("codecsep_mm.data").joinpath("labels.tsv").read_text("utf-8")
        source = "labels.tsv"
    else:
        path = Path(path)
        if not path.is_file():
            raise CorpusError(f"{path}: no such label table; check the path")
        text, source = path.read_text("utf-8"), str(path)
    return LabelTable(_parse(text, source), source)


@lru_cache(maxsize=1)
def default_label_table() -> LabelTable:
    return load_label_table()


def _parse(text: str, source: str) -> list[LabelRule]:
    rules = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        where = f"{source}:{line_no}"
        if len(cells) != len(TABLE_COLUMNS):
            raise CorpusError(
                f"{where}: expected {len(TABLE_COLUMNS)} tab-separated columns "
                f"{list(TABLE_COLUMNS)}, got {len(cells)}"
            )
        package, pattern, cls, label, caption, split, group = (c.strip() for c in cells)
        if cls not in RULE_CLASSES:
            raise CorpusError(f"{where}: class {cls!r} is not one of {list(RULE_CLASSES)}")
        if split not in RULE_SPLITS:
            raise CorpusError(f"{where}: split {split!r} is not one of {list(RULE_SPLITS)}")
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            raise CorpusError(f"{where}: bad regular expression {pattern!r} ({error})") from error
        rules.append(LabelRule(package, compiled, cls, label, caption, split, group, line_no))
    if not rules:
        raise CorpusError(f"{source}: the label table has no rules")
    return rules


def _values(file: PackageFile, match: re.Match) -> dict[str, str]:
    values = {k: v for k, v in match.groupdict().items() if v is not None}
    values["title"] = _title(Path(file.path).stem)
    values["package"] = file.package
    code = values.get("lang")
    if code is not None:
        values["lang_code"] = code
        name = LANGUAGES.get(code) or LANGUAGES.get(code.split("_")[0])
        if name:
            values["lang"] = name
        else:
            values.pop("lang")
    transcript = _tuxpaint_transcript(file, code)
    if transcript:
        values["transcript"] = transcript
    for key in ("word", "name"):
        if key in values:
            values[key] = _title(values[key])
    return values


def _fill(template: str, values: dict[str, str]) -> str | None:
    for option in template.split("|"):
        names = _PLACEHOLDER.findall(option)
        if all(n in values for n in names):
            return _PLACEHOLDER.sub(lambda m: values[m.group(1)], option).strip()
    return None


def _title(stem: str) -> str:
    words = re.sub(r"[_\-.]+", " ", stem)
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", words)
    words = re.sub(r"\s*\d+$", "", words).strip()
    return words.lower() or stem.lower()


def _tuxpaint_transcript(file: PackageFile, code: str | None) -> str | None:
    """The sentence of a tuxpaint ``NAME_desc_LANG.ogg`` clip, from ``NAME.txt``."""
    name = Path(file.path).name
    if "_desc" not in name:
        return None
    text_file = file.sibling(name.split("_desc")[0] + ".txt")
    if text_file is None:
        return None
    lines = text_file.read_text("utf-8", errors="replace").splitlines()
    if not lines:
        return None
    if code in (None, "", "en", "en_US"):
        return _clean_sentence(lines[0])
    prefix = f"{code}.utf8="
    for line in lines[1:]:
        if line.startswith(prefix):
            return _clean_sentence(line[len(prefix) :])
    return None


def _clean_sentence(text: str) -> str | None:
    text = text.strip().strip("|").strip().replace('"', "'")
    return text or None
