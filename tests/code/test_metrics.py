import math
import subprocess
import sys

import pytest

from seqgen.evaluation.metrics import (
    corpus_bleu, corpus_chrf, dialog_distinct, dialogwae_sentence_bleu, distinct_n, multi_sample_bleu, pairwise_bleu, tokenised_lowercased_bleu,
    word_punct_tokens,
)

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


def test_tokenised_lowercased_bleu_folds_case_and_splits_as_moses_does():
    # The published Multi30k convention: case folds, and Moses splits the German "z.B." and "Nähe," as tokenizer.perl does.
    hypotheses = ["EIN MANN STARRT AUF ETWAS, Z.B. EINEN HUT."]
    references = ["Ein Mann starrt auf etwas, z.B. einen Hut."]
    bleu, signature = tokenised_lowercased_bleu(hypotheses, references, "de")
    assert bleu == pytest.approx(100.0) and corpus_bleu(hypotheses, references)[0] < 50  # cased 13a matches only the punctuation
    assert signature.startswith("pretok:moses-de(sacremoses ") and "|nrefs:1|case:lc|eff:no|tok:none|smooth:exp|" in signature
    # Same words, one lost comma: below 100, and equal to multi-bleu's score of the Moses tokens written by hand.
    import sacrebleu

    lost = tokenised_lowercased_bleu(["ein mann starrt auf etwas z.B. einen hut ."], references, "de")[0]
    by_hand = sacrebleu.corpus_bleu(["ein mann starrt auf etwas z.B. einen hut ."], [["ein mann starrt auf etwas , z.B. einen hut ."]], tokenize="none").score
    assert lost < 100 and lost == pytest.approx(by_hand)


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
    exact = dialogwae_sentence_bleu(word_punct_tokens(reference), word_punct_tokens(reference))
    assert exact == pytest.approx(1.0, abs=0.25)  # method 5 smoothing moves even an exact match off 1.0
    perfect = multi_sample_bleu([[reference, reference]], [reference])
    for suffix in ("", "_nltk34"):  # no zero n-gram counts in an exact match: both smoothings agree
        for key in ("bleu_precision", "bleu_recall", "bleu_f1"):
            assert perfect[key + suffix] == pytest.approx(exact)
    mixed = multi_sample_bleu([[reference, "no thanks ."]], [reference])
    assert mixed["bleu_recall"] == pytest.approx(exact)
    assert mixed["bleu_precision"] == pytest.approx(exact / 2)  # "no thanks ." shares no word: 0
    assert mixed["bleu_precision"] < mixed["bleu_f1"] < mixed["bleu_recall"]


def test_dialogwae_sentence_bleu_by_hand():
    # hypothesis "what ?" (2 tokens), reference "some what ?" (3): unigram precision 2/2, bigram 1/1, no trigram
    # (method 4 turns 0/1 into ln(2)/10), no 5-gram (0); method 5 averages each order with its neighbours.
    p1 = (1 + 1 + 1 + 1) / 3
    p2 = (p1 + 1 + math.log(2) / 10) / 3
    p3 = (p2 + math.log(2) / 10 + 0) / 3
    expected = math.exp(1 - 3 / 2) * (p1 * p2 * p3) ** (1 / 3)
    assert dialogwae_sentence_bleu(["what", "?"], ["some", "what", "?"]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("hypothesis", "reference", "nltk"), [
    # NLTK 3.10.4: sentence_bleu([ref], hyp, smoothing_function=SmoothingFunction().method7, weights=[1/3] * 3) on
    # WordPunctTokenizer().tokenize(text.lower()), DialogWAE's call (the same on 4,205 DailyDialog pairs, 1e-16)
    ("I am fine, thank you.", "i am fine , thanks .", 0.5931351351922857),
    ("What?", "Some what ?", 0.41038122325513815),
    ("yes", "no , thanks", 0.0),
    ("the the the the", "the cat is on the mat", 0.1550583845114637),
])
def test_dialogwae_sentence_bleu_matches_nltk_method7(hypothesis, reference, nltk):
    score = dialogwae_sentence_bleu(word_punct_tokens(hypothesis), word_punct_tokens(reference))
    assert score == pytest.approx(nltk, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("hypothesis", "reference", "nltk"), [
    # NLTK 3.4.5 (pre-3.5 method 4, as DialogWAE's published scores had it), the same call in DialogWAE's
    # try/except (an exception scores 0); the same on 4,000 DailyDialog test pairs to 2e-16
    ("I am fine, thank you.", "i am fine , thanks .", 0.5931351351922857),
    ("What?", "Some what ?", 0.4207073472231299),
    ("the the the the", "the cat is on the mat", 0.22615757771565864),
    ("how much is it ?", "it is ten dollars .", 0.3641329860559311),
    ("yes", "yes , thanks", 0.0),  # ZeroDivisionError in NLTK 3.4.5: ln(1) = 0
])
def test_dialogwae_sentence_bleu_nltk34_matches_nltk_3_4_5(hypothesis, reference, nltk):
    score = dialogwae_sentence_bleu(word_punct_tokens(hypothesis), word_punct_tokens(reference), nltk34=True)
    assert score == pytest.approx(nltk, rel=1e-12, abs=1e-15)


