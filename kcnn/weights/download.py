"""Downloading a published checkpoint once, into Keras's cache folder, checked against the
publisher's checksum.

Files go through ``keras.utils.get_file`` into ``<KERAS_HOME>/kcnn/`` (``~/.keras/kcnn`` by
default). keras.applications' md5 is checked by ``get_file`` itself; torchvision's sha256
prefix and BVLC's sha1 (which ``get_file`` cannot check) are checked here after the
download. A source without a published checksum is downloaded unverified, and a warning says
so. Nothing is fetched at import time.

Offline, or for a source without a URL (MSRA's ResNets), the error names the URL and the
exact path where a file fetched by other means must be put.
"""

from __future__ import annotations

import hashlib
import logging
import os

from kcnn.weights.sources import WeightSource

__all__ = ["CACHE_SUBDIR", "WeightsUnavailableError", "cache_folder", "cached_path", "fetch",
           "verify"]

CACHE_SUBDIR = "kcnn"
_log = logging.getLogger("kcnn.weights")


class WeightsUnavailableError(OSError):
    """A published checkpoint could not be downloaded and is not in the cache."""


def cache_folder(cache_dir=None):
    """The folder where ``fetch`` keeps (and looks for) checkpoints.

    Args:
        cache_dir: Keras's cache root; by default ``$KERAS_HOME`` or ``~/.keras`` (``/tmp/
            .keras`` when the home folder is not writable), as ``keras.utils.get_file``.
    """
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME")
        if cache_dir is None:
            home = os.path.expanduser("~")
            cache_dir = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    base = os.path.expanduser(os.fspath(cache_dir))
    if os.path.isdir(base) and not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")  # where get_file falls back to
    return os.path.join(base, CACHE_SUBDIR)


def _file_of(source, include_top):
    if not include_top and source.notop_file_name:
        return source.notop_url, source.notop_file_name, source.notop_file_hash
    return source.url, source.file_name, source.file_hash


def cached_path(source, *, cache_dir=None, include_top=True):
    """Where ``fetch`` stores ``source``'s file (whether or not it is there yet)."""
    return os.path.join(cache_folder(cache_dir), _file_of(source, include_top)[1])


def _digest(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path, file_hash, algorithm):
    """Whether the file at ``path`` has the publisher's checksum ``file_hash`` (a prefix
    of the digest is accepted, as torchvision publishes 8 hex digits)."""
    if file_hash is None:
        return True
    return _digest(path, algorithm).startswith(file_hash.lower())


def _by_hand(url, target, source):
    where = f"download {url} yourself" if url else "get the file from the publisher's release"
    return (f"{where} and save it as {target} (or pass its path as weights=...). "
            f"Source: {source.origin} {source.name!r} for {source.model!r}.")


def fetch(source, *, cache_dir=None, include_top=True):
    """Path of ``source``'s checkpoint, downloaded once into the cache folder.

    Args:
        source: a ``WeightSource`` (see ``kcnn.weights.sources.resolve``).
        cache_dir: Keras's cache root (default: ``$KERAS_HOME`` or ``~/.keras``); files go
            to its ``kcnn`` subfolder.
        include_top: False fetches keras.applications' smaller file without the classifier
            when the source has one; the full file otherwise.

    Returns:
        The local path of the verified file.

    Raises:
        TypeError: if ``source`` is not a ``WeightSource``.
        WeightsUnavailableError: when the file is not cached and cannot be downloaded (no
            network, or no URL); the message names the URL and where to put the file.
        ValueError: when the file's checksum differs from the publisher's (a fresh download
            that fails is deleted; a file already in the cache is left for you to inspect).
    """
    if not isinstance(source, WeightSource):
        raise TypeError(f"`source` must be a WeightSource (kcnn.weights.sources.resolve). "
                        f"Received: source={source!r}")
    url, file_name, file_hash = _file_of(source, include_top)
    algorithm = source.hash_algorithm
    target = os.path.join(cache_folder(cache_dir), file_name)
    existed = os.path.exists(target)
    if url is None and not existed:
        raise WeightsUnavailableError(
            f"{source.origin} publishes no download URL for {file_name!r}: "
            + _by_hand(None, target, source))
    if url is not None:
        import keras

        # get_file checks md5 itself (and downloads again over a stale cached copy); the
        # other checksums are checked below.
        keras_hash = file_hash if algorithm == "md5" else None
        try:
            path = keras.utils.get_file(
                fname=file_name, origin=url, cache_subdir=CACHE_SUBDIR,
                cache_dir=os.path.dirname(cache_folder(cache_dir)), file_hash=keras_hash,
                hash_algorithm=algorithm if keras_hash else "auto")
        except ValueError as e:  # md5 mismatch after downloading
            raise ValueError(f"{url} does not match {source.origin}'s md5 {file_hash}: {e}. "
                             "The download is corrupted or was changed; try again, or "
                             + _by_hand(url, target, source)) from e
        except Exception as e:  # noqa: BLE001 - get_file raises bare Exception when offline
            reason = str(e).split(" -- ", 1)[-1]
            raise WeightsUnavailableError(
                f"Could not download {url} ({reason}). To use it offline, "
                + _by_hand(url, target, source)) from e
        target = os.fspath(path)
    if file_hash is None:
        _log.warning("%s publishes no checksum for %s: %s is used unverified.",
                     source.origin, file_name, target)
    elif algorithm != "md5" or url is None:
        if not verify(target, file_hash, algorithm):
            actual = _digest(target, algorithm)
            if not existed:
                os.remove(target)
            kept = (f"The file is kept at {target}; delete or replace it." if existed
                    else "The download was deleted.")
            raise ValueError(
                f"{target} has {algorithm} {actual}, but {source.origin} publishes "
                f"{file_hash}{' (prefix)' if source.hash_is_prefix else ''} for {file_name}. "
                f"{kept} Source URL: {url}")
    return target
