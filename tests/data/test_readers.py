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
