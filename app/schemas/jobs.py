"""Training requests and job views."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from common.jobs import JobRecord
from models.training import TrainConfig

# Not settable over HTTP: `dataset_path` would let a client read any folder on the server
# (uploaded datasets are named instead), and `extra` is for engine-internal options.
_HIDDEN_FIELDS = frozenset({"dataset_path", "extra"})


def _train_request_model() -> type[BaseModel]:
    # Built from TrainConfig itself so the API never drifts from what the engine accepts.
    hints = typing.get_type_hints(TrainConfig)
    fields: dict[str, Any] = {}
    for spec in dataclasses.fields(TrainConfig):
        if spec.name in _HIDDEN_FIELDS:
            continue
        if spec.name == "name":
            fields["name"] = (
                str | None,
                Field(default=None, description="model name; default <dataset>-<arch>-<6 hex>"),
            )
        else:
            fields[spec.name] = (hints[spec.name], Field(default=spec.default))
    return create_model(
        "TrainRequest",
        __config__=ConfigDict(
            extra="forbid",
            strict=True,
            allow_inf_nan=False,
            json_schema_extra={"examples": [{"dataset": "digits", "architecture": "dcgan", "steps": 200}]},
        ),
        **fields,
    )


TrainRequest = _train_request_model()


class JobView(JobRecord):
    """A job record plus links to everything about it."""

    links: dict[str, str] = Field(description="self, events, cancel, samples, model")


class SampleLink(BaseModel):
    """One fixed-noise grid saved during training."""

    model_config = ConfigDict(frozen=True)

    step: int
    url: str
