import subprocess
import sys

import pytest

from seqgen.evaluation.metrics import corpus_bleu, corpus_chrf, distinct_n, multi_sample_bleu

REFERENCES = [
    "Ein Mann mit einem orangefarbenen Hut starrt auf etwas.",
    "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
    "Eine Gruppe von Männern lädt Baumwolle auf einen Lastwagen.",
]
HYPOTHESES = [
    "Ein Mann mit orangefarbenem Hut starrt etwas an.",
    "Zwei junge Männer sind draußen in der Nähe von Büschen.",
    "Eine Gruppe Männer lädt Baumwolle auf einen Lastwagen.",
]


def test_references_against_themselves_score_100():
    bleu, signature = corpus_bleu(REFERENCES, REFERENCES)
    assert bleu == pytest.approx(100.0)
    assert signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.")
    assert corpus_chrf(REFERENCES, REFERENCES)[0] == pytest.approx(100.0)


def test_bleu_agrees_with_the_sacrebleu_command_line(tmp_path):
    (tmp_path / "ref.txt").write_text("\n".join(REFERENCES) + "\n")
    (tmp_path / "hyp.txt").write_text("\n".join(HYPOTHESES) + "\n")
    cli = subprocess.run([sys.executable, "-m", "sacrebleu", str(tmp_path / "ref.txt"), "-i", str(tmp_path / "hyp.txt"), "-b", "-w", "4"],
                         capture_output=True, text=True, check=True)
    assert corpus_bleu(HYPOTHESES, REFERENCES)[0] == pytest.approx(float(cli.stdout.strip()), abs=1e-4)
    assert 10 < float(cli.stdout) < 90


def test_distinct_n_on_a_hand_example():
    sentences = ["i am fine", "i am ok"]
    assert distinct_n(sentences, 1) == pytest.approx(4 / 6)  # i, am, fine, ok of 6 tokens
    assert distinct_n(sentences, 2) == pytest.approx(3 / 4)  # (i am), (am fine), (am ok) of 4 bigrams
    assert distinct_n([], 2) == 0.0


def test_multi_sample_bleu_recall_is_the_best_sample_precision_the_mean():
    reference = "how about going to the cinema tonight ?"
    perfect = multi_sample_bleu([[reference, reference]], [reference])
    assert perfect == {"bleu_precision": pytest.approx(1.0), "bleu_recall": pytest.approx(1.0), "bleu_f1": pytest.approx(1.0)}
    mixed = multi_sample_bleu([[reference, "no thanks ."]], [reference])
    assert mixed["bleu_recall"] == pytest.approx(1.0)
    assert mixed["bleu_precision"] < 0.6
    assert mixed["bleu_precision"] < mixed["bleu_f1"] < mixed["bleu_recall"]
