"""The C2PA manifest store as JUMBF boxes: enough to cut out the active manifest.

A manifest store is one JUMBF superbox labelled ``c2pa`` whose children are its description
box and one superbox per manifest (label ``urn:c2pa:...`` or ``urn:uuid:...``); the active
manifest is the last one. c2pa-python reads and validates stores but has no call that returns
one manifest's bytes, so this module walks the boxes itself (ISO/IEC 19566-5 box headers).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import ManifestError

__all__ = ["ManifestBox", "manifest_boxes", "active_manifest_store"]

_C2PA_STORE_LABEL = b"c2pa"
_HEADER = struct.Struct(">I4s")


@dataclass(frozen=True)
class ManifestBox:
    """One manifest of a store: its label and where its superbox lies in the store's bytes."""

    label: str
    start: int
    end: int


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """(type, start, payload start, end) of each box between `start` and `end`."""
    out = []
    at = start
    while at < end:
        if end - at < 8:
            raise ManifestError("The manifest store is truncated inside a box header.")
        size, kind = _HEADER.unpack_from(data, at)
        header = 8
        if size == 1:
            if end - at < 16:
                raise ManifestError("The manifest store is truncated inside a box header.")
            size, header = struct.unpack_from(">Q", data, at + 8)[0], 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            raise ManifestError(f"The manifest store has a box of impossible size {size} at byte {at}.")
        out.append((kind, at, at + header, at + size))
        at += size
    return out


def _label(data: bytes, children: list[tuple[bytes, int, int, int]]) -> bytes | None:
    """The label of a superbox's description box (``jumd``: 16-byte type UUID, toggles, label)."""
    if not children or children[0][0] != b"jumd":
        return None
    _, _, payload, end = children[0]
    if end - payload < 17 or not data[payload + 16] & 0x02:  # toggles bit 1: a label is present
        return None
    return data[payload + 17:end].split(b"\0", 1)[0]


def manifest_boxes(store: bytes) -> tuple[tuple[ManifestBox, ...], tuple[bytes, int, int, int]]:
    """The manifests of a store, oldest first, and the store's description box.

    Raises
    ------
    ManifestError
        If `store` is not a JUMBF manifest store.
    """
    top = _boxes(store, 0, len(store))
    if len(top) != 1 or top[0][0] != b"jumb":
        raise ManifestError("This is not a C2PA manifest store: it must be one JUMBF superbox.")
    children = _boxes(store, top[0][2], top[0][3])
    if _label(store, children) != _C2PA_STORE_LABEL:
        raise ManifestError("This is not a C2PA manifest store: its JUMBF label is not 'c2pa'.")
    manifests = []
    for kind, start, payload, end in children[1:]:
        if kind != b"jumb":
            continue
        label = _label(store, _boxes(store, payload, end))
        if label is not None:
            manifests.append(ManifestBox(label.decode("utf-8", "replace"), start, end))
    if not manifests:
        raise ManifestError("The manifest store holds no manifest.")
    return tuple(manifests), children[0]


def active_manifest_store(store: bytes) -> bytes:
    """A manifest store holding only the active (last) manifest of `store`.

    A store with one manifest is returned unchanged, byte for byte. Otherwise the result is a
    new ``c2pa`` superbox with the original description box and the active manifest's box;
    the ingredients' manifests it refers to are left out, so a validator will report them
    missing.

    Raises
    ------
    ManifestError
        If `store` is not a JUMBF manifest store.
    """
    manifests, (_, desc_start, _, desc_end) = manifest_boxes(store)
    if len(manifests) == 1:
        return store
    active = manifests[-1]
    body = store[desc_start:desc_end] + store[active.start:active.end]
    return _HEADER.pack(8 + len(body), b"jumb") + body
