"""Canonical bytes of signed documents.

Every signed document (transfer body, batch, limit change, key event,
checkpoint, ...) has exactly one byte form: a domain tag naming what the bytes
are, a newline, then the RFC 8785 (JSON Canonicalization Scheme) encoding of
the document.  The tag stops a signature made for one kind of document from
being replayed as another.  Amounts inside documents are decimal strings.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

TAG_TRANSFER = b"mutualcredit/transfer/v1"
TAG_BATCH = b"mutualcredit/batch/v1"
TAG_EVENT = b"mutualcredit/event/v1"
TAG_RECORD = b"mutualcredit/record/v1"  # limit changes, key and role events, requests
TAG_CHECKPOINT = b"mutualcredit/checkpoint/v1"


def canonical_json(document: Any) -> bytes:
    """RFC 8785 bytes of ``document`` (keys sorted by UTF-16 code units, no spaces)."""
    return rfc8785.dumps(document)


def canonical_bytes(tag: bytes, document: Any) -> bytes:
    assert tag.startswith(b"mutualcredit/"), tag
    return tag + b"\n" + canonical_json(document)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
