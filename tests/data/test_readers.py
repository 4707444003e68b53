import gzip
import shutil

import pytest

from helpers import MULTI30K_GZ, TAB_LINE, make_dailydialog_slice, read_gz_lines, write_gz_lines, write_zip_lines, zip_member
from seqgen.data import readers
from seqgen.errors import DataError


def test_multi30k_slice_reads_every_split_aligned(raw_slices):
    pairs = readers.read_multi30k(raw_slices / "multi30k", "en", "de")
    assert set(pairs) == {"train", "valid", "test", "test2017"}
    assert len(pairs["train"]) == 401 and len(pairs["test"]) == 40
    assert pairs["train"][0] == (
        "Two young, White males are outside near many bushes.",
        "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
    )


def test_multi30k_full_train_keeps_the_tab_line_raw_for_ingest():
    (en, de) = readers.read_multi30k(MULTI30K_GZ, "en", "de")["train"][TAB_LINE - 1]
    assert en == "Two males and one female playing in a fountain of water."
    assert de.startswith('"Zwei') and "\t" in de


def test_dailydialog_splits_on_eou_and_drops_the_trailing_piece(raw_slices):
    dialogues = readers.read_dailydialog(raw_slices / "dailydialog")
    assert set(dialogues) == {"train", "valid", "test"}
    first = dialogues["test"][0]
    assert first[0] == "Hey man , you wanna buy some weed ?"
    assert first[-1] == "I want you to put your hands behind your head ! You are under arrest !"
    assert all(u for d in dialogues["train"] for u in d)


def test_truncated_gzip_is_named(tmp_path, raw_slices):
    shutil.copytree(raw_slices / "multi30k", tmp_path / "m")
    path = tmp_path / "m" / "val.de.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match=r"val\.de\.gz: truncated gzip"):
        readers.read_multi30k(tmp_path / "m", "en", "de")


def test_misaligned_parallel_files_are_named(tmp_path, raw_slices):
    shutil.copytree(raw_slices / "multi30k", tmp_path / "m")
    lines = read_gz_lines(tmp_path / "m" / "test_2016_flickr.en.gz")
    write_gz_lines(tmp_path / "m" / "test_2016_flickr.en.gz", lines[:-1])
    with pytest.raises(DataError, match=r"test_2016_flickr\.en\.gz has 39 lines but .*test_2016_flickr\.de\.gz has 40"):
        readers.read_multi30k(tmp_path / "m", "en", "de")


def test_non_utf8_bytes_are_reported_with_file_and_line(tmp_path, raw_slices):
    shutil.copytree(raw_slices / "multi30k", tmp_path / "m")
    lines = read_gz_lines(tmp_path / "m" / "val.de.gz")
    lines[6] = "Ein Mann mit Hut läuft.".encode("latin-1")
    write_gz_lines(tmp_path / "m" / "val.de.gz", lines)
    with pytest.raises(DataError, match=r"val\.de\.gz: line 7 is not valid UTF-8"):
        readers.read_multi30k(tmp_path / "m", "en", "de")


def test_missing_file_is_named(tmp_path, raw_slices):
    shutil.copytree(raw_slices / "multi30k", tmp_path / "m")
    (tmp_path / "m" / "test_2017_flickr.de.gz").unlink()
    with pytest.raises(DataError, match=r"test_2017_flickr\.de\.gz: file not found"):
        readers.read_multi30k(tmp_path / "m", "en", "de")


def test_zip_missing_its_split_member_is_named(tmp_path):
    make_dailydialog_slice(tmp_path / "d", train=5, evaluation=5)
    write_zip_lines(tmp_path / "d" / "validation.zip", "validation/dialogues_act_validation.txt", [b"1 2"])
    with pytest.raises(DataError, match=r"validation\.zip: member 'validation/dialogues_validation\.txt' is missing"):
        readers.read_dailydialog(tmp_path / "d")


def test_not_a_zip_is_named(tmp_path):
    make_dailydialog_slice(tmp_path / "d", train=5, evaluation=5)
    (tmp_path / "d" / "test.zip").write_bytes(gzip.compress(b"hello"))
    with pytest.raises(DataError, match=r"test\.zip: not a readable zip archive"):
        readers.read_dailydialog(tmp_path / "d")


