"""Class labels of a conditional model's images: the default rule and the checks, in one place.

The rule (the one the service has always served, and the CLI, evaluation and the training
timeline follow):

* a grid of seeds: tile ``i`` of seed ``s`` gets ``s % num_classes``, so a grid shows every
  class and a tile is still exactly the image of its seed asked for alone;
* explicit latent vectors: row ``i`` gets ``i % num_classes``;
* an interpolation from ``start`` to ``end`` in ``steps`` frames: frames ``i < steps / 2`` get
  the start seed's class, the rest the end seed's, so both end frames equal their seed's image;
* an asked-for label goes to every image instead; an unconditional model takes none;
* a label is asked for by class name or index (``label_index``): a name wins over an index.

Cluster codes of a self-conditioned model are not labels: the generator reads its code from the
latent itself (``models.architectures.info_code``: argmax of its first k components), so they
follow the seed; ``models.inference.seeds`` keeps those components out of truncation and switches
them halfway through an interpolation, the rule labels follow here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from common.names import parse_ascii_int


class SamplingError(ValueError):
    """A request that does not fit the model (label range, vector length, ...)."""


def check_labels(
    labels: Sequence[int] | None, count: int, num_classes: int, *, subject: str = "this model"
) -> None:
    """Reject labels an unconditional model cannot take, or a conditional one does not know.

    Args:
        labels: one label per image, or None (the default rule).
        count: images in the request.
        num_classes: the model's classes (0: unconditional).
        subject: how messages name the model, e.g. ``"model 'mnist'"``.

    Raises:
        SamplingError: the labels do not fit.
    """
    if labels is None:
        return
    if num_classes == 0:
        raise SamplingError(f"{subject} is unconditional and takes no label")
    if len(labels) != count:
        raise SamplingError(f"expected {count} labels, one per image, got {len(labels)}")
    for label in labels:
        if not 0 <= label < num_classes:
            raise SamplingError(f"label must be in 0..{num_classes - 1}, got {label}")


def check_label(label: int | None, num_classes: int, *, subject: str = "this model") -> None:
    """:func:`check_labels` for one label meant for every image (None: the default rule)."""
    check_labels(None if label is None else [label], 1, num_classes, subject=subject)


def label_index(
    label: str | int | None,
    class_names: Sequence[str] | None,
    num_classes: int,
    *,
    subject: str = "this model",
) -> int | None:
    """The class index a request's ``label`` names: a class name, or an index in ASCII digits.

    A class name wins over an index, so folders named "1" and "2" are asked for by their names.

    Raises:
        SamplingError: no class has that name or index (the message lists the valid ones), or
            the model is unconditional.
    """
    if label is None:
        return None
    if isinstance(label, int):
        check_label(label, num_classes, subject=subject)
        return label
    if num_classes == 0:
        raise SamplingError(f"{subject} is unconditional and takes no label")
    names = list(class_names or ())
    if label in names and len(names) == num_classes:
        return names.index(label)
    index = parse_ascii_int(label)
    if index is not None and index < num_classes:
        return index
    if len(names) != num_classes:  # a model whose class names are not known
        shown = label if index is not None else repr(label[:64])
        raise SamplingError(f"label must be in 0..{num_classes - 1}, got {shown}")
    raise SamplingError(
        f"unknown label {label[:64]!r} for {subject}: expected one of "
        + ", ".join(repr(name) for name in names)
        + f" or an index 0..{num_classes - 1}"
    )


def seed_labels(
    seeds: Sequence[int], num_classes: int, label: int | None = None, *, subject: str = "this model"
) -> list[int] | None:
    """Labels of a grid of ``seeds``: ``label`` for every tile, else ``seed % num_classes``.

    Returns None for an unconditional model. Raises :class:`SamplingError` for a label that
    does not fit.
    """
    check_label(label, num_classes, subject=subject)
    if not num_classes:
        return None
    if label is not None:
        return [label] * len(seeds)
    return [seed % num_classes for seed in seeds]


def latent_labels(
    count: int, num_classes: int, labels: Sequence[int] | None = None, *, subject: str = "this model"
) -> list[int] | None:
    """Labels of ``count`` explicit latent vectors: ``labels`` (checked), else ``i % num_classes``."""
    check_labels(labels, count, num_classes, subject=subject)
    if labels is not None:
        return list(labels)
    return [index % num_classes for index in range(count)] if num_classes else None


def interpolation_labels(
    start: int,
    end: int,
    steps: int,
    num_classes: int,
    label: int | None = None,
    *,
    subject: str = "this model",
) -> list[int] | None:
    """Labels of the ``steps`` frames from seed ``start`` to ``end``: ``label`` for every frame,
    else the start seed's class for the first half and the end seed's for the rest."""
    if label is not None or not num_classes:
        return seed_labels([start] * steps, num_classes, label, subject=subject)
    first, last = start % num_classes, end % num_classes
    return [first if index < steps / 2 else last for index in range(steps)]


def label_tensor(labels: Sequence[int] | None) -> torch.Tensor | None:
    """``labels`` as the int64 tensor a generator takes (None stays None)."""
    return None if labels is None else torch.tensor(labels, dtype=torch.int64)
