"""The MLflow pyfunc of a seqgen model, logged as models-from-code: MLflow stores this file, not a
pickled object, and runs it at load time. The weights, tokenizer and configs come in as the artifact
"model" (a copy of models/<task>-<family>/ plus decoding.json).

predict: a list of strings, or a DataFrame with one column `text`, in; a list of strings out (one
translation or response per input). Dialogue inputs join their context turns with " __eou__ ".
Bad input raises an MlflowException with INVALID_PARAMETER_VALUE, which `mlflow models serve`
answers with HTTP 400. The rules are in seqgen.inference.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

INPUT_COLUMN = "text"


class SeqgenModel(PythonModel):
    def load_context(self, context) -> None:
        from seqgen.inference import Generator

        self.generator = Generator(Path(context.artifacts["model"]))

    def predict(self, context, model_input, params=None) -> list[str]:
        from seqgen.inference import InputError

        try:
            return self.generator(to_texts(model_input))
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
