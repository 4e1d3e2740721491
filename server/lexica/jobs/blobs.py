"""Files that jobs read and write (uploaded NDJSON, export results), on disk in one directory per owner.

Always a directory, never Redis: files can be large (an upload is up to 64 MiB, a dictionary export more), and a
disk is where large, short-lived files belong. With Redis configured, every API instance and every `lexica worker`
must see the same directory (LEXICA_JOB_FILES_DIR on a shared volume). One directory per owner makes the owner's
storage use one directory listing, counted on disk, so files being written right now count too.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio

CHUNK_BYTES = 256 * 1024
_PART = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class StoredFile:
    name: str  # "<owner>/<file>", what the store's other methods take
    size: int
    modified: float  # seconds since the epoch


class BlobStore:
    """Files named `<owner id>/<file name>` under `directory`."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @property
    def directory(self) -> Path:
        return self._directory

    def _path(self, name: str) -> Path:
        parts = name.split("/")
        if len(parts) != 2 or not all(_PART.match(part) for part in parts):
            raise ValueError(f"not a blob name: {name!r}")
        return self._directory.joinpath(*parts)

    def _owner_dir(self, owner_id: str) -> Path:
        if not _PART.match(owner_id):
            raise ValueError(f"not an owner id: {owner_id!r}")
        return self._directory / owner_id

    async def append(self, name: str, data: bytes) -> None:
        """Add bytes at the end of the named file (created empty on first use)."""
        path = self._path(name)

        def append() -> None:
            # Open, write and close in one thread call: a task cancelled between an awaited open and its close
            # (a job stopped at shutdown) would otherwise leave the file object to the garbage collector.
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as file:
                file.write(data)

        await anyio.to_thread.run_sync(append)

    async def read(self, name: str) -> AsyncIterator[bytes]:
        """The file's content in chunks; nothing when there is no such file."""
        path = self._path(name)
        offset = 0
        while True:

            def read_at(start: int) -> bytes:
                try:
                    with path.open("rb") as file:
                        file.seek(start)
                        return file.read(CHUNK_BYTES)
                except FileNotFoundError:
                    return b""

            chunk = await anyio.to_thread.run_sync(read_at, offset)
            if not chunk:
                return
            offset += len(chunk)
            yield chunk

    async def exists(self, name: str) -> bool:
        return await anyio.Path(self._path(name)).exists()

    async def delete(self, name: str) -> None:
        path = self._path(name)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def usage(self, owner_id: str) -> int:
        """Bytes the owner's files take now (files being written included)."""
        directory = self._owner_dir(owner_id)
        return await anyio.to_thread.run_sync(lambda: sum(file.size for file in _files_in(directory)))

    async def oldest(self, owner_id: str) -> float | None:
        """When the owner's oldest file was last written (seconds since the epoch); None without files."""
        directory = self._owner_dir(owner_id)
        times = await anyio.to_thread.run_sync(lambda: [file.modified for file in _files_in(directory)])
        return min(times, default=None)

    async def files(self) -> list[StoredFile]:
        """Every file of every owner (for the retention sweep)."""

        def listing() -> list[StoredFile]:
            if not self._directory.is_dir():
                return []
            found: list[StoredFile] = []
            for owner in os.scandir(self._directory):
                if owner.is_dir(follow_symlinks=False) and _PART.match(owner.name):
                    found.extend(_files_in(Path(owner.path)))
            return found

        return await anyio.to_thread.run_sync(listing)


def _files_in(directory: Path) -> Iterator[StoredFile]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    for entry in entries:
        if not _PART.match(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                yield StoredFile(f"{directory.name}/{entry.name}", stat.st_size, stat.st_mtime)
        except FileNotFoundError:  # deleted while we looked
            continue


def build_blob_store(directory: Path) -> BlobStore:
    return BlobStore(directory)
