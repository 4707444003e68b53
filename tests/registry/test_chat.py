"""`seqgen chat` on a tiny dialogue model trained on real DailyDialog turns: a REPL over stdin."""

from __future__ import annotations

import subprocess
import sys

import pytest

from seqgen.inference import TURN_SEPARATOR, Generator, InputError, check_inputs, split_turns
from seqgen.training.job import train
from tiny import tiny_params


@pytest.fixture(scope="module")
def dialogue_model(dialogue_ws):
    train("dialogue", "mle", tiny_params("dialogue", steps=200), root=dialogue_ws)
    return dialogue_ws / "models" / "dialogue-mle"


def chat(model, stdin: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seqgen.cli", "chat", "--model", str(model), *args], input=stdin, capture_output=True, text=True, timeout=300)


def test_chat_answers_each_line_with_the_last_turns_as_context(dialogue_model):
    result = chat(dialogue_model, "Hello , how are you today ?\nWhat do you want to eat ?\n/reset\nGood morning .\n")
    assert result.returncode == 0, result.stderr
    replies = result.stdout.splitlines()
    assert len(replies) == 3 and all(reply.strip() for reply in replies)
    # The second reply saw the first exchange: the same line without context may be answered differently,
    # but it must be what the model gives for that context.
    generator = Generator(dialogue_model)
    first = generator(["Hello , how are you today ?"])[0][0]
    assert replies[0] == first
    assert replies[1] == generator([f"Hello , how are you today ? {TURN_SEPARATOR} {first} {TURN_SEPARATOR} What do you want to eat ?"])[0][0]
    assert replies[2] == generator(["Good morning ."])[0][0]  # /reset forgot the context
    assert not any(" ." in reply or " ?" in reply for reply in replies)  # read as a person writes, not DailyDialog's spacing


def test_chat_samples_several_replies_and_goes_on_from_the_first(dialogue_model):
    result = chat(dialogue_model, "Hello , how are you today ?\nWhat do you want to eat ?\n", "--sample", "--num-outputs", "3", "--seed", "9")
    assert result.returncode == 0, result.stderr
    first_turn, second_turn = result.stdout.split("\n\n")[:2]
    generator = Generator(dialogue_model)
    params = {"strategy": "sample", "num_outputs": 3, "seed": 9}
    expected = generator(["Hello , how are you today ?"], params)[0]
    assert first_turn.splitlines() == expected
    context = f"Hello , how are you today ? {TURN_SEPARATOR} {expected[0]} {TURN_SEPARATOR} What do you want to eat ?"
    assert second_turn.splitlines() == generator([context], params)[0]
    bad = chat(dialogue_model, "Hi .\n", "--top-p", "1.5")
    assert bad.returncode == 1 and "param top_p" in bad.stderr


def test_chat_stops_at_an_empty_line_and_rejects_a_bad_model_path(dialogue_model, tmp_path):
    assert chat(dialogue_model, "\nHello there , my friend .\n").stdout == ""
    missing = chat(tmp_path / "nowhere", "hi\n")
    assert missing.returncode == 1 and "cannot load model" in missing.stderr


def test_input_rules():
    assert split_turns(f"Hi . {TURN_SEPARATOR}  Fine , thanks .  ") == ["Hi .", "Fine , thanks ."]
    assert check_inputs(["  Two\u00a0dogs \u2019run\u2019\n"]) == ["Two dogs 'run'"]
    for bad in ("a string", [], [TURN_SEPARATOR], [b"bytes"], ["x"] * 1001, [{"text": "a"}]):
        with pytest.raises(InputError):
            check_inputs(bad)
