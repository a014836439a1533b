"""Batch-invariant pass sizes: the probe finds sizes that round differently, and avoids them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from models.architectures import build_generator, make_model_config
from models.inference import generate, latents_for_seeds
from models.inference.passes import MAX_PASS_ROWS, PassSizes, pass_sizes, probe


class RoundsDifferentlyAt(nn.Module):
    """A stand-in generator whose "kernel" rounds differently for some numbers of rows, as
    oneDNN and BLAS do for some shapes: the last bit of every output moves at those sizes."""

    def __init__(self, odd_sizes: set[int]) -> None:
        super().__init__()
        self.config = SimpleNamespace(latent_dim=8, num_classes=0)
        self.scale = nn.Parameter(torch.full((8,), 0.5))
        self.odd_sizes = odd_sizes

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = z * self.scale + 0.25
        if z.shape[0] in self.odd_sizes:
            out = torch.nextafter(out, torch.full_like(out, float("inf")))
        return out.view(-1, 2, 2, 2)


def alone(generator: nn.Module, latents: torch.Tensor) -> torch.Tensor:
    return torch.cat([generator(row.unsqueeze(0)) for row in latents])


def test_probe_drops_exactly_the_sizes_that_round_differently() -> None:
    cpu = torch.device("cpu")
    assert probe(RoundsDifferentlyAt(set()).eval(), cpu).sizes == (32, 16, 8, 4, 2, 1)
    assert probe(RoundsDifferentlyAt({8, 32}).eval(), cpu).sizes == (16, 4, 2, 1)


@pytest.mark.parametrize("odd_sizes", [{3}, {8}, {2, 4, 16}, {32}])
def test_generate_gives_every_row_its_bytes_alone(odd_sizes: set[int]) -> None:
    generator = RoundsDifferentlyAt(odd_sizes).eval()
    latents = torch.randn(70, 8, generator=torch.Generator().manual_seed(1))
    expected = alone(generator, latents)
    for size in odd_sizes:  # the stand-in really does round differently at those sizes
        assert not torch.equal(generator(latents[:size]), expected[:size])
    for count in range(1, 71):
        assert torch.equal(generate(generator, latents[:count]), expected[:count]), count


def test_split_covers_every_count_with_verified_passes() -> None:
    for sizes in (PassSizes((32, 16, 8, 4, 2, 1)), PassSizes((16, 4, 1)), PassSizes((32, 16, 1), 16)):
        for count in range(1, 3 * MAX_PASS_ROWS + 2):
            passes = sizes.split(count)
            assert sum(rows for rows, _ in passes) == count
            for rows, physical in passes:
                assert physical >= rows and physical >= sizes.pad_to
                assert physical in sizes.sizes or (physical == sizes.pad_to and rows <= physical)


def test_split_pads_when_cheap_and_splits_when_not() -> None:
    conv = PassSizes((32, 16, 8, 4, 2, 1))
    assert conv.split(31) == [(31, 32)]  # one padding row beats five passes
    assert conv.split(17) == [(16, 16), (1, 1)]  # fifteen padding rows do not
    assert conv.split(70) == [(32, 32), (32, 32), (4, 4), (2, 2)]
    # Generators with fully connected layers pay for pad_to rows anyway: one padded pass.
    assert PassSizes((32, 16, 1), 16).split(5) == [(5, 16)]


def test_the_probe_is_redone_when_the_kernel_setting_changes() -> None:
    generator = RoundsDifferentlyAt(set()).eval()
    cpu = torch.device("cpu")
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    first = pass_sizes(generator, cpu)
    generator.odd_sizes = {16}  # a different kernel setting may round differently
    assert pass_sizes(generator, cpu) is first  # same setting: cached
    try:
        torch.backends.mkldnn.enabled = not onednn
        assert pass_sizes(generator, cpu).sizes == (32, 8, 4, 2, 1)
        torch.backends.mkldnn.enabled = onednn
        torch.set_num_threads(1 if threads > 1 else 2)
        assert pass_sizes(generator, cpu).sizes == (32, 8, 4, 2, 1)
    finally:
        torch.set_num_threads(threads)
        torch.backends.mkldnn.enabled = onednn


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("onednn", [True, False])
@pytest.mark.parametrize(
    ("architecture", "fields"),
    [
        ("dcgan", {"image_size": 28, "channels": 1, "g_width": 16}),
        ("cdcgan", {"image_size": 28, "channels": 1, "g_width": 16, "num_classes": 10}),
        ("gan", {"image_size": 28, "channels": 1}),
    ],
)
def test_real_generators_under_every_kernel_setting(
    architecture: str, fields: dict[str, int], threads: int, onednn: bool
) -> None:
    # The settings serving and training use: oneDNN on or off, one or two threads. On a host
    # where a pass size rounds differently under one of them, only the probe keeps this green.
    previous = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = onednn
    try:
        torch.manual_seed(2)
        cfg = make_model_config(architecture, latent_dim=32, **fields)
        generator = build_generator(cfg).eval()
        latents = latents_for_seeds(list(range(40)), 32)
        labels = torch.arange(40) % 10 if cfg.num_classes else None
        one_by_one = torch.cat(
            [
                generate(generator, latents[i : i + 1], None if labels is None else labels[i : i + 1])
                for i in range(40)
            ]
        )
        for count in range(2, 41):
            part = generate(generator, latents[:count], None if labels is None else labels[:count])
            assert torch.equal(part, one_by_one[:count]), f"{count} rows differ"
    finally:
        torch.set_num_threads(previous[0])
        torch.backends.mkldnn.enabled = previous[1]


def timed_sizes(sizes: tuple[int, ...], seconds: dict[int, float], pad_to: int = 1) -> PassSizes:
    """``PassSizes`` that have seen passes of the given times (each size twice: the first pass
    of a size is its warm-up and not counted)."""
    answer = PassSizes(sizes, pad_to)
    for physical, spent in seconds.items():
        answer.record(physical, 99.0)
        answer.record(physical, spent)
    return answer


def test_timed_split_is_the_fastest_cover_of_the_rows() -> None:
    # Per-pass times like a 64x64 DCGAN's on oneDNN: a lone row costs 2.5 rows of a big pass.
    dcgan = {1: 7.0, 2: 8.4, 4: 13.1, 8: 22.2, 16: 44.2, 32: 88.0}
    sizes = timed_sizes((32, 16, 8, 4, 2, 1), dcgan)
    assert sizes.split(9) == [(8, 8), (1, 1)]  # 29.2 against 30.6 for 8 + a padded 4
    assert sizes.split(11) == [(8, 8), (3, 4)]  # 35.3 against 37.6 for the rows' rule's 8 + 2 + 1
    assert PassSizes((32, 16, 8, 4, 2, 1)).split(11) == [(8, 8), (2, 2), (1, 1)]
    assert sizes.split(3) == [(3, 4)]
    # Linear costs: never pay for padding rows.
    linear = timed_sizes((32, 16, 8, 4, 2, 1), {size: float(size) for size in (1, 2, 4, 8, 16, 32)})
    for count in range(1, 70):
        passes = linear.split(count)
        assert sum(rows for rows, _ in passes) == count
        assert sum(physical for _, physical in passes) == count


def test_split_estimates_untimed_sizes_and_times_them_as_they_run() -> None:
    sizes = timed_sizes((16, 8, 4, 2, 1), {8: 8.0})
    assert sizes.split(16) == [(16, 16)]  # 16 untimed scales to 16.0, as 8 + 8: one pass wins
    assert sizes.split(3) == [(2, 2), (1, 1)]  # untimed small passes scale down from 8 rows
    sizes.record(1, 5.0)
    sizes.record(1, 5.0)
    assert sizes.split(3) == [(3, 4)]  # a lone row turned out dear: pad 3 rows to 4 (4.0)
    assert sizes.split(0) == []


@pytest.mark.parametrize("odd_sizes", [{3}, {8}, {2, 4, 16}])
def test_timed_splits_keep_every_row_its_bytes_alone(odd_sizes: set[int]) -> None:
    generator = RoundsDifferentlyAt(odd_sizes).eval()
    latents = torch.randn(40, 8, generator=torch.Generator().manual_seed(2))
    expected = alone(generator, latents)
    for _ in range(3):  # the first rounds time the sizes; later ones split by those times
        for count in range(1, 41):
            assert torch.equal(generate(generator, latents[:count]), expected[:count]), count
    assert pass_sizes(generator, torch.device("cpu")).seconds  # timed passes steer the split


@pytest.mark.parametrize("odd_sizes", [set(), {12}, {5, 12, 20}])
def test_other_sizes_are_verified_when_first_wanted(odd_sizes: set[int]) -> None:
    generator = RoundsDifferentlyAt(odd_sizes).eval()
    cpu = torch.device("cpu")
    assert pass_sizes(generator, cpu).sizes == (32, 16, 8, 4, 2, 1)  # the probe: powers of two
    latents = torch.randn(24, 8, generator=torch.Generator().manual_seed(3))
    expected = alone(generator, latents)
    for count in (12, 5, 20, 12, 24):
        assert torch.equal(generate(generator, latents[:count]), expected[:count]), count
    sizes = pass_sizes(generator, cpu)
    for count in (5, 12, 20, 24):
        assert (count in sizes.sizes) == (count not in odd_sizes), count  # agreeing sizes join
    assert sizes.sizes == tuple(sorted(sizes.sizes, reverse=True))
    if not odd_sizes:
        assert sizes.split(12) == [(12, 12)]  # one pass of exactly the rows
