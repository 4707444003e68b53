"""`seqgen web`: a web page (Gradio) for trying one task's champions side by side.

Type a sentence (translation) or a turn (dialogue, earlier turns joined with " __eou__ "); the page asks each
family's model (default: its champion, models:/<task>-<family>@champion) for its outputs with the same request
params and shows them in one column per family. A family whose model cannot be loaded shows why instead; a bad
request (e.g. num_outputs 0) shows the error message, never a traceback. Loaded once at start; no MLflow server is
needed (seqgen.tracking.configure: the project's SQLite store, or MLFLOW_TRACKING_URI). Nothing leaves the machine:
Gradio's analytics are off and there is no share link.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import os
import time
from pathlib import Path
from typing import Callable

from seqgen.commands import Predictor, load_predictor
from seqgen.errors import SeqgenError
from seqgen.families import NAMES as FAMILIES
from seqgen.inference import MAX_OUTPUTS, TURN_SEPARATOR, check_request

log = logging.getLogger(__name__)

MODEL_DEFAULT = "model default"  # a choice that leaves the param out of the request: the model's own default


@dataclasses.dataclass(frozen=True)
class Unavailable:
    """A family the page cannot ask: a short reason for its column, the full error behind a "details" toggle."""

    reason: str
    detail: str = ""


def champion_uri(task: str, family: str) -> str:
    return f"models:/{task}-{family}@champion"


def load_models(uris: dict[str, str], load: Callable[[str], Predictor] = load_predictor) -> dict[str, Predictor | Unavailable]:
    """family -> its predictor, or why it is not available."""
    models: dict[str, Predictor | Unavailable] = {}
    for family, uri in uris.items():
        if ":/" not in uri and not Path(uri).exists():  # a local path: say so, rather than ask MLflow about it
            models[family] = Unavailable(f"no model at {uri}")
            continue
        try:
            models[family] = load(uri)
        except SeqgenError as err:
            models[family] = Unavailable("no champion could be loaded" if uri.startswith("models:/") else "the model could not be loaded", str(err))
    return models


def request_params(num_outputs, strategy, temperature, top_p, latent) -> dict:
    """The request the page's controls describe; an empty field or "model default" leaves that param out
    (temperature and top_p are text fields: a number field in the browser cannot be left empty)."""
    params = {"num_outputs": num_outputs, "strategy": strategy, "latent": latent}
    for name, value in (("temperature", temperature), ("top_p", top_p)):
        value = (value or "").strip()
        try:
            params[name] = float(value) if value else None
        except ValueError:
            raise SeqgenError(f"param {name}: expected a number, got {value!r}") from None
    return {name: value for name, value in params.items() if value is not None and value != MODEL_DEFAULT}


def outputs_html(outputs: list[str]) -> str:
    items = "".join(f"<li>{html.escape(text)}</li>" for text in outputs)
    return f'<ol class="outputs">{items}</ol>'


def note_html(text: str, kind: str = "note") -> str:
    return f'<p class="{kind}">{html.escape(text)}</p>'


def unavailable_html(model: Unavailable) -> str:
    details = f"<details><summary>details</summary>{html.escape(model.detail)}</details>" if model.detail else ""
    return note_html(model.reason) + details


def refusal(models: dict[str, Predictor | Unavailable], message: str) -> tuple[str, list[str]]:
    """A request that reaches no model: its error, and only the notes of the unavailable families."""
    return note_html(f"error: {message}", "error"), [unavailable_html(m) if isinstance(m, Unavailable) else "" for m in models.values()]


def answer(models: dict[str, Predictor | Unavailable], text: str, params: dict) -> tuple[str, list[str]]:
    """(status line, one HTML block per family) for one request: every error as its message."""
    try:
        check_request(params)
    except ValueError as err:
        return refusal(models, str(err))
    if not (text or "").strip():
        return refusal(models, "type something first")
    start, errors, blocks = time.perf_counter(), [], []
    for family, model in models.items():
        if isinstance(model, Unavailable):
            blocks.append(unavailable_html(model))
            continue
        try:
            blocks.append(outputs_html(model([text], params)[0]))
        except SeqgenError as err:
            errors.append(str(err))
            blocks.append(note_html(f"error: {err}", "error"))
        except Exception as err:  # one broken model must not blank the others; the traceback goes to the server log
            log.exception("%s: unexpected error", family)
            errors.append(f"{family}: unexpected error ({type(err).__name__}; see the server log)")
            blocks.append(note_html(errors[-1], "error"))
    if errors:
        return note_html(f"error: {errors[0]}", "error"), blocks
    return note_html(f"answered in {time.perf_counter() - start:.1f} s", "done"), blocks


CSS = """.outputs li { margin: 0.3em 0; white-space: pre-wrap; }
.note { color: #666; font-style: italic; }
details { font-size: 0.85em; color: #666; }
.error { color: #b00020; font-weight: 600; }"""


def build_app(task: str, kind: str, models: dict[str, Predictor | Unavailable], uris: dict[str, str]):
    """The Gradio Blocks page for one task; `models` as load_models gives them, `uris` where each came from."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no calls home (version check, telemetry)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    import gradio as gr

    dialogue = kind == "dialogue"
    with gr.Blocks(title=f"seqgen: {task}", analytics_enabled=False) as app:
        gr.Markdown(f"## seqgen: the {task} models side by side\n"
                    + ("Type a turn; earlier turns of the conversation go before it, each followed by "
                       f"` {TURN_SEPARATOR} ` (oldest first)." if dialogue else "Type an English sentence to translate into German.")
                    + " Empty fields and *model default* take the model's own decoding settings.")
        text = gr.Textbox(label="your turn" if dialogue else "sentence", lines=2, elem_id="text",
                          placeholder=f"Hi, how are you? {TURN_SEPARATOR} Fine, thanks. And you?" if dialogue else "A man rides a bike down the street.")
        with gr.Row():
            num_outputs = gr.Number(3, label="outputs per model", info=f"1 to {MAX_OUTPUTS}", precision=0, elem_id="num_outputs")
            strategy = gr.Radio([MODEL_DEFAULT, "beam", "greedy", "sample"], value=MODEL_DEFAULT, label="decoding", elem_id="strategy",
                                info="beam: the n best; sample: n draws")
            temperature = gr.Textbox(label="temperature", info="sample: above 0", placeholder=MODEL_DEFAULT, elem_id="temperature")
            top_p = gr.Textbox(label="top p", info="sample: in (0, 1]", placeholder=MODEL_DEFAULT, elem_id="top_p")
            latent = gr.Radio([MODEL_DEFAULT, "mean", "sample"], value=MODEL_DEFAULT, label="VAE latent", elem_id="latent",
                              info="prior mean, or a draw per output")
        button = gr.Button("Reply" if dialogue else "Translate", variant="primary", elem_id="go")
        status = gr.HTML("", elem_id="status")
        columns = []
        with gr.Row():
            for family in models:
                with gr.Column(elem_id=f"family-{family}"):
                    gr.Markdown(f"### {family}\n`{uris[family]}`")
                    model = models[family]
                    columns.append(gr.HTML(unavailable_html(model) if isinstance(model, Unavailable) else "", elem_id=f"out-{family}"))

        def on_submit(text_value, n, strategy_value, temperature_value, top_p_value, latent_value):
            try:
                params = request_params(n, strategy_value, temperature_value, top_p_value, latent_value)
            except SeqgenError as err:
                line, blocks = refusal(models, str(err))
            else:
                line, blocks = answer(models, text_value, params)
            return [line, *blocks]

        controls = [text, num_outputs, strategy, temperature, top_p, latent]
        button.click(on_submit, controls, [status, *columns], api_visibility="private")
        text.submit(on_submit, controls, [status, *columns], api_visibility="private")
    return app


def serve(task: str, kind: str, overrides: dict[str, str], host: str, port: int) -> None:
    """Load the task's models (champions unless `overrides` names a URI or folder for a family) and serve the page
    until Ctrl-C."""
    uris = {family: overrides.get(family, champion_uri(task, family)) for family in FAMILIES}
    models = load_models(uris)
    for family, model in models.items():
        unavailable = f" (unavailable: {model.detail or model.reason})" if isinstance(model, Unavailable) else ""
        print(f"seqgen web: {family}: {uris[family]}{unavailable}", flush=True)
    app = build_app(task, kind, models, uris)
    app.launch(server_name=host, server_port=port, share=False, show_error=False, footer_links=[], css=CSS)
