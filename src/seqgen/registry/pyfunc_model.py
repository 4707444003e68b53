"""The MLflow pyfunc of a seqgen model, logged as models-from-code: MLflow stores this file, not a
pickled object, and runs it at load time. The weights, tokenizer and configs come in as the artifact
"model" (a copy of models/<task>-<family>/ plus decoding.json).

predict: a list of strings, or a DataFrame with one column `text`, in, with optional params (the model's
ParamSchema: num_outputs, strategy, beam, temperature, top_k, top_p, latent, prior_scale, seed); out, for each
input, a list of num_outputs strings (best first for beam search). Dialogue inputs join their context turns with
" __eou__ ". Over REST: {"inputs": [...], "params": {"num_outputs": 3, "strategy": "sample"}} ->
{"predictions": [[...], ...]}. Bad input or a bad param value raises an MlflowException with
INVALID_PARAMETER_VALUE, which `mlflow models serve` answers with HTTP 400. The rules are in seqgen.inference.
"""

from __future__ import annotations

import warnings
from pathlib import Path

# MLflow asks every PythonModel for predict type hints; this model's signature is written at registration
# instead (with its ParamSchema), so the advice is not its consumer's to act on.
warnings.filterwarnings("ignore", message=".*type hint", category=UserWarning)

import mlflow  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE  # noqa: E402
from mlflow.pyfunc import PythonModel  # noqa: E402

INPUT_COLUMN = "text"


class SeqgenModel(PythonModel):
    def load_context(self, context) -> None:
        from seqgen.inference import Generator

        self.generator = Generator(Path(context.artifacts["model"]))

    def predict(self, context, model_input, params=None):
        from seqgen.inference import InputError

        try:
            return self.generator(to_texts(model_input), params)
        except InputError as err:
            raise MlflowException(str(err), error_code=INVALID_PARAMETER_VALUE) from None


def to_texts(model_input) -> list:
    """The input strings from whatever MLflow hands over: a list, or a DataFrame (MLflow turns a list
    into a DataFrame with column 0; users send column `text`)."""
    import pandas as pd

    if isinstance(model_input, pd.DataFrame):
        columns = list(model_input.columns)
        if columns == [0] or columns == [INPUT_COLUMN]:
            return model_input.iloc[:, 0].tolist()
        raise MlflowException(f"expected one column {INPUT_COLUMN!r}, got columns {columns}", error_code=INVALID_PARAMETER_VALUE)
    if isinstance(model_input, pd.Series):
        return model_input.tolist()
    return model_input


mlflow.models.set_model(SeqgenModel())