def test_multi_sample_bleu_reports_both_smoothings_and_the_old_one_is_higher_on_partial_matches():
    found = multi_sample_bleu([["how much is it ?", "i don't know ."]], ["it is ten dollars ."])
    assert found["bleu_f1_nltk34"] > found["bleu_f1"] > 0
    assert found["bleu_recall_nltk34"] == pytest.approx(0.3641329860559311, rel=1e-12)


def test_word_punct_tokens_lower_case_and_split_punctuation_runs():
    assert word_punct_tokens("I'm fine... Thanks!") == ["i", "'", "m", "fine", "...", "thanks", "!"]
    assert dialogwae_sentence_bleu([], ["a"]) == 0.0


def test_pairwise_bleu_is_100_for_identical_samples_and_falls_as_they_differ():
    same = pairwise_bleu([HYPOTHESES, HYPOTHESES, HYPOTHESES])
    assert same == pytest.approx(100.0)
    mixed = pairwise_bleu([HYPOTHESES, REFERENCES])
    assert mixed == pytest.approx((corpus_bleu(HYPOTHESES, REFERENCES)[0] + corpus_bleu(REFERENCES, HYPOTHESES)[0]) / 2)
    assert 0 < mixed < same
    with pytest.raises(ValueError, match="needs 2 or more"):
        pairwise_bleu([HYPOTHESES])  # one output per source: nothing to compare


def test_dialogwae_intra_and_inter_distinct_on_a_hand_example():
    # Context 1: two responses; "i am fine ." has 4 distinct unigrams of 4 and 3 bigrams of 3; "i am i am" 2 of 4 and
    # 2 of 3 ("i am", "am i"). Together: unigrams {i, am, fine, .} 4 of 8, bigrams {i am, am fine, fine ., am i} 4 of 6.
    # Context 2: one response repeated twice: intra 1, inter 1/2 (unigrams) and 1/2 (bigrams, 1 distinct of 2).
    found = dialog_distinct([["I am fine.", "i am i am"], ["ok thanks", "ok thanks"]])
    assert found["intra_distinct_1"] == pytest.approx((1 + 0.5 + 1 + 1) / 4)
    assert found["intra_distinct_2"] == pytest.approx((1 + 2 / 3 + 1 + 1) / 4)
    assert found["inter_distinct_1"] == pytest.approx((4 / 8 + 2 / 4) / 2)
    assert found["inter_distinct_2"] == pytest.approx((4 / 6 + 1 / 2) / 2)
    assert dialog_distinct([["", ""]])["inter_distinct_2"] == 0.0  # empty responses score 0, not a division by zero
