"""Writing a file whole or not at all.

The course's one atomic writer: exercise notebooks and their manifest, the grader's CSV and each
trusted check's result (``course_utils.grading``), and chapter 08's multi-seed record
(``capstone.record``). (The data download in ``course_utils.data`` streams into its own
temporary file while it hashes, then renames it the same way.)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: Path | str, content: str | bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file in the same folder and a rename.

    A reader sees the old file or the whole new one, and an interrupted write leaves no
    temporary file behind. Text is written as UTF-8. The file gets the permissions a plain
    ``open(path, "w")`` would give it (0666 minus the umask), not the private 0600 of a
    temporary file.
    """
    path = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
