"""The MLflow pyfunc of a seqgen model, logged as models-from-code: MLflow stores this file, not a
pickled object, and runs it at load time. The weights, tokenizer and configs come in as the artifact
"model" (a copy of models/<task>-<family>/ plus decoding.json).

predict: a list of strings, or a DataFrame with one column `text`, in, with optional params (the model's
ParamSchema: num_outputs, strategy, beam, temperature, top_k, top_p, latent, prior_scale, seed); out, for each
input, a list of num_outputs strings (best first for beam search). Dialogue inputs join their context turns with
" __eou__ ". Over REST: {"inputs": [...], "params": {"num_outputs": 3, "strategy": "sample"}} ->
{"predictions": [[...], ...]}. Bad input, a bad param value or an unknown param raises an MlflowException with
INVALID_PARAMETER_VALUE, which `mlflow models serve` answers with HTTP 400. The rules are in seqgen.inference.
A non-string item (a number, null, a boolean, a nested list) is refused the same way in process and over REST.
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


def non_string_item(items) -> str | None:
    """The client error for the first item of `items` that is not a string, or None when all are strings."""
    for i, item in enumerate(items):
        if not isinstance(item, str):
            return f"input {i}: expected a string, got {type(item).__name__}"
    return None


def takes_strings(schema) -> bool:
    """Whether an input schema is ours: one string column (the hooks below leave every other model alone)."""
    from mlflow.types import DataType

    inputs = getattr(schema, "inputs", None) or []
    return len(inputs) == 1 and getattr(inputs[0], "type", None) == DataType.string


def request_items(payload: dict) -> list:
    """The input items of a JSON request body as the client sent them, before MLflow parses them: the list of
    `inputs`/`instances` (records {"text": ...} unwrapped, or the column of {"text": [...]}), or the cells of a
    `dataframe_split`/`dataframe_records` frame. Anything else is left to MLflow's own parsing (empty list)."""
    for key in ("inputs", "instances"):
        if key in payload:
            value = payload[key]
            if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), list):
                return next(iter(value.values()))
            if isinstance(value, list):
                return [item[INPUT_COLUMN] if isinstance(item, dict) and list(item) == [INPUT_COLUMN] else item for item in value]
            return []
    frame = payload.get("dataframe_split")
    if isinstance(frame, dict) and isinstance(frame.get("data"), list):
        return [cell for row in frame["data"] for cell in (row if isinstance(row, list) else [row])]
    records = payload.get("dataframe_records")
    if isinstance(records, list):
        return [cell for record in records for cell in (record.values() if isinstance(record, dict) else [record])]
    return []


def refuse_non_strings() -> None:
    """MLflow's server coerces JSON scalars to the signature's string type before the model sees them, so
    {"inputs": [1]}, [null] and [true] would be answered as translations of "1", "None" and "True", while the model
    in process refuses them. These wrap two private hooks of MLflow 3.17 so that both refuse a non-string item with
    the same client error (HTTP 400 over REST), for models whose input is one string column:
    scoring_server.infer_and_parse_data (the raw JSON body, before coercion) and pyfunc._validate_prediction_input
    (what PyFuncModel.predict is given, before schema enforcement). Without the hooks (another MLflow) MLflow's own
    behaviour stays."""
    import mlflow.pyfunc as pyfunc
    from mlflow.pyfunc import scoring_server

    parse = getattr(scoring_server, "infer_and_parse_data", None)
    if parse is not None and not getattr(parse, "refuses_non_strings", False):
        def strict_parse(data, schema=None):
            if isinstance(data, dict) and takes_strings(schema) and (message := non_string_item(request_items(data))):
                raise MlflowException(message, error_code=INVALID_PARAMETER_VALUE)
            return parse(data, schema)

        strict_parse.refuses_non_strings = True
        scoring_server.infer_and_parse_data = strict_parse

    validate = getattr(pyfunc, "_validate_prediction_input", None)
    if validate is not None and not getattr(validate, "refuses_non_strings", False):
        def strict_validate(data, params, input_schema, params_schema, *args, **kwargs):
            if takes_strings(input_schema):
                items = data.to_numpy().ravel().tolist() if isinstance(data, pd.DataFrame) else data
                if isinstance(items, (list, pd.Series)) and (message := non_string_item(list(items))):
                    raise MlflowException(message, error_code=INVALID_PARAMETER_VALUE)
            return validate(data, params, input_schema, params_schema, *args, **kwargs)

        strict_validate.refuses_non_strings = True
        pyfunc._validate_prediction_input = strict_validate


refuse_unknown_params()
refuse_non_strings()
mlflow.models.set_model(SeqgenModel())
