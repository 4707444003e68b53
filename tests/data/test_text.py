from seqgen.text import CONTROL_CHARS, normalize, unwrap_tab_quoted


def test_normalize_composes_unicode_nfc():
    decomposed = "Ma\u0308nner"  # a + combining diaeresis
    assert normalize(decomposed) == "M\u00e4nner"


def test_normalize_folds_nbsp_tabs_and_runs_of_spaces():
    assert normalize("  Ein\u00a0Mann \t fährt\u2009Rad.  ") == "Ein Mann fährt Rad."


def test_normalize_folds_curly_apostrophes_but_keeps_german_quotes():
    assert normalize("I ’ ll go, don‘t") == "I ' ll go, don't"
    assert normalize("„Halt“") == "„Halt“"


def test_unwrap_tab_quoted_only_touches_quote_wrapped_tab_lines():
    line = '"Zwei Personen spielen in einer \tWasserfontäne."'
    assert normalize(unwrap_tab_quoted(line)) == "Zwei Personen spielen in einer Wasserfontäne."
    assert unwrap_tab_quoted('"Quoted" without a tab') == '"Quoted" without a tab'


def test_control_chars_pattern_flags_debris_not_text():
    assert CONTROL_CHARS.search("paint . \x7f")
    assert CONTROL_CHARS.search("bad \ufffd decode")
    assert not CONTROL_CHARS.search("Zwei Männer „gehen“ – ß ¥ 。")
