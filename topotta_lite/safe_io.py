"""Files that are never half-written: atomic replacement, per-process temporary names, locks.

Every file the project writes for others to read (figures, tables, the manifest, cache entries,
score bundles) goes through :func:`atomic_write`: the bytes are written to a temporary file in the
target's own folder, flushed to disk, and renamed over the target in one step. A reader sees the
old file or the new one, never a mixture; a process killed half-way leaves the old file as it was
and, at worst, a hidden temporary file that :func:`remove_stale_temporaries` clears later.

:func:`file_lock` serialises read-modify-write sequences (the manifest) and lets concurrent runs
agree on who computes a cache entry.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:  # POSIX; elsewhere locks are no-ops (documented in the README)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["LockBusy", "atomic_write", "file_lock", "process_alive", "remove_stale_temporaries",
           "temporary_name"]

_TMP = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp(\.[A-Za-z0-9]+)?$")


class LockBusy(Exception):
    """A non-blocking :func:`file_lock` found the lock held by someone else."""


def temporary_name(target: str | os.PathLike, suffix: str = "") -> Path:
    """A hidden temporary path beside ``target``, unique to this process and call.

    The name carries the process id, so that :func:`remove_stale_temporaries` can tell the
    leftovers of dead processes from files still being written.

    Examples
    --------
    >>> p = temporary_name("/tmp/fig.png")
    >>> p.parent.as_posix(), p.name.startswith(".fig.png."), p.name.endswith(".tmp")
    ('/tmp', True, True)
    """
    target = Path(target)
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{suffix}")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_write(target: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``target`` in one rename.

    If the block raises (or the process dies), ``target`` keeps its previous bytes and the
    temporary file is removed (or left hidden for :func:`remove_stale_temporaries`).

    Parameters
    ----------
    target : path
        The file to (re)place. Its folder is created if needed.
    suffix : str
        Appended to the temporary name, for writers that insist on an extension (``".npz"``).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_write(target) as tmp:
    ...     _ = tmp.write_text("a,b\\n1,2\\n")
    >>> target.read_text()
    'a,b\\n1,2\\n'
    >>> try:
    ...     with atomic_write(target) as tmp:
    ...         _ = tmp.write_text("half")
    ...         raise RuntimeError("killed")
    ... except RuntimeError:
    ...     pass
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('a,b\\n1,2\\n', ['table.csv'])
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(target, suffix)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"the writer of {target} created nothing at {tmp}")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (``True`` when unsure).

    Examples
    --------
    >>> process_alive(os.getpid())
    True
    """
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Delete temporary files left in ``folder`` by processes that no longer run.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); (d / ".a.png.999999999.0123abcd.tmp").write_bytes(b"x")
    1
    >>> [p.name for p in remove_stale_temporaries(d)]
    ['.a.png.999999999.0123abcd.tmp']
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in folder.rglob(".*.tmp*") if recursive else folder.glob(".*.tmp*"):
        m = _TMP.match(p.name)
        if m and p.is_file() and not process_alive(int(m.group(1))):
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:  # pragma: no cover - removed by another process
                pass
    return removed


@contextmanager
def file_lock(path: str | os.PathLike, *, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (a folder, or a lock file created on demand).

    Locks are released when the block ends or the process dies (``flock``), so a killed run never
    leaves a lock behind. ``blocking=False`` raises :class:`LockBusy` instead of waiting.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with file_lock(d):
    ...     print("inside")
    inside
    """
    path = Path(path)
    if fcntl is None:  # pragma: no cover - Windows: no locking
        yield
        return
    if path.is_dir():
        fd = os.open(path, os.O_RDONLY)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError as exc:
            raise LockBusy(str(path)) from exc
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------------
# Added by the segment work package: writing into a user's folder (``topotta-lite segment --out``).
# Nothing above this line was changed; these two functions only build on :func:`atomic_write`.

__all__ += ["atomic_write_in", "probe_writable"]


@contextmanager
def atomic_write_in(folder: str | os.PathLike, name: str, *, suffix: str = "") -> Iterator[Path]:
    """:func:`atomic_write` of ``folder / name``, refusing to replace a link or a non-file.

    ``name`` must be a plain file name (no folder part), so the file lands in ``folder`` itself.
    An existing ``folder / name`` that is a symbolic link (even one pointing back into ``folder``)
    or anything but a regular file is an error: it is neither followed nor replaced.

    Raises
    ------
    ValueError
        For a name with a folder part, or a target that is a link, a folder or a device.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with atomic_write_in(d, "mask.png") as tmp:
    ...     _ = tmp.write_bytes(b"png")
    >>> (d / "link.png").symlink_to(d / "mask.png")
    >>> with atomic_write_in(d, "link.png") as tmp:  # doctest: +ELLIPSIS
    ...     _ = tmp.write_bytes(b"x")
    Traceback (most recent call last):
    ValueError: .../link.png is a symbolic link: it is neither followed nor replaced ...
    """
    import stat

    if (not name or name in (".", "..") or "/" in name or "\0" in name
            or (os.sep in name) or (os.altsep and os.altsep in name)):
        raise ValueError(f"not a plain file name: {name!r}")
    target = Path(folder) / name
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        raise ValueError(f"{target} is a symbolic link: it is neither followed nor replaced "
                         "(remove the link to write this file)")
    if mode is not None and not stat.S_ISREG(mode):
        raise ValueError(f"{target} exists and is not a regular file")
    with atomic_write(target, suffix=suffix) as tmp:
        yield tmp


def probe_writable(folder: str | os.PathLike) -> None:
    """Create, write and remove a hidden temporary file in ``folder``: raise ``OSError`` if it fails.

    Run before a long computation, so that an unwritable output folder stops it at the start.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> probe_writable(d); sorted(d.iterdir())
    []
    """
    probe = temporary_name(Path(folder) / ".write-probe")
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"0")
        os.fsync(fd)
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)
