"""Text normalisation shared by ingest, tokenization and the serving path.

Every string that enters a model goes through `normalize` once, so training data and user input
look the same to the tokenizer (SentencePiece runs with its own normalisation switched off).
"""

from __future__ import annotations

import re
import unicodedata

# Apostrophe look-alikes (DailyDialog mixes U+2019 with ASCII '); quotes such as German „ “ are kept.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'"})
# Any run of Unicode whitespace (TAB, U+00A0, U+2009, ...) becomes one ASCII space.
_WHITESPACE = re.compile(r"\s+", flags=re.UNICODE)
# C0/C1 control characters, DEL and the U+FFFD replacement character (the trace of a bad decode).
# Whitespace controls (TAB, LF, CR) are already gone after normalize(), so any match is debris.
CONTROL_CHARS = re.compile("[\u0000-\u001f\u007f-\u009f\ufffd]")


def normalize(text: str) -> str:
    """NFC, apostrophes folded to ASCII, whitespace collapsed to single spaces, ends stripped."""
    text = unicodedata.normalize("NFC", text)
    text = text.translate(_APOSTROPHES)
    return _WHITESPACE.sub(" ", text).strip()


def unwrap_tab_quoted(line: str) -> str:
    """Undo a spreadsheet-export artefact: a line holding a TAB was written wrapped in double quotes.

    Multi30k train.de line 7366 is `"Zwei ... einer <TAB>Wasserfontäne."`; the quotes are not part of
    the sentence (the English side has none).
    """
    if "\t" in line and len(line) >= 2 and line[0] == '"' and line[-1] == '"':
        return line[1:-1]
    return line
