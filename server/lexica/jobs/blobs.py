"""Files that jobs read and write (uploaded NDJSON, export results): in Redis when configured, so that any worker
and any API instance reaches them, else in a directory of this machine (the in-process worker shares it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import anyio
from redis.asyncio import Redis

from lexica.jobs.records import JOB_TTL_SECONDS

CHUNK_BYTES = 256 * 1024


class BlobStore(Protocol):
    async def append(self, name: str, data: bytes) -> None:
        """Add bytes at the end of the named file (created empty on first use)."""
        ...

    def read(self, name: str) -> AsyncIterator[bytes]:
        """The file's content in chunks; nothing when there is no such file."""
        ...

    async def exists(self, name: str) -> bool: ...

    async def delete(self, name: str) -> None: ...


class DirectoryBlobStore:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _path(self, name: str) -> Path:
        if not name.replace("-", "").replace(".", "").isalnum():
            raise ValueError(f"not a blob name: {name!r}")
        return self._directory / name

    async def append(self, name: str, data: bytes) -> None:
        path = self._path(name)

        def append() -> None:
            # Open, write and close in one thread call: a task cancelled between an awaited open and its close
            # (a job stopped at shutdown) would otherwise leave the file object to the garbage collector.
            self._directory.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as file:
                file.write(data)

        await anyio.to_thread.run_sync(append)

    async def read(self, name: str) -> AsyncIterator[bytes]:
        path = self._path(name)
        offset = 0
        while True:

            def read_at(start: int) -> bytes:
                if not path.exists():
                    return b""
                with path.open("rb") as file:
                    file.seek(start)
                    return file.read(CHUNK_BYTES)

            chunk = await anyio.to_thread.run_sync(read_at, offset)
            if not chunk:
                return
            offset += len(chunk)
            yield chunk

    async def exists(self, name: str) -> bool:
        return await anyio.Path(self._path(name)).exists()

    async def delete(self, name: str) -> None:
        await anyio.to_thread.run_sync(lambda: self._path(name).unlink(missing_ok=True))


class RedisBlobStore:
    """A Redis string per file, written with APPEND and read back in GETRANGE chunks; expires with its job."""

    def __init__(self, redis: Redis, *, prefix: str = "lexica:blobs:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def append(self, name: str, data: bytes) -> None:
        key = self._prefix + name
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.append(key, data)
            pipe.expire(key, JOB_TTL_SECONDS)
            await pipe.execute()

    async def read(self, name: str) -> AsyncIterator[bytes]:
        key = self._prefix + name
        size = int(await self._redis.strlen(key))
        for start in range(0, size, CHUNK_BYTES):
            chunk = await self._redis.getrange(key, start, min(start + CHUNK_BYTES, size) - 1)
            yield chunk if isinstance(chunk, bytes) else chunk.encode()

    async def exists(self, name: str) -> bool:
        return bool(await self._redis.exists(self._prefix + name))

    async def delete(self, name: str) -> None:
        await self._redis.delete(self._prefix + name)


def build_blob_store(redis: Redis | None, directory: Path) -> BlobStore:
    return RedisBlobStore(redis) if redis is not None else DirectoryBlobStore(directory)
