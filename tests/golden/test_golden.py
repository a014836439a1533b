"""The bytes of every golden case still hash to what tests/golden/hashes.json recorded.

A mismatch means a served or written image changed by even one bit. If that was intended,
re-record (docs/golden-hashes.md) and say why in the commit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# Imported so pytest finds the fixtures here, outside tests/app (make_client needs data_dir).
from tests.app.conftest import MakeClient, data_dir, make_client  # noqa: F401
from tests.golden.cases import (
    RECORD_COMMAND,
    ROOT,
    Case,
    ShippedModel,
    client_settings,
    load_records,
    model_hashes,
    serving_form,
    shipped_models,
)

MODELS = shipped_models()
PARAMS = [pytest.param(model, case, id=f"{model.name}/{case.id}") for model in MODELS for case in model.cases]
# One render of all of a model's cases serves all of its tests: a client and a model load per
# case would take most of the time budget. A render that failed is kept as its message, so the
# model's other tests report it at once instead of rendering again.
_computed: dict[str, dict[str, str] | str] = {}


def _hashes(model: ShippedModel, request: pytest.FixtureRequest, workdir: Path) -> dict[str, str]:
    if model.name not in _computed:
        _computed[model.name] = f"{model.name}: rendering failed in an earlier test of this model"
        # Asked for only here, so the tests answered from the cache start no app.
        make: MakeClient = request.getfixturevalue("make_client")
        _computed[model.name] = model_hashes(model, make(**client_settings(model)), workdir)
    computed = _computed[model.name]
    if isinstance(computed, str):
        pytest.fail(computed)
    return computed


@pytest.mark.parametrize(("model", "case"), PARAMS)
def test_bytes_match_the_record(
    model: ShippedModel,
    case: Case,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    form = serving_form()
    records = load_records().get(form)
    if records is None:
        pytest.skip(f"no golden hashes for serving form {form!r}; record them with {RECORD_COMMAND}")
    recorded = records.get(model.content_sha256)
    if recorded is None:
        pytest.fail(
            f"{model.name}: no golden hashes for checkpoint content {model.content_sha256} "
            f"({model.checkpoint.relative_to(ROOT)}) "
            f"in form {form!r}: the model was retrained or replaced. Re-record with {RECORD_COMMAND} "
            "and say why in the commit."
        )
    expected = recorded.get(case.id)
    if expected is None:
        pytest.fail(f"{model.name}/{case.id}: case has no recorded hash; re-record with {RECORD_COMMAND}")
    actual = _hashes(model, request, tmp_path)[case.id]
    assert actual == expected, (
        f"{model.name}/{case.id}: bytes changed: expected sha256 {expected}, got {actual} "
        f"(form {form!r}, checkpoint {model.content_sha256})"
    )


# Every CLI case and the HTTP case it mirrors ("cli-x" and "get-x").
TWINS = [
    pytest.param(model, case.id, "get-" + case.id.removeprefix("cli-"), id=f"{model.name}/{case.id}")
    for model in MODELS
    for case in model.cases
    if case.kind == "cli"
]


@pytest.mark.parametrize(("model", "cli_case", "http_case"), TWINS)
def test_cli_writes_the_bytes_its_http_twin_serves(
    model: ShippedModel, cli_case: str, http_case: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # One sampling contract (models.inference) behind both surfaces, label rule included: an
    # unlabelled `ganserve interpolate` on a conditional model used to give every frame the
    # start seed's class while GET /interpolate switches to the end seed's class halfway, so
    # their strips differed (issue 15). Compared as rendered, so it holds on any serving form.
    hashes = _hashes(model, request, tmp_path)
    assert hashes[cli_case] == hashes[http_case], f"{model.name}: {cli_case} differs from {http_case}"