def test_dialogue_line_without_separator_is_named(tmp_path):
    make_dailydialog_slice(tmp_path / "d", train=5, evaluation=5)
    write_zip_lines(tmp_path / "d" / "train.zip", zip_member("train"), [b"Hello . __eou__ Hi ! __eou__", b"no separator here"])
    with pytest.raises(DataError, match=r"train\.zip:train/dialogues_train\.txt line 2: no '__eou__'"):
        readers.read_dailydialog(tmp_path / "d")


# ---- the formats a task of one's own may use, on slices of the real corpora ----------------------------------
def multi30k_pairs(raw_slices, stem: str = "val", n: int = 20) -> list[tuple[str, str]]:
    return readers.read_multi30k(raw_slices / "multi30k", "en", "de", {"x": stem})["x"][:n]


def test_multi30k_layout_reads_uncompressed_files_and_other_split_names(tmp_path, raw_slices):
    for lang in ("en", "de"):
        (tmp_path / f"dev.{lang}").write_bytes(b"\n".join(read_gz_lines(raw_slices / "multi30k" / f"val.{lang}.gz")) + b"\n")
    pairs = readers.read_multi30k(tmp_path, "de", "en", {"valid": "dev"})
    assert pairs["valid"][:20] == [(de, en) for en, de in multi30k_pairs(raw_slices)]


@pytest.mark.parametrize("delimiter, name", [("\t", "pairs.tsv"), (",", "pairs.csv")])
def test_tsv_and_csv_read_the_named_columns_in_any_order(tmp_path, raw_slices, delimiter, name):
    import csv

    pairs = multi30k_pairs(raw_slices)
    with open(tmp_path / name, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
        writer.writerow(["id", "german", "english"])
        writer.writerows((i, de, en) for i, (en, de) in enumerate(pairs))
    read = readers.read_delimited(tmp_path, {"train": name}, {"source": "english", "target": "german"}, delimiter)
    assert read["train"] == pairs  # CSV quoting of the commas in Multi30k's sentences comes back as it went in


def test_a_missing_column_and_a_short_row_are_named_with_file_and_line(tmp_path):
    (tmp_path / "a.tsv").write_text("en\tfr\nA dog.\tUn chien.\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"a\.tsv line 1: no column 'de' in the header \['en', 'fr'\]"):
        readers.read_delimited(tmp_path, {"train": "a.tsv"}, {"source": "en", "target": "de"}, "\t")
    (tmp_path / "b.tsv").write_text("en\tde\nA dog.\tEin Hund.\nA cat.\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"b\.tsv line 3: 1 fields, the header has 2"):
        readers.read_delimited(tmp_path, {"train": "b.tsv"}, {"source": "en", "target": "de"}, "\t")
    with pytest.raises(DataError, match=r"c\.tsv: file not found"):
        readers.read_delimited(tmp_path, {"test": "c.tsv"}, {"source": "en", "target": "de"}, "\t")


def test_jsonl_pairs_and_their_bad_lines(tmp_path, raw_slices):
    import json

    pairs = multi30k_pairs(raw_slices)
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"src": en, "tgt": de}) + "\n" for en, de in pairs), encoding="utf-8")
    assert readers.read_jsonl_pairs(tmp_path, {"train": "p.jsonl"}, {"source": "src", "target": "tgt"})["train"] == pairs
    (tmp_path / "bad.jsonl").write_text('{"src": "A dog.", "tgt": "Ein Hund."}\n{"src": "A cat."}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl line 2: expected an object with string fields 'src' and 'tgt'"):
        readers.read_jsonl_pairs(tmp_path, {"train": "bad.jsonl"}, {"source": "src", "target": "tgt"})
    (tmp_path / "broken.jsonl").write_text('{"src": "A dog.", "tgt": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.jsonl line 1: not JSON"):
        readers.read_jsonl_pairs(tmp_path, {"train": "broken.jsonl"}, {"source": "src", "target": "tgt"})


def test_jsonl_dialogues_read_like_dailydialog(tmp_path, raw_slices):
    import json

    dialogues = readers.read_dailydialog(raw_slices / "dailydialog")["test"]
    (tmp_path / "test.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(d) + "\n" for d in dialogues).encode(), mtime=0))
    assert readers.read_jsonl_dialogues(tmp_path, {"test": "test.jsonl.gz"})["test"] == dialogues
    (tmp_path / "one.jsonl").write_text('["Hi .", "Hello !"]\n["Only one turn ."]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"one\.jsonl line 2: expected a JSON list of at least two turns"):
        readers.read_jsonl_dialogues(tmp_path, {"train": "one.jsonl"})
