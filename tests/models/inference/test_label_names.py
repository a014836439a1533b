"""A label is asked for by class name or index, with one rule for the service and the CLI."""

from __future__ import annotations

import pytest

from models.inference import SamplingError, label_index


def test_a_name_or_an_index_names_a_class() -> None:
    names = ("cats", "dogs")
    assert label_index("dogs", names, 2) == 1
    assert label_index("0", names, 2) == 0
    assert label_index(1, names, 2) == 1
    assert label_index(None, names, 2) is None


def test_a_name_wins_over_an_index() -> None:
    # Folders named "1" and "2" are labels 0 and 1: asked for by their names.
    assert label_index("1", ("1", "2"), 2) == 0
    assert label_index("0", ("1", "2"), 2) == 0  # no class is named "0": the index


@pytest.mark.parametrize(
    ("label", "names", "classes", "message"),
    [
        ("birds", ("cats", "dogs"), 2, "expected one of 'cats', 'dogs' or an index 0..1"),
        ("7", ("cats", "dogs"), 2, "expected one of 'cats', 'dogs' or an index 0..1"),
        ("7", None, 2, "label must be in 0..1, got 7"),
        ("٣", None, 10, "label must be in 0..9, got '٣'"),  # ASCII digits only
        ("cats", None, 0, "is unconditional and takes no label"),
        (3, None, 2, "label must be in 0..1, got 3"),
    ],
)
def test_what_names_no_class_is_refused_clearly(
    label: str | int, names: tuple[str, ...] | None, classes: int, message: str
) -> None:
    with pytest.raises(SamplingError, match=message.replace(".", r"\.").replace("(", r"\(")):
        label_index(label, names, classes)
