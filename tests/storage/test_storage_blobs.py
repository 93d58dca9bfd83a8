"""Attachment blobs on disk, named by content hash (no database involved)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.runtime.storage import BlobStore, BlobTooLarge


def test_put_open_dedupe(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = "设备照片".encode() * 1000
    digest = hashlib.sha256(data).hexdigest()
    blob = store.put(data)
    assert (blob.sha256, blob.size) == (digest, len(data))
    assert store.path(digest) == tmp_path / "blobs" / digest[:2] / digest[2:4] / digest
    with store.open(digest) as f:
        assert f.read() == data
    assert store.put(io.BytesIO(data)) == blob  # same content, same name
    assert store.put([data[:10], data[10:]]) == blob
    assert sorted(p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()) == [digest]
    assert store.delete(digest) is True and store.delete(digest) is False
    assert not store.exists(digest)


def test_too_large_keeps_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(BlobTooLarge, match="file is larger than 10 bytes"):
        store.put([b"12345", b"678901"], max_size=10)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../etc/passwd", "ABC", "a" * 63, "g" * 64])
def test_names_must_be_digests(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="not a SHA-256 hex digest"):
        BlobStore(tmp_path).path(name)


def test_default_root_is_under_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGDAN_DATA_DIR", str(tmp_path))
    assert BlobStore().root == tmp_path / "blobs"


@pytest.mark.anyio
async def test_put_stream(tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"abc", b"def"):
            yield part

    blob = await BlobStore(tmp_path).put_stream(chunks())
    assert blob.sha256 == hashlib.sha256(b"abcdef").hexdigest() and blob.size == 6
