"""Crash-safe file writing and folder locks.

Every file kcnn writes (run configs, metrics, checkpoints, backups, shards, tuner state) goes
through these helpers, so a process killed at any instant leaves either the old file or the
new one, never half of one:

- ``atomic_write`` / ``atomic_json`` write bytes or text to a temporary file in the same
  folder, ``fsync`` it, ``os.replace`` it onto the target and ``fsync`` the folder (POSIX
  ``rename`` is atomic within one file system).
- ``atomic_path`` yields a temporary path for writers that want a file name (h5py, Keras's
  ``save_weights``); the temporary keeps the full suffix (``.weights.h5``) Keras checks.
- ``FolderLock`` is an exclusive ``fcntl.flock`` on ``folder/.lock``; the operating system
  releases it when the holder dies, so a killed run never leaves a stale lock behind.
"""

import contextlib
import json
import os
import secrets

__all__ = ["FolderBusyError", "FolderLock", "atomic_json", "atomic_path", "atomic_write"]


def _split_suffix(name):
    """Splits ``epoch_3.weights.h5`` into ``("epoch_3", ".weights.h5")`` (full suffix)."""
    stem, dot, rest = name.lstrip(".").partition(".")
    lead = name[: len(name) - len(name.lstrip("."))]
    return lead + stem, (dot + rest) if dot else ""


def _temp_name(path):
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    stem, suffix = _split_suffix(name)
    token = f"tmp-{os.getpid()}-{secrets.token_hex(4)}"
    return os.path.join(folder, f".{stem.lstrip('.')}.{token}{suffix}")


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path next to ``path``; on clean exit it replaces ``path``.

    The temporary file lives in the same folder (so the final ``os.replace`` is atomic) and
    keeps the full suffix: ``epoch_3.weights.h5`` -> ``.epoch_3.tmp-<pid>-<rand>.weights.h5``.
    On an exception the temporary is removed and ``path`` is left untouched.

    Args:
        path: The final file path.

    Yields:
        The temporary path to write to.
    """
    path = os.path.abspath(os.fspath(path))
    tmp = _temp_name(path)
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise FileNotFoundError(
                f"atomic_path: nothing was written to the temporary file for {path}. "
                f"Received: temporary={tmp}"
            )
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_folder(os.path.dirname(path))


def atomic_write(path, data):
    """Writes ``data`` (bytes or str) to ``path`` atomically.

    Args:
        path: The file to write.
        data: ``bytes`` (written as is) or ``str`` (written as UTF-8).

    Raises:
        TypeError: If ``data`` is neither bytes nor str.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise TypeError(
            f"atomic_write expects `data` as bytes or str. Received: data of type "
            f"{type(data).__name__}"
        )
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_json(path, obj, **json_kwargs):
    """Writes ``obj`` as JSON to ``path`` atomically (``json.dumps`` keyword arguments pass on)."""
    text = json.dumps(obj, **json_kwargs)
    if not text.endswith("\n"):
        text += "\n"
    atomic_write(path, text)


class FolderBusyError(RuntimeError):
    """Another live process holds the folder's lock."""


class FolderLock:
    """An exclusive, non-blocking lock on a folder (``fcntl.flock`` on ``folder/.lock``).

    The lock file records the holder's PID. A second process (or a second ``FolderLock`` in
    the same process) gets ``FolderBusyError`` at once. The operating system releases the lock
    when its holder exits or is killed, so no stale lock survives a crash.

    Args:
        folder: The folder to lock (created if missing).
        what: What the folder is, for messages ("run", "sweep", "shard folder").

    Example:
        >>> with FolderLock("runs/lenet5", what="run"):
        ...     train()
    """

    def __init__(self, folder, *, what="run"):
        self.folder = os.path.abspath(os.fspath(folder))
        self.what = what
        self.path = os.path.join(self.folder, ".lock")
        self._fd = None

    @property
    def held(self):
        return self._fd is not None

    def _holder(self):
        try:
            with open(self.path) as f:
                return f.read().strip() or "unknown"
        except OSError:
            return "unknown"

    def acquire(self):
        """Takes the lock; raises ``FolderBusyError`` if another holder has it."""
        import fcntl

        if self._fd is not None:
            return self
        os.makedirs(self.folder, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderBusyError(
                f"The {self.what} folder {self.folder} is in use by another process "
                f"(PID {self._holder()}). Wait for it to finish, or choose another --output."
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self):
        """Releases the lock (the ``.lock`` file stays: removing it would race a waiter)."""
        import fcntl

        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False

    def __repr__(self):
        return f"FolderLock({self.folder!r}, what={self.what!r}, held={self.held})"
