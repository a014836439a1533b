"""What the one pass over an upload found: counts, sizes, channels, classes, and what was left out.

The class rule is the folder loader's (``models/data/folder.py``): when any top-level folder
holds an image, each such folder is a class and images lying beside them have none, so training
would skip them; they are left out here too, with that reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from models.data.image_files import NOT_AN_IMAGE, ImageFacts

NOT_IN_A_CLASS = "not in a class folder"
# Examples of left-out files kept in the record: enough to see what went wrong, never a flood.
MAX_EXAMPLES = 5


@dataclass
class ExtractionReport:
    """How many images were kept and what they are like; how many files were left out and why."""

    images: int
    skipped: int
    classes: list[str] = field(default_factory=list)
    class_counts: dict[str, int] = field(default_factory=dict)
    image_width: int | None = None  # the most common size (ties: the first seen)
    image_height: int | None = None
    uniform_size: bool | None = None  # every image has that size
    channels: int | None = None  # 1 when every image is grayscale, else 3
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    skipped_examples: list[dict[str, str]] = field(default_factory=list)


class Inventory:
    """Collects the figures file by file; names are relative to the archive, never to the disk."""

    def __init__(self) -> None:
        self.class_counts = Counter[str]()
        self.sizes = Counter[tuple[int, int]]()
        self.all_grayscale = True
        self.loose: list[tuple[list[str], ImageFacts]] = []  # images at the top, no folder
        self.reasons = Counter[str]()
        self.examples: list[dict[str, str]] = []

    def skip(self, parts: list[str], reason: str = NOT_AN_IMAGE) -> None:
        """Count a file that is left out."""
        self.reasons[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"name": "/".join(parts), "reason": reason})

    def add(self, parts: list[str], facts: ImageFacts) -> None:
        """Count a readable image at ``parts`` (its class is its top-level folder, if any)."""
        if len(parts) == 1:
            self.loose.append((parts, facts))  # counted once it is known whether there are classes
            return
        self.class_counts[parts[0]] += 1
        self._measure(facts)

    def unclassed(self) -> list[list[str]]:
        """Images beside class folders, which training skips: call once, after the last ``add``."""
        if not self.class_counts:
            for _, facts in self.loose:
                self._measure(facts)
            return []
        for parts, _ in self.loose:
            self.skip(parts, NOT_IN_A_CLASS)
        return [parts for parts, _ in self.loose]

    def report(self) -> ExtractionReport:
        """The figures so far (after ``unclassed``)."""
        images = sum(self.sizes.values())
        common = self.sizes.most_common(1)
        width, height = common[0][0] if common else (None, None)
        return ExtractionReport(
            images=images,
            skipped=sum(self.reasons.values()),
            classes=sorted(self.class_counts),
            class_counts=dict(sorted(self.class_counts.items())),
            image_width=width,
            image_height=height,
            uniform_size=len(self.sizes) == 1 if images else None,
            channels=(1 if self.all_grayscale else 3) if images else None,
            skipped_reasons=dict(self.reasons.most_common()),
            skipped_examples=list(self.examples),
        )

    def _measure(self, facts: ImageFacts) -> None:
        self.sizes[facts.width, facts.height] += 1
        self.all_grayscale = self.all_grayscale and facts.channels == 1
