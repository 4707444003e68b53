"""Ways a corpus goes wrong as a whole while every row stays valid: the catalogue docs/RELIABILITY.md lists, applied
to the official raw files (Multi30k's `<stem>.<lang>.gz`, DailyDialog's `<split>.zip`) by the tests and by
bench/bench_drift.py. Not used by the pipeline.

Each corruption keeps every row clean for the row-wise checks: non-empty, no markup or control characters,
plausible length, not a copy, not swapped, unique, not leaked. Only the drift checks against the last accepted
data version see them; `expected` names the drift statistic (the measured column) that stops each.
"""

from __future__ import annotations

import dataclasses
import random
import re
from pathlib import Path
from typing import Callable

from seqgen.sandbox import read_gz_lines, read_zip_lines, write_gz_lines, write_zip_lines, zip_member

Pairs = tuple[list[str], list[str]]  # (source lines, target lines) of a Multi30k split
Dialogues = list[list[str]]  # the turns of each dialogue of a DailyDialog split


@dataclasses.dataclass(frozen=True)
class Corruption:
    name: str
    what: str  # how it happens in real life
    apply: Callable  # translation: (sources, targets) -> (sources, targets); dialogue: dialogues -> dialogues
    expected: tuple[str, ...]  # the measured columns whose drift expectation must fail


def _shift_targets(pairs: Pairs) -> Pairs:
    sources, targets = pairs
    return sources, targets[1:] + targets[:1]


def _shuffle_a_third(pairs: Pairs) -> Pairs:
    sources, targets = pairs
    third = len(targets) // 3
    head = targets[:third]
    random.Random(0).shuffle(head)
    return sources, head + targets[third:]


