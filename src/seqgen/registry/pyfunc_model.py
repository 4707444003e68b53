"""The MLflow pyfunc of a seqgen model, logged as models-from-code: MLflow stores this file, not a
pickled object, and runs it at load time. The weights, tokenizer and configs come in as the artifact
"model" (a copy of models/<task>-<family>/ plus decoding.json).

predict: a list of strings, or a DataFrame with one column `text`, in, with optional params (the model's
ParamSchema: num_outputs, strategy, beam, temperature, top_k, top_p, latent, prior_scale, seed); out, for each
input, a list of num_outputs strings (best first for beam search). Dialogue inputs join their context turns with
" __eou__ ". Over REST: {"inputs": [...], "params": {"num_outputs": 3, "strategy": "sample"}} ->
{"predictions": [[...], ...]}. Bad input, a bad param value or an unknown param raises an MlflowException with
INVALID_PARAMETER_VALUE, which `mlflow models serve` answers with HTTP 400. The rules are in seqgen.inference.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

INPUT_COLUMN = "text"


class SeqgenModel(PythonModel):
    def load_context(self, context) -> None:
        from seqgen.inference import Generator

        self.generator = Generator(Path(context.artifacts["model"]))

    # The hint is what MLflow hands over after enforcing the signature (a list becomes a DataFrame). A DataFrame hint
    # also tells MLflow to infer nothing from it (the signature, with its ParamSchema, is written at registration),
    # so it no longer warns every consumer at load time that predict lacks type hints.
    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        from seqgen.inference import InputError

        try:
            return self.generator(to_texts(model_input), params)
        except InputError as err:
            raise MlflowException(str(err), error_code=INVALID_PARAMETER_VALUE) from None


def to_texts(model_input) -> list:
    """The input strings from whatever MLflow hands over: a list, or a DataFrame (MLflow turns a list
    into a DataFrame with column 0; users send column `text`)."""
    if isinstance(model_input, pd.DataFrame):
        columns = list(model_input.columns)
        if columns == [0] or columns == [INPUT_COLUMN]:
            return model_input.iloc[:, 0].tolist()
        raise MlflowException(f"expected one column {INPUT_COLUMN!r}, got columns {columns}", error_code=INVALID_PARAMETER_VALUE)
    if isinstance(model_input, pd.Series):
        return model_input.tolist()
    return model_input


def refuse_unknown_params() -> None:
    """MLflow drops a param the ParamSchema does not name, with only a warning in the server's log, so a typo such as
    `num_outptus` would be answered with the defaults as if it were fine. This wraps MLflow's params enforcement (a
    private hook of MLflow 3.17, called by PyFuncModel.predict, in process and under `mlflow models serve`) so that an
    unknown name is a client error, HTTP 400 over REST, like a bad value. It applies to every model with a ParamSchema
    in the process; without the hook (another MLflow) MLflow's own behaviour stays."""
    import mlflow.pyfunc as pyfunc

    enforce = getattr(pyfunc, "_enforce_params_schema", None)
    if enforce is None or getattr(enforce, "refuses_unknown", False):
        return

    def strict(params, schema):
        if isinstance(params, dict) and schema is not None:
            known = [spec.name for spec in schema.params]
            unknown = sorted(str(name) for name in params if str(name) not in known)
            if unknown:
                raise MlflowException(f"unknown param {unknown[0]!r}; the params are {', '.join(known)}", error_code=INVALID_PARAMETER_VALUE)
        return enforce(params, schema)

    strict.refuses_unknown = True
    pyfunc._enforce_params_schema = strict


refuse_unknown_params()
mlflow.models.set_model(SeqgenModel())
