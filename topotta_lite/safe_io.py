"""Files that are never half-written: atomic replacement, per-process temporary names, locks.

Every file the project writes for others to read (figures, tables, the manifest, cache entries,
score bundles) goes through :func:`atomic_write`: the bytes are written to a temporary file in the
target's own folder, flushed to disk, and renamed over the target in one step. A reader sees the
old file or the new one, never a mixture; a process killed half-way leaves the old file as it was
and, at worst, a hidden temporary file that :func:`remove_stale_temporaries` clears later.

:func:`file_lock` serialises read-modify-write sequences (the manifest) and lets concurrent runs
agree on who computes a cache entry. :func:`replace_all` replaces a *set* of files all or
nothing (a notebook's figures, tables and the manifest): it checks the free space, writes every
new file beside its target, and only then swaps them in, undoing the swaps if one fails (a
journal lets the next run undo them after a ``kill -9``).
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

try:  # POSIX; elsewhere locks are no-ops (documented in the README)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["LockBusy", "NotEnoughSpace", "append_records", "atomic_write", "check_writable",
           "file_lock", "process_alive", "recover_interrupted_replacements",
           "remove_stale_temporaries", "replace_all", "temporary_name"]

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


def append_records(path: str | os.PathLike, records: list[dict]) -> None:
    """Append JSON lines to ``path`` in one ``write`` (lines of concurrent writers never mix).

    Examples
    --------
    >>> import tempfile
    >>> log = Path(tempfile.mkdtemp()) / "run.jsonl"
    >>> append_records(log, [{"kind": "figure", "path": "a.png"}]); append_records(log, [{"x": 1}])
    >>> log.read_text().splitlines()
    ['{"kind": "figure", "path": "a.png"}', '{"x": 1}']
    """
    if not records:
        return
    text = "".join(json.dumps(r, sort_keys=False) + "\n" for r in records)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def check_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and prove that files can be created in it (and in its existing
    sub-folders' top level, ``tables/``): a probe file is written and removed.

    Raises
    ------
    OSError
        The error of the folder that cannot be created or written, naming it.

    Examples
    --------
    >>> import tempfile
    >>> check_writable(Path(tempfile.mkdtemp()) / "new" / "figures").is_dir()
    True
    >>> check_writable("/proc/no-such-folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: [Errno 2] No such file or directory: '/proc/no-such-folder'
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for d in [folder, *(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()
                        and not p.name.startswith("."))]:
        probe = temporary_name(d / ".write-probe")
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise type(exc)(exc.errno, exc.strerror, str(d)) from None
        os.close(fd)
        probe.unlink()
    return folder


class NotEnoughSpace(OSError):
    """:func:`replace_all` found less free space than the files need (nothing was changed)."""


#: Free space kept in reserve by :func:`replace_all`, beyond the bytes it writes: the larger of
#: ``SPACE_MARGIN[0]`` bytes and the fraction ``SPACE_MARGIN[1]`` of those bytes.
SPACE_MARGIN = (1 << 20, 0.10)

_JOURNAL = ".replace.{pid}.{token}.journal"
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV}


def _journal_paths(folder: Path) -> list[Path]:
    return sorted(folder.glob(".replace.*.journal"))


def _copy_into(source, tmp: Path) -> None:
    """Write ``source`` (a path or bytes) to ``tmp`` and flush it to disk."""
    if isinstance(source, bytes | bytearray):
        with open(tmp, "wb") as fh:
            fh.write(source)
            fh.flush()
            os.fsync(fh.fileno())
        return
    shutil.copyfile(source, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())


def _size(source) -> int:
    return len(source) if isinstance(source, bytes | bytearray) else os.stat(source).st_size


def replace_all(files: Mapping[str | os.PathLike, bytes | str | os.PathLike],
                journal_dir: str | os.PathLike | None = None) -> list[Path]:
    """Replace several files with new contents, all or nothing.

    1. The free space of each target's file system is checked against the bytes to write plus a
       margin (:data:`SPACE_MARGIN`); too little raises :class:`NotEnoughSpace`.
    2. Every new file is written to a temporary name beside its target and flushed. A failure
       here (a full disk, a read-only folder) removes the temporaries: no target changed.
    3. The targets are swapped in, in order (put the one that describes the others, e.g. a
       manifest, last), each old file kept as a hard-linked backup. A failure undoes the swaps
       made so far. A journal in ``journal_dir`` (default: the first target's folder) lists the
       swaps, so that :func:`recover_interrupted_replacements` undoes them after a ``kill -9``.

    Parameters
    ----------
    files : mapping
        ``{target: source}``; a source is a file to copy or the bytes to write.
    journal_dir : path, optional
        Where the journal is written (one folder for the whole set).

    Returns
    -------
    list of Path
        The targets, replaced.

    Raises
    ------
    NotEnoughSpace, OSError
        With every target as it was before the call.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "a.csv").write_text("old")
    >>> _ = replace_all({d / "a.csv": b"new", d / "sub" / "b.csv": b"b"})
    >>> (d / "a.csv").read_text(), (d / "sub" / "b.csv").read_text()
    ('new', 'b')
    >>> sorted(p.name for p in d.iterdir())
    ['a.csv', 'sub']
    """
    items = [(Path(t).absolute(), s) for t, s in files.items()]
    if not items:
        return []
    for target, _ in items:
        if target.is_dir() and not target.is_symlink():
            raise IsADirectoryError(errno.EISDIR, "a folder is in the way of a file", str(target))
        target.parent.mkdir(parents=True, exist_ok=True)
    need: dict[int, list] = {}
    for target, source in items:
        dev = os.stat(target.parent).st_dev
        need.setdefault(dev, [target.parent, 0])[1] += _size(source)
    for folder, nbytes in need.values():
        margin = max(SPACE_MARGIN[0], int(nbytes * SPACE_MARGIN[1]))
        free = shutil.disk_usage(folder).free
        if free < nbytes + margin:
            raise NotEnoughSpace(errno.ENOSPC, f"not enough free space: {_mib(nbytes + margin)} "
                                 f"needed ({_mib(nbytes)} of files + {_mib(margin)} margin), "
                                 f"{_mib(free)} free", str(folder))
    temps: list[Path] = []
    try:
        for target, source in items:
            tmp = temporary_name(target)
            temps.append(tmp)
            _copy_into(source, tmp)
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise
    journal_dir = Path(journal_dir or items[0][0].parent)
    journal = journal_dir / _JOURNAL.format(pid=os.getpid(), token=secrets.token_hex(4))
    swaps = []
    for (target, _), tmp in zip(items, temps):
        backup = None
        if os.path.lexists(target):
            backup = temporary_name(target, ".bak")
        swaps.append((target, tmp, backup))
    try:
        with atomic_write(journal) as jtmp:
            jtmp.write_text(json.dumps([[str(t), str(b) if b else None, str(tmp)]
                                        for t, tmp, b in swaps]), encoding="utf-8")
        for target, tmp, backup in swaps:
            if backup is not None:
                try:
                    os.link(target, backup, follow_symlinks=False)
                except OSError as exc:  # a file system without hard links: move it aside
                    if exc.errno not in _NO_LINKS:
                        raise
                    os.rename(target, backup)
            os.replace(tmp, target)
    except BaseException:
        _undo([[str(t), str(b) if b else None, str(tmp)] for t, tmp, b in swaps])
        journal.unlink(missing_ok=True)
        raise
    for _, _, backup in swaps:
        if backup is not None:
            backup.unlink(missing_ok=True)
    for folder in {t.parent for t, _, _ in swaps}:
        _fsync_dir(folder)
    journal.unlink(missing_ok=True)
    return [t for t, _ in items]


def _mib(nbytes: int) -> str:
    """A size for people: ``"12 KiB"``, ``"3.4 MiB"``."""
    if nbytes < 1 << 20:
        return f"{nbytes / 1024:.0f} KiB"
    return f"{nbytes / (1 << 20):.1f} MiB"


def _undo(entries: list) -> None:
    """Put every backed-up target back, remove targets that were new, remove temporaries."""
    for target, backup, tmp in reversed(entries):
        target, tmp = Path(target), Path(tmp)
        if backup is not None:
            if os.path.lexists(backup):
                if _same_inode(backup, target):  # not swapped yet: rename() would do nothing
                    os.unlink(backup)
                else:
                    os.replace(backup, target)
        elif not tmp.exists() and os.path.lexists(target):
            target.unlink()  # it was new and had been swapped in
        tmp.unlink(missing_ok=True)


def _same_inode(a, b) -> bool:
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def recover_interrupted_replacements(folder: str | os.PathLike) -> list[Path]:
    """Undo the :func:`replace_all` calls of processes that died half-way (their journal is in
    ``folder``): every target is as it was before that call. Returns the journals handled.

    Examples
    --------
    >>> import tempfile
    >>> recover_interrupted_replacements(tempfile.mkdtemp())
    []
    """
    folder = Path(folder)
    handled = []
    if not folder.is_dir():
        return handled
    for journal in _journal_paths(folder):
        pid = journal.name.split(".")[2]
        if not pid.isdigit() or process_alive(int(pid)):
            continue
        try:
            entries = json.loads(journal.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            entries = []
        _undo(entries)
        journal.unlink(missing_ok=True)
        handled.append(journal)
    return handled


# ------------------------------------------------------------------------------------------------
# Writing into a user's folder (``topotta-lite segment --out``): both build on :func:`atomic_write`.

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