def _first_half(text: str) -> str:
    words = text.split()
    return " ".join(words[: max(1, len(words) // 2)])


def _mojibake(text: str) -> str:
    """UTF-8 bytes read as Windows-1252 (the classic 'fÃ¼r' for 'für')."""
    return text.encode("utf-8").decode("cp1252", errors="replace").replace("\ufffd", "?")


ASCII_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})
PUNCTUATION = re.compile(r"([.,!?;:\"()])")


def _tokenise(text: str) -> str:
    """Moses-like tokenisation: punctuation split off the words ("bike." -> "bike .")."""
    return " ".join(PUNCTUATION.sub(r" \1 ", text).split())


def _each(fn: Callable[[str], str], sides: str = "both") -> Callable[[Pairs], Pairs]:
    def apply(pairs: Pairs) -> Pairs:
        sources, targets = pairs
        return ([fn(s) for s in sources] if sides == "both" else sources), [fn(t) for t in targets]

    return apply


def _english_targets(pairs: Pairs) -> Pairs:
    """The target file replaced by English sentences of other pairs (a wrong export; not copies of their sources)."""
    sources, _ = pairs
    return sources, sources[7:] + sources[:7]


TRANSLATION = [
    Corruption("target file shifted by one line", "a line dropped at the top of one side of a parallel file",
               _shift_targets, ("log_length_ratio", "shared_words")),
    Corruption("a third of the pairs shuffled", "a sort or a merge that reordered one side of a block",
               _shuffle_a_third, ("log_length_ratio",)),
    Corruption("targets cut short", "a column-width export that cut each target after half its words",
               _each(_first_half, "target"), ("target_tokens", "log_length_ratio")),
    Corruption("lower-cased", "a normalisation step meant for BLEU applied to the training data",
               _each(str.lower), ("source_upper", "target_upper")),
    Corruption("mojibake in the target", "UTF-8 read as Windows-1252 on the way ('fÃ¼r')",
               _each(_mojibake, "target"), ("target_oov",)),
    Corruption("umlauts folded to ASCII", "a transliteration step ('fuer', 'Strasse')",
               _each(lambda t: t.translate(ASCII_FOLD), "target"), ("target_non_ascii",)),
    Corruption("target side in the wrong language", "the English file exported twice under the German name",
               _english_targets, ("target_reads_as_language", "target_oov")),
    Corruption("tokenised text", "a Moses-tokenised release in place of the raw one",
               _each(_tokenise), ("source_oov",)),
]


def _responses_from_another_dialogue(dialogues: Dialogues) -> Dialogues:
    """The second speaker's turns of each dialogue come from the next dialogue (the speakers' turns kept apart and
    joined again on a shifted dialogue id): every turn now answers a turn of another dialogue."""
    joined = []
    for i, d in enumerate(dialogues):
        other = dialogues[(i + 1) % len(dialogues)]
        joined.append([d[t] if t % 2 == 0 or t >= len(other) else other[t] for t in range(len(d))])
    return joined


def _merge_turn_pairs(dialogues: Dialogues) -> Dialogues:
    """The turn separator lost between every second turn: two turns read as one."""
    merged = []
    for d in dialogues:
        turns = [" ".join(d[i:i + 2]) for i in range(0, len(d), 2)]
        merged.append(turns if len(turns) > 1 else d)
    return merged


def _detokenise(text: str) -> str:
    """DailyDialog's tokenised text ("I ' m fine .") written naturally ("I'm fine.")."""
    text = re.sub(r" ([.,!?;:])", r"\1", text)
    return re.sub(r" ?' ?", "'", text)


def _turns(fn: Callable[[str], str]) -> Callable[[Dialogues], Dialogues]:
    return lambda dialogues: [[fn(turn) for turn in d] for d in dialogues]


def _german_turns(german: list[str]) -> Callable[[Dialogues], Dialogues]:
    """Every turn replaced by a German sentence (another language's corpus under this one's name)."""
    def apply(dialogues: Dialogues) -> Dialogues:
        lines = iter(german * (1 + sum(map(len, dialogues)) // max(1, len(german))))
        return [[next(lines) for _ in d] for d in dialogues]

    return apply


def dialogue_corruptions(german: list[str]) -> list[Corruption]:
    """The dialogue catalogue; `german`: sentences of another language (Multi30k's German side)."""
    return [
        Corruption("responses from another dialogue", "dialogue turns joined to the wrong dialogue by a shifted key",
                   _responses_from_another_dialogue, ("shared_words",)),
        Corruption("lower-cased", "a normalisation step applied to the training data",
                   _turns(str.lower), ("source_upper", "target_upper")),
        Corruption("turns cut short", "an export that kept the first four words of each turn",
                   _turns(lambda t: " ".join(t.split()[:4])), ("source_tokens", "target_tokens")),
        Corruption("turn separators lost", "every second __eou__ dropped: two turns read as one",
                   _merge_turn_pairs, ("context_turns", "target_tokens")),
        Corruption("detokenised release", "a release written naturally ('I'm fine.') in place of the tokenised one",
                   _turns(_detokenise), ("target_oov",)),
        Corruption("another language", "a German corpus imported under this task's name",
                   _german_turns(german), ("target_reads_as_language", "target_oov")),
        Corruption("every digit replaced", "an anonymisation step that masked numbers (prices, times, phone numbers)",
                   _turns(lambda t: re.sub(r"[0-9]", "#", t)), ("target_digit",)),
    ]


# ---- applying them to the official raw files -------------------------------------------------------------

def corrupt_multi30k(folder: Path, stem: str, corruption: Corruption, langs: tuple[str, str] = ("en", "de")) -> None:
    """Apply a translation corruption to `<folder>/<stem>.<lang>.gz` in place."""
    files = [folder / f"{stem}.{lang}.gz" for lang in langs]
    sources, targets = ([line.decode("utf-8") for line in read_gz_lines(f)] for f in files)
    for path, lines in zip(files, corruption.apply((sources, targets))):
        write_gz_lines(path, [line.encode("utf-8") for line in lines])


def corrupt_dailydialog(folder: Path, split: str, corruption: Corruption) -> None:
    """Apply a dialogue corruption to `<folder>/<split>.zip` in place (`split`: train, validation or test)."""
    from seqgen.data.readers import split_dialogue

    path, member = folder / f"{split}.zip", zip_member(split)
    dialogues = [split_dialogue(line.decode("utf-8")) for line in read_zip_lines(path, member)]
    lines = ["".join(f" {turn} __eou__" for turn in d).strip() for d in corruption.apply(dialogues)]
    write_zip_lines(path, member, [line.encode("utf-8") for line in lines])
