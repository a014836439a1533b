"""Keeping the server's own folders out of what clients read.

Engine and OS messages name files by absolute path (``[Errno 28] No space left on device:
'/srv/ganserve/data/models/x/...'``). A client needs the file relative to a folder it knows
about, never where that folder sits on the server: a job's error names files relative to the
data folder (the worker), a broken checkpoint's error relative to the models folder it lies in
(the model registry). Both ask :func:`without_root`.
"""

from __future__ import annotations

import os
from pathlib import Path


def without_root(message: str, root: Path) -> str:
    """``message`` with every mention of ``root`` (as given and resolved) made relative to it."""
    forms = {str(root), os.path.realpath(root)}
    for form in sorted(forms, key=len, reverse=True):
        message = message.replace(form.rstrip(os.sep) + os.sep, "").replace(form, "<data dir>")
    return message
