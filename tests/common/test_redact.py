"""Server folders out of client-facing messages: one rule for job errors and checkpoint errors."""

from __future__ import annotations

from pathlib import Path

from common.redact import without_root


def test_paths_under_the_root_become_relative_in_every_form(tmp_path: Path) -> None:
    real = tmp_path / "real" / "models"
    real.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    message = f"cannot read {link}/x/checkpoints/step-00000010.safetensors (also {real}/y)"
    assert without_root(message, link) == "cannot read x/checkpoints/step-00000010.safetensors (also y)"
    assert without_root(f"no space left in {link}", link) == "no space left in <data dir>"
    assert without_root("nothing of ours here: /etc/passwd", link) == "nothing of ours here: /etc/passwd"
