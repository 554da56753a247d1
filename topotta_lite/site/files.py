"""The report's files: a guarded output folder replaced atomically, and inputs read without
following a symlink.

The site folder is the only thing ``topotta-lite report`` removes, and only when it made it: it
carries a marker file (:data:`MARKER`). A non-empty folder without the marker is refused unless
the caller forces it; the figures folder, the executed notebooks' folder, the repository, the home
folder, ``/`` and every ancestor of them are refused even then. A new site is built in a sibling
temporary folder and swapped in at the end (:func:`staged_folder`): a failure leaves the previous
site as it was. (The swap could move into :mod:`topotta_lite.safe_io` one day.)
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
import shutil
import stat
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

#: The file that marks a folder as a site made by ``topotta-lite report``.
MARKER = ".topotta-report"


class ReportWarning(UserWarning):
    """An input the report skipped or could not read (the site is made without it)."""


class ReportFolderError(ValueError):
    """The output folder may not be replaced (a user's folder, or one the run needs)."""


def warn(message: str) -> None:
    """Issue a :class:`ReportWarning` (shown on stderr by the command)."""
    warnings.warn(message, ReportWarning, stacklevel=3)


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_out_folder(out: Path, *, protected: Iterable[Path], inputs: Iterable[Path],
                     force: bool = False) -> Path:
    """Return ``out`` made absolute, or raise if the report may not replace it.

    Parameters
    ----------
    out : path
        The site folder asked for.
    protected : paths
        Folders that ``out`` may neither be nor contain (repository, home, ``/``, inputs).
    inputs : paths
        Folders the report reads (figures, executed notebooks): ``out`` may not lie inside them.
    force : bool
        Replace a non-empty folder that has no :data:`MARKER` (never a protected one).

    Raises
    ------
    ReportFolderError
        ``out`` is a symbolic link or a file, is or contains a protected folder, lies inside an
        input folder, or is a non-empty folder without the marker (and ``force`` is false).

    Examples
    --------
    >>> import tempfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> check_out_folder(tmp / "site", protected=[tmp / "figures"], inputs=[]) == tmp / "site"
    True
    >>> check_out_folder(tmp, protected=[tmp / "figures"], inputs=[])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    topotta_lite.site.files.ReportFolderError: refusing --out ...: it is or contains ...
    """
    out = Path(os.path.abspath(out))
    if out.is_symlink():
        raise ReportFolderError(f"refusing --out {out}: it is a symbolic link")
    real = out.resolve()
    for folder in protected:
        folder = Path(folder).resolve()
        if _is_within(folder, real):
            raise ReportFolderError(f"refusing --out {out}: it is or contains {folder}, which "
                                    "the report must not replace (even with --force)")
    for folder in inputs:
        folder = Path(folder).resolve()
        if _is_within(real, folder):
            raise ReportFolderError(f"refusing --out {out}: it lies inside {folder}, which "
                                    "the report reads")
    if out.exists() and not out.is_dir():
        raise ReportFolderError(f"refusing --out {out}: it is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not is_report_folder(out) and not force:
        raise ReportFolderError(f"refusing --out {out}: a non-empty folder that topotta-lite "
                                f"report did not make (no {MARKER} in it); choose another "
                                "folder, or pass --force to replace it with the site")
    return out


def is_report_folder(folder: Path) -> bool:
    """Whether ``folder`` holds the report's marker as a plain file (not a link)."""
    try:
        return stat.S_ISREG(os.lstat(Path(folder) / MARKER).st_mode)
    except OSError:
        return False


@contextlib.contextmanager
def staged_folder(out: Path, marker_text: str = "") -> Iterator[Path]:
    """Yield a new empty folder beside ``out``; on success it replaces ``out``.

    The new folder gets :data:`MARKER`, then takes ``out``'s place by two renames (the old one is
    moved aside first and removed last). If the body raises, the staging folder is removed and
    ``out`` is left as it was. Call :func:`check_out_folder` first.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "site"
    >>> with staged_folder(out) as tmp:
    ...     _ = (tmp / "index.html").write_text("v1")
    >>> sorted(p.name for p in out.iterdir())
    ['.topotta-report', 'index.html']
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.new-{secrets.token_hex(6)}"
    tmp.mkdir()  # (not mkdtemp: the site gets the usual permissions)
    try:
        yield tmp
        (tmp / MARKER).write_text(marker_text or "made by topotta-lite report\n", encoding="utf-8")
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(new: Path, out: Path) -> None:
    old = None
    if out.exists() or out.is_symlink():
        old = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
        os.rename(out, old)
    try:
        os.rename(new, out)
    except BaseException:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _linked_part(path: Path, root: Path) -> Path | None:
    """The first symbolic link on the way from ``root`` (excluded) down to ``path``."""
    path = Path(os.path.abspath(path))
    root = Path(os.path.abspath(root))
    parts = [path, *path.parents]
    for part in parts:
        if part == root or root not in part.parents:
            break
        if part.is_symlink():
            return part
    return None


def plain_files(folder: Path, pattern: str, *, root: Path) -> list[Path]:
    """The regular files of ``folder`` matching ``pattern``, sorted; links are skipped with a warning.

    A file that is a symbolic link, or lies in a linked folder below ``root``, is never read.

    Examples
    --------
    >>> import tempfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = (tmp / "a.png").write_bytes(b"x")
    >>> (tmp / "b.png").symlink_to("/etc/passwd")
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     [p.name for p in plain_files(tmp, "*.png", root=tmp)]
    ['a.png']
    >>> "symbolic link" in str(caught[0].message)
    True
    """
    folder = Path(folder)
    link = _linked_part(folder, root)
    if link is not None:
        warn(f"skipped {folder}: {link} is a symbolic link (the report never follows one)")
        return []
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(pattern)):
        if path.is_symlink():
            warn(f"skipped {path}: a symbolic link (the report never follows one)")
        elif path.is_file():
            found.append(path)
    return found


def read_bytes(path: Path) -> bytes:
    """Read a regular file without following a symbolic link (``OSError`` otherwise).

    Examples
    --------
    >>> import tempfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = (tmp / "a").write_bytes(b"abc")
    >>> read_bytes(tmp / "a")
    b'abc'
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        return fh.read()


def read_text(path: Path) -> str:
    """:func:`read_bytes` decoded as UTF-8 (undecodable bytes replaced)."""
    return read_bytes(path).decode("utf-8", errors="replace")


def copy_file(src: Path, dst: Path) -> None:
    """Copy a regular file's bytes to ``dst`` without following a link at ``src``."""
    Path(dst).write_bytes(read_bytes(src))


def load_json(path: Path, what: str):
    """The JSON at ``path``, or ``None`` with a warning when it is absent-but-linked or unreadable.

    Examples
    --------
    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "MANIFEST.json"
    >>> _ = bad.write_text("{not json")
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     load_json(bad, "manifest") is None
    True
    """
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        return json.loads(read_text(path))
    except (OSError, ValueError) as exc:
        warn(f"{what} {path} could not be read ({type(exc).__name__}: {exc}); going on without it")
        return None


def read_csv(path: Path) -> tuple[list[str], list[dict]] | None:
    """A CSV table's columns and rows (all text), or ``None`` with a warning when unreadable.

    Examples
    --------
    >>> import tempfile
    >>> table = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = table.write_text("claim,verdict\\nx,holds\\n")
    >>> read_csv(table)
    (['claim', 'verdict'], [{'claim': 'x', 'verdict': 'holds'}])
    """
    try:
        reader = csv.DictReader(io.StringIO(read_text(path)))
        rows = [dict(row) for row in reader]
        return list(reader.fieldnames or []), rows
    except (OSError, csv.Error) as exc:
        warn(f"table {path} could not be read ({type(exc).__name__}: {exc}); skipped")
        return None
