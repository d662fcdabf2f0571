"""Read the metadata fact-checkers look at: EXIF, XMP, IPTC and generator text.

:func:`read_metadata` reads the headers of a PNG, JPEG, WebP, TIFF/DNG, AVIF
(anything Pillow can open) and turns each field of interest into a
:class:`MetadataSignal` that names where it was found (``"png:parameters"``,
``"exif:Make"``, ``"xmp:Iptc4xmpExt:DigitalSourceType"``) and what it hints
at (``ai_generated``, ``ai_edited``, ``capture``, ``software`` or ``info``).

Pixels are never decoded. PNG, JPEG and WebP containers are walked chunk by
chunk here, because Pillow only finds PNG text stored after the image data by
decoding the image; other formats go through ``Image.open``, which reads
headers only. EXIF is parsed by Pillow, XMP by ``defusedxml`` (DTDs and
entities refused, so XML bombs never expand).

Hostile input never raises: damaged structures end the walk with a note in
the report. Only an empty input or a wrong argument type raises
:class:`~provenance.errors.InvalidInputError`.

Metadata is easy to add, edit and strip. Its presence is a lead, and its
absence is not evidence of anything.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import struct
import warnings
import zlib
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO, Literal, Union, get_args
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from PIL import Image, UnidentifiedImageError

from .errors import InvalidInputError
from .images import read_source

__all__ = [
    "MAX_VALUE_CHARS",
    "MAX_SIGNALS",
    "Indication",
    "MetadataSource",
    "MetadataSignal",
    "MetadataReport",
    "read_metadata",
]

logger = logging.getLogger(__name__)

Indication = Literal["ai_generated", "ai_edited", "capture", "software", "info"]
MetadataSource = Union[str, os.PathLike, bytes, bytearray, memoryview]

#: Longest value kept in a signal, in characters; longer ones are cut and flagged.
MAX_VALUE_CHARS = 4096
#: Most signals one report holds (a hostile file can carry thousands of text chunks).
MAX_SIGNALS = 200

_INDICATIONS: frozenset[str] = frozenset(get_args(Indication))
_AI = ("ai_generated", "ai_edited")
#: Most bytes read from one metadata chunk or segment.
_MAX_CHUNK_BYTES = 4 * 1024 * 1024
#: Most bytes one compressed PNG text chunk may inflate to.
_MAX_INFLATED_BYTES = 4 * 1024 * 1024
#: Most chunks or segments walked in one file.
_MAX_BLOCKS = 200_000

#: What hostile bytes can make parsers (ours, Pillow's, zlib's, json's) raise.
_PARSE_ERRORS = (
    OSError, ValueError, SyntaxError, EOFError, struct.error, KeyError, IndexError, TypeError,
    ZeroDivisionError, OverflowError, RuntimeError,  # RuntimeError: Pillow AVIF, and RecursionError
)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_XMP_JPEG_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXT_PREFIX = b"http://ns.adobe.com/xmp/extension/\x00"
_NOT_EVIDENCE = (
    "Absence of metadata is not evidence either way: most platforms strip it on upload, "
    "and anyone can remove it."
)

# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class MetadataSignal:
    """One metadata field worth showing, and what it hints at.

    Attributes
    ----------
    source : str
        Where it was found, ``"<block>:<field>"``, e.g. ``"png:parameters"``, ``"exif:Make"``.
    name : str
        What kind of field it is, e.g. ``"generator_parameters"``, ``"camera_model"``.
    value : str
        The text, at most :data:`MAX_VALUE_CHARS` characters.
    indicates : {"ai_generated", "ai_edited", "capture", "software", "info"}
        What the field suggests about the image's origin.
    explanation : str
        Plain words on what the field means and how far to trust it.
    truncated : bool
        True if `value` was cut to :data:`MAX_VALUE_CHARS`.
    full_length : int
        Length of the value before cutting, in characters (at least ``len(value)``).
    """

    source: str
    name: str
    value: str
    indicates: Indication
    explanation: str
    truncated: bool = False
    full_length: int = 0

    def __post_init__(self) -> None:
        if self.full_length < len(self.value):
            object.__setattr__(self, "full_length", len(self.value))
        if self.indicates not in _INDICATIONS:
            raise InvalidInputError(
                f"indicates must be one of {sorted(_INDICATIONS)}; got {self.indicates!r}."
            )


@dataclass(frozen=True)
class MetadataReport:
    """Everything :func:`read_metadata` found in one file.

    Attributes
    ----------
    file_format : str or None
        ``"PNG"``, ``"JPEG"``, ``"WEBP"``, ``"TIFF"``...; None if the file is not an image read here.
    signals : tuple of MetadataSignal
        In file order.
    notes : tuple of str
        What could not be read and why (truncation, refused XML, cut values).
    """

    file_format: str | None
    signals: tuple[MetadataSignal, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ai_indicators(self) -> tuple[MetadataSignal, ...]:
        """Signals that say the image was generated or edited with AI."""
        return tuple(s for s in self.signals if s.indicates in _AI)

    @property
    def summary(self) -> str:
        """One or two sentences for a person, in plain words."""
        if not self.signals:
            if self.file_format is None:
                return f"No metadata was read: this file is not an image format read here. {_NOT_EVIDENCE}"
            return f"No metadata of interest was found. {_NOT_EVIDENCE}"
        generated = [s for s in self.signals if s.indicates == "ai_generated"]
        edited = [s for s in self.signals if s.indicates == "ai_edited"]
        capture = [s for s in self.signals if s.indicates == "capture"]
        caveat = "Metadata is easy to add, copy or remove, so treat it as a lead, not proof."
        if generated or edited:
            parts = []
            if generated:
                parts.append(f"was made with generative AI ({_list_sources(generated)})")
            if edited:
                parts.append(f"was edited with generative AI ({_list_sources(edited)})")
            text = "The metadata says the image " + " and ".join(parts) + "."
            if capture:
                text += f" It also carries camera fields ({_list_sources(capture)}), which conflict or were copied."
            return f"{text} {caveat}"
        if capture:
            return (
                f"The metadata describes a camera capture ({_list_sources(capture)}) and nothing in it "
                "mentions AI. Camera fields can be copied or forged, so this does not prove the image is authentic."
            )
        return (
            f"Metadata was found ({len(self.signals)} field{'s' if len(self.signals) > 1 else ''}), "
            "but none of it mentions AI or a camera. "
            "That is not evidence either way."
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for the web API)."""
        return {
            "file_format": self.file_format,
            "summary": self.summary,
            "ai_indicator_count": len(self.ai_indicators),
            "signals": [asdict(s) for s in self.signals],
            "notes": list(self.notes),
        }


def _list_sources(signals: list[MetadataSignal], *, limit: int = 3) -> str:
    sources = list(dict.fromkeys(s.source for s in signals))
    shown = ", ".join(sources[:limit])
    return shown if len(sources) <= limit else f"{shown} and {len(sources) - limit} more"


# --------------------------------------------------------------------------- public API


def read_metadata(source: MetadataSource) -> MetadataReport:
    """Read the metadata signals of an image file, without decoding its pixels.

    Parameters
    ----------
    source : path or bytes
        A file path (``str`` or ``os.PathLike``) or the file's bytes. Non-image
        files (PDF, video, audio) give an empty report with a note.

    Returns
    -------
    MetadataReport
        Signals in file order, notes on anything that could not be read, and
        a plain-words ``summary``.

    Raises
    ------
    InvalidInputError
        If `source` is empty, is a path to no file, or is of another type.
    """
    src = read_source(source)
    mime = src.mime
    with io.BytesIO(src.data) as fp:
        raw = _RawMetadata()
        fmt = _WALKED.get(mime or "")
        try:
            if fmt is None:
                fmt = _open_with_pillow(fp, mime, raw)
            else:
                _WALKERS[fmt](fp, raw)
        except _PARSE_ERRORS as exc:
            logger.info("metadata container walk failed: %r", exc)
            raw.notes.append(f"Reading stopped: the file is damaged ({type(exc).__name__}: {exc}).")
    return _interpret(fmt, raw)


# --------------------------------------------------------------------------- input


class _RawMetadata:
    """Metadata blocks pulled out of a container, before interpretation (private, mutable)."""

    def __init__(self) -> None:
        self.exif: list[tuple[str, bytes | Image.Exif]] = []
        self.xmp: list[tuple[str, bytes]] = []
        self.iptc: list[tuple[str, bytes]] = []
        self.texts: list[tuple[str, str, str]] = []  # (block, key, text)
        self.c2pa: list[str] = []
        self.notes: list[str] = []


def _read_block(fp: BinaryIO, length: int, what: str, raw: _RawMetadata) -> bytes | None:
    """Read a block of `length` bytes, at most _MAX_CHUNK_BYTES, and skip the rest.

    Returns None (with a note) if the file ends inside the block.
    """
    want = min(length, _MAX_CHUNK_BYTES)
    data = fp.read(want)
    if len(data) < want:
        raw.notes.append(f"The file ends inside its {what} block (truncated); that block was not read.")
        return None
    if length > want:
        raw.notes.append(f"A {what} block of {length:,} bytes was read only in part (first {want:,} bytes).")
        fp.seek(length - want, io.SEEK_CUR)
    return data


def _inflate(data: bytes, what: str, raw: _RawMetadata) -> bytes | None:
    """Decompress zlib data, at most _MAX_INFLATED_BYTES of output (zip bombs stay small)."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, _MAX_INFLATED_BYTES)
    except zlib.error as exc:
        raw.notes.append(f"The compressed {what} is damaged ({exc}); it was skipped.")
        return None
    if inflater.unconsumed_tail:
        raw.notes.append(
            f"The compressed {what} inflates to more than {_MAX_INFLATED_BYTES:,} bytes; only the start was read."
        )
    return out


# --------------------------------------------------------------------------- containers


def _walk_png(fp: BinaryIO, raw: _RawMetadata) -> None:
    fp.seek(len(_PNG_MAGIC))
    for _ in range(_MAX_BLOCKS):
        header = fp.read(8)
        if len(header) < 8:
            raw.notes.append("The PNG file ends before its IEND chunk (truncated); metadata up to there was read.")
            return
        length, ctype = struct.unpack(">I4s", header)
        if length > 0x7FFFFFFF:
            raw.notes.append("A PNG chunk has an impossible length; the file is corrupt and reading stopped.")
            return
        if ctype in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
            data = _read_block(fp, length, f"PNG {ctype.decode('latin-1')}", raw)
            if data is None:
                return
            fp.seek(4, io.SEEK_CUR)  # CRC
            _png_chunk(ctype, data, raw)
        else:
            if ctype == b"caBX":
                raw.c2pa.append("png:caBX")
            if ctype == b"IEND":
                return
            fp.seek(length + 4, io.SEEK_CUR)
    raw.notes.append(f"The PNG file has more than {_MAX_BLOCKS:,} chunks; reading stopped.")


def _png_chunk(ctype: bytes, data: bytes, raw: _RawMetadata) -> None:
    if ctype == b"eXIf":
        raw.exif.append(("png:eXIf", data))
        return
    key_bytes, _, rest = data.partition(b"\x00")
    key = key_bytes[:79].decode("latin-1")
    what = f"PNG text chunk {key!r}"
    body: bytes | None
    if ctype == b"tEXt":
        body, encoding = rest, "latin-1"
    elif ctype == b"zTXt":
        body, encoding = _inflate(rest[1:], what, raw), "latin-1"
    else:  # iTXt: flag, method, language\0, translated keyword\0, text
        if len(rest) < 2:
            raw.notes.append(f"The {what} is too short to hold text; it was skipped.")
            return
        compressed = rest[0] == 1
        _lang, _, rest2 = rest[2:].partition(b"\x00")
        _translated, _, body = rest2.partition(b"\x00")
        if compressed:
            body = _inflate(body, what, raw)
        encoding = "utf-8"
    if body is None:
        return
    if key == "XML:com.adobe.xmp":
        raw.xmp.append(("xmp", body))
    elif key.lower().startswith("raw profile type "):
        _raw_profile(key, body.decode("latin-1"), raw)
    else:
        raw.texts.append(("png", key, body.decode(encoding, errors="replace")))


def _raw_profile(key: str, text: str, raw: _RawMetadata) -> None:
    """Decode an ImageMagick/ExifTool ``Raw profile type exif|xmp`` chunk (hex after a name and length)."""
    parts = text.split(None, 2)
    try:
        data = bytes.fromhex("".join(parts[2].split())) if len(parts) == 3 else b""
    except ValueError:
        data = b""
    kind = key.lower().removeprefix("raw profile type ").strip()
    if not data:
        raw.notes.append(f"The PNG chunk {key!r} is not valid hex; it was skipped.")
    elif kind in ("exif", "app1") and (data.startswith(b"Exif") or data[:2] in (b"II", b"MM")):
        raw.exif.append((f"png:{key}", data))
    elif kind == "xmp":
        raw.xmp.append(("xmp", data))
    elif kind in ("iptc", "8bim"):
        raw.iptc.append((f"png:{key}", _iim_from_photoshop(data) if data.startswith(b"8BIM") else data))
    else:
        raw.notes.append(f"The PNG chunk {key!r} holds a {kind} profile, which is not interpreted.")


def _walk_jpeg(fp: BinaryIO, raw: _RawMetadata) -> None:
    fp.seek(2)
    for _ in range(_MAX_BLOCKS):
        byte = fp.read(1)
        if not byte:
            raw.notes.append("The JPEG file ends inside its header (truncated); metadata up to there was read.")
            return
        if byte != b"\xff":
            raw.notes.append("The JPEG header is out of step (a marker was expected); reading stopped.")
            return
        marker = fp.read(1)
        for _fill in range(64):
            if marker != b"\xff":
                break
            marker = fp.read(1)
        if not marker:
            raw.notes.append("The JPEG file ends inside its header (truncated); metadata up to there was read.")
            return
        code = marker[0]
        if code == 0x01 or 0xD0 <= code <= 0xD8:
            continue
        if code in (0xD9, 0xDA):  # end of image, start of scan: the header is over
            return
        size = fp.read(2)
        if len(size) < 2:
            raw.notes.append("The JPEG file ends inside a segment header (truncated).")
            return
        (length,) = struct.unpack(">H", size)
        if length < 2:
            raw.notes.append("A JPEG segment has an impossible length; the file is corrupt and reading stopped.")
            return
        if code in (0xE1, 0xEB, 0xED, 0xFE):
            data = _read_block(fp, length - 2, f"JPEG APP{code - 0xE0}" if code != 0xFE else "JPEG COM", raw)
            if data is None:
                return
            _jpeg_segment(code, data, raw)
        else:
            fp.seek(length - 2, io.SEEK_CUR)
    raw.notes.append(f"The JPEG file has more than {_MAX_BLOCKS:,} header segments; reading stopped.")


def _jpeg_segment(code: int, data: bytes, raw: _RawMetadata) -> None:
    if code == 0xE1:
        if data.startswith(b"Exif\x00\x00"):
            raw.exif.append(("jpeg:APP1", data))
        elif data.startswith(_XMP_JPEG_PREFIX):
            raw.xmp.append(("xmp", data[len(_XMP_JPEG_PREFIX):]))
        elif data.startswith(_XMP_EXT_PREFIX):
            raw.notes.append(  # repeated notes are merged in _interpret
"The JPEG has extended XMP (split over several segments); only the main packet was read.")
    elif code == 0xED and data.startswith(b"Photoshop 3.0\x00"):
        iim = _iim_from_photoshop(data[len(b"Photoshop 3.0\x00"):])
        if iim:
            raw.iptc.append(("jpeg:APP13", iim))
    elif code == 0xFE:
        raw.texts.append(("jpeg", "COM", _decode_text(data)))
    elif code == 0xEB and b"jumb" in data[:64] and b"c2pa" in data[:128] and "jpeg:APP11" not in raw.c2pa:
        raw.c2pa.append("jpeg:APP11")


def _walk_webp(fp: BinaryIO, raw: _RawMetadata) -> None:
    size = fp.seek(0, io.SEEK_END)
    fp.seek(12)
    for _ in range(_MAX_BLOCKS):
        header = fp.read(8)
        if not header:
            if fp.tell() > size:
                raw.notes.append("The WebP file ends inside a chunk (truncated); metadata up to there was read.")
            return
        if len(header) < 8:
            raw.notes.append("The WebP file ends inside a chunk header (truncated).")
            return
        fourcc, length = struct.unpack("<4sI", header)
        pad = length & 1
        if fourcc in (b"EXIF", b"XMP "):
            data = _read_block(fp, length, f"WebP {fourcc.decode('latin-1').strip()}", raw)
            if data is None:
                return
            fp.seek(pad, io.SEEK_CUR)
            if fourcc == b"EXIF":
                raw.exif.append(("webp:EXIF", data))
            else:
                raw.xmp.append(("xmp", data))
        else:
            if fourcc == b"C2PA":
                raw.c2pa.append("webp:C2PA")
            fp.seek(length + pad, io.SEEK_CUR)
    raw.notes.append(f"The WebP file has more than {_MAX_BLOCKS:,} chunks; reading stopped.")


#: Containers walked here, by the type :func:`~provenance.images.detect_mime_type` gives; Pillow reads the rest.
_WALKED = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
_ISO_MEDIA = "an ISO media file (MP4, MOV, HEIC or AVIF)"
#: Types the verifier sees that are not images read here, in words, for a clear note.
_NON_IMAGE_KINDS = {
    "application/pdf": "a PDF document",
    "video/mp4": _ISO_MEDIA, "video/quicktime": _ISO_MEDIA, "audio/mp4": _ISO_MEDIA,
    "image/heic": _ISO_MEDIA, "image/heif": _ISO_MEDIA, "image/avif": _ISO_MEDIA,
    "audio/mpeg": "an MP3 audio file",
    "audio/wav": "a WAV audio file",
    "audio/flac": "a FLAC audio file",
    "video/avi": "an AVI video",
    "image/svg+xml": "an SVG document",
}


_WALKERS = {"PNG": _walk_png, "JPEG": _walk_jpeg, "WEBP": _walk_webp}


def _open_with_pillow(fp: BinaryIO, mime: str | None, raw: _RawMetadata) -> str | None:
    """Read TIFF, DNG, AVIF, GIF, ... headers through Pillow (``Image.open`` decodes no pixels)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            im = Image.open(fp)
        except (UnidentifiedImageError, Image.DecompressionBombError, *_PARSE_ERRORS) as exc:
            kind = _NON_IMAGE_KINDS.get(mime or "")
            if isinstance(exc, Image.DecompressionBombError):
                raw.notes.append(f"Pillow refused to open the file as too large ({exc}); metadata was not read.")
            elif kind is not None:
                raw.notes.append(f"This looks like {kind}, not an image format read here; no metadata was read.")
            else:
                raw.notes.append("This file is not an image format read here (PNG, JPEG, WebP, TIFF, AVIF, ...); "
                                 "no metadata was read.")
            return None
        with im:
            fmt = im.format
            exif = im.getexif()
            exif.get_ifd(0x8769)  # parse the sub-IFDs now: they are read lazily from the open file
            exif.get_ifd(0x8825)
            raw.exif.append(("exif", exif))
            xmp = im.info.get("xmp")
            if isinstance(xmp, str):
                xmp = xmp.encode("utf-8")
            if isinstance(xmp, bytes) and xmp:
                raw.xmp.append(("xmp", xmp))
            comment = im.info.get("comment")
            if isinstance(comment, (bytes, str)) and comment:
                raw.texts.append((fmt.lower() if fmt else "image", "comment", _decode_text(comment)))
            tags = getattr(im, "tag_v2", None)
            iptc = tags.get(33723) if tags is not None else None
            if isinstance(iptc, bytes):
                raw.iptc.append(("tiff:IPTC", iptc))
    raw.notes.extend(f"Pillow warned: {w.message}" for w in caught)
    return fmt


# --------------------------------------------------------------------------- interpretation


class _Collector:
    """Gathers signals, capped at MAX_SIGNALS (private, mutable)."""

    def __init__(self, notes: list[str]) -> None:
        self.signals: list[MetadataSignal] = []
        self.notes = notes
        self.dropped = 0

    def add(self, source: str, name: str, value: str, indicates: str, explanation: str) -> None:
        value = value.replace("\x00", "").strip()
        if not value:
            return
        if len(self.signals) >= MAX_SIGNALS:
            self.dropped += 1
            return
        full = len(value)
        truncated = full > MAX_VALUE_CHARS
        if truncated:
            value = value[:MAX_VALUE_CHARS]
            self.notes.append(f"{source}: the value has {full:,} characters; the first {MAX_VALUE_CHARS:,} are shown.")
        self.signals.append(
            MetadataSignal(source, name, value, indicates, explanation, truncated, full)  # type: ignore[arg-type]
        )


def _guarded(out: _Collector, parse: Any, *args: Any) -> None:
    """Run one field parser; a damaged block becomes a note, not an exception."""
    try:
        parse(*args)
    except _PARSE_ERRORS as exc:
        logger.info("metadata field parser %s failed: %r", parse.__name__, exc)
        out.notes.append(f"A metadata block is damaged and was skipped ({type(exc).__name__}: {exc}).")


def _interpret(fmt: str | None, raw: _RawMetadata) -> MetadataReport:
    out = _Collector(raw.notes)
    for block, exif in raw.exif:
        _guarded(out, _exif_signals, block, exif, out)
    for _block, xmp in raw.xmp:
        _guarded(out, _xmp_signals, xmp, out)
    for block, iim in raw.iptc:
        _guarded(out, _iim_signals, block, iim, out)
    _guarded(out, _text_signals, raw.texts, out)
    for where in raw.c2pa:
        out.add(
            where, "c2pa_manifest_present", "present", "info",
            "The file carries a C2PA manifest (Content Credentials). Its validity is checked separately.",
        )
    if out.dropped:
        out.notes.append(f"{out.dropped:,} more metadata fields were not listed (limit {MAX_SIGNALS}).")
    notes = tuple(dict.fromkeys(out.notes))
    return MetadataReport(fmt, tuple(out.signals), notes)


# ---- free text: generator settings and plain-words AI labels

_A1111_STEPS = re.compile(r"\bSteps: \d+")
_A1111_MORE = re.compile(r"\b(Sampler|CFG scale|Seed|Model hash|Negative prompt): ")
_AI_EDITED_PHRASES = re.compile(
    r"\b(edited with (google )?ai|ai[- ]edited|generative (fill|expand)|edited using ai)\b", re.IGNORECASE
)
_AI_MADE_PHRASES = re.compile(
    r"\b(made with (google )?ai|ai[- ]generated|generated (by|with|using) ai|created (with|by|using) ai"
    r"|ai generated image)\b",
    re.IGNORECASE,
)
_AI_TOOL_NAMES = (
    "NovelAI", "Midjourney", "DALL-E", "DALL·E", "DALLE", "Stable Diffusion", "StableDiffusion", "SDXL",
    "Firefly", "Imagen", "ComfyUI", "InvokeAI", "AUTOMATIC1111", "stable-diffusion-webui", "Fooocus",
    "Leonardo.Ai", "Ideogram", "DreamStudio", "Craiyon", "Bing Image Creator", "Gemini", "FLUX.1",
    "Black Forest Labs", "Kandinsky", "DiffusionBee", "Draw Things", "NightCafe", "SwarmUI",
)
_AI_TOOLS = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, _AI_TOOL_NAMES)) + r")(?!\w)", re.IGNORECASE)


def _ai_hint(text: str, *, tool_names: bool) -> tuple[str, str] | None:
    """Return (indicates, reason) if `text` itself points at AI, else None."""
    if _A1111_STEPS.search(text) and _A1111_MORE.search(text):
        return "ai_generated", (
            "It holds image-generator settings (Steps, Sampler, CFG scale, Seed), as written by "
            "Stable Diffusion tools."
        )
    if _AI_EDITED_PHRASES.search(text):
        return "ai_edited", "It says in words that the image was edited with AI."
    if _AI_MADE_PHRASES.search(text):
        return "ai_generated", "It says in words that the image was made with AI."
    if tool_names:
        match = _AI_TOOLS.search(text)
        if match:
            return "ai_generated", f"It names an AI image generator ({match.group(0)})."
    return None


def _add_text(out: _Collector, source: str, name: str, value: str, indicates: str, explanation: str,
              *, tool_names: bool = False) -> None:
    """Add a free-text field, upgrading it to an AI indication if its text points at AI."""
    hint = _ai_hint(value, tool_names=tool_names)
    if hint is not None and indicates not in _AI:
        indicates, reason = hint
        explanation = f"{explanation} {reason}"
    out.add(source, name, value, indicates, explanation)


def _decode_text(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


# ---- PNG text chunks and JPEG/GIF comments

_EDIT_TRUST = "Anyone can write or remove this field."
_GENERATOR_KEYS: dict[str, tuple[str, str]] = {
    "parameters": (
        "generator_parameters",
        "Stable Diffusion WebUI (AUTOMATIC1111, Forge, SD.Next, Fooocus, SwarmUI) stores the prompt and "
        "generation settings under this key.",
    ),
    "invokeai_metadata": ("invokeai_metadata", "InvokeAI stores its generation settings under this key."),
    "invokeai_graph": ("invokeai_metadata", "InvokeAI stores its generation graph under this key."),
    "sd-metadata": ("invokeai_metadata", "InvokeAI 2.x stores its generation settings under this key."),
    "dream": ("invokeai_metadata", "InvokeAI 1.x (the 'dream' script) stores its command line under this key."),
    "fooocus_scheme": ("generator_metadata", "Fooocus records its metadata scheme under this key."),
    "use_stable_diffusion_model": ("generator_metadata", "Easy Diffusion records the model used under this key."),
    "negative_prompt": ("generator_metadata", "Image generators store the negative prompt under this key."),
    "sd_model_name": ("generator_metadata", "Image generators store the model name under this key."),
    "generation_data": ("generator_metadata", "Online generators store generation settings under this key."),
}
_STANDARD_PNG_KEYS: dict[str, str] = {
    "title": "title",
    "author": "creator",
    "description": "description",
    "copyright": "rights",
    "creation time": "creation_time",
    "disclaimer": "text",
    "warning": "text",
    "comment": "comment",
    "com": "comment",
    "source": "source",
}


def _text_signals(texts: list[tuple[str, str, str]], out: _Collector) -> None:
    by_key = {key.lower(): text for _block, key, text in texts}
    novelai = "novelai" in by_key.get("software", "").lower()
    for block, key, text in texts:
        source, lower = f"{block}:{key}", key.lower()
        if lower in _GENERATOR_KEYS:
            name, why = _GENERATOR_KEYS[lower]
            out.add(source, name, text, "ai_generated", f"{why} Strong sign of AI generation. {_EDIT_TRUST}")
        elif lower == "prompt":
            graph = _json_object(text)
            if graph is not None and any(isinstance(v, dict) and "class_type" in v for v in graph.values()):
                out.add(source, "comfyui_prompt", text, "ai_generated",
                        f"ComfyUI stores its generation graph (prompt JSON) under this key. {_EDIT_TRUST}")
            else:
                out.add(source, "generator_prompt", text, "ai_generated",
                        f"Image generators store the text prompt under this key. {_EDIT_TRUST}")
        elif lower == "workflow":
            graph = _json_object(text)
            tool = "ComfyUI" if graph is not None and "nodes" in graph else "An image generator"
            out.add(source, "comfyui_workflow", text, "ai_generated",
                    f"{tool} stores its node workflow under this key. {_EDIT_TRUST}")
        elif lower == "software":
            _add_text(out, source, "software", text, "software",
                      f"Names the program that wrote the file. {_EDIT_TRUST}", tool_names=True)
        elif lower == "comment" and (settings := _json_object(text)) is not None and (
            {"steps", "sampler", "seed", "scale", "uc", "n_samples"} & set(settings)
        ):
            out.add(source, "novelai_comment", text, "ai_generated",
                    f"Generation settings as JSON (prompt, steps, sampler, seed), as NovelAI writes them. {_EDIT_TRUST}")
        elif novelai and lower in ("source", "description", "generation time"):
            out.add(source, "generator_metadata", text, "ai_generated",
                    f"NovelAI stores the model, prompt or timing under this key. {_EDIT_TRUST}")
        elif lower == "source":
            _add_text(out, source, "source", text, "info",
                      f"Names the device or program the image came from. {_EDIT_TRUST}", tool_names=True)
        elif lower.split(":", 1)[0] in _IMAGEMAGICK_PREFIXES:
            _imagemagick_property(source, key, text, out)
        else:
            name = _STANDARD_PNG_KEYS.get(lower, "text")
            _add_text(out, source, name, text, "info", f"A free-text field. {_EDIT_TRUST}")


#: Key prefixes of the property dumps ImageMagick writes as PNG text (``exif:Make``, ``date:create``, ...).
_IMAGEMAGICK_PREFIXES = frozenset({"exif", "date", "icc", "png", "tiff", "jpeg", "photoshop", "xmp", "8bim"})


def _imagemagick_property(source: str, key: str, text: str, out: _Collector) -> None:
    """Keep the EXIF fields of interest from an ImageMagick property dump; skip the rest with one note."""
    prefix, _, field_name = key.partition(":")
    spec = _EXIF_BY_NAME.get(field_name) if prefix.lower() == "exif" else None
    if spec is None:
        out.notes.append(
            "ImageMagick property chunks (exif:*, date:*, icc:*) other than the fields listed were skipped."
        )
        return
    _field, name, indicates, why, tools = spec
    _add_text(out, source, name, text, indicates, why if indicates == "capture" else f"{why} {_EDIT_TRUST}",
              tool_names=tools)


# ---- EXIF

#: tag -> (field name, signal name, indicates, explanation, match AI tool names)
_EXIF_BASE: dict[int, tuple[str, str, str, str, bool]] = {
    0x010F: ("Make", "camera_make", "capture",
             "Names a camera or phone maker. Cameras write this, but any program can write or copy it.", False),
    0x0110: ("Model", "camera_model", "capture",
             "Names a camera or phone model. Cameras write this, but any program can write or copy it.", False),
    0x0131: ("Software", "software", "software", "Names the program or firmware that last wrote the file.", True),
    0x013B: ("Artist", "creator", "info", "Names the author.", False),
    0x8298: ("Copyright", "rights", "info", "The copyright notice.", False),
    0x010E: ("ImageDescription", "description", "info", "A free-text description.", False),
    0x9C9B: ("XPTitle", "title", "info", "A Windows title field.", False),
    0x9C9C: ("XPComment", "comment", "info", "A Windows comment field.", False),
    0x9C9D: ("XPAuthor", "creator", "info", "A Windows author field.", False),
}
_EXIF_IFD: dict[int, tuple[str, str, str, str, bool]] = {
    0x9003: ("DateTimeOriginal", "capture_time", "capture",
             "When the photo was taken, by the camera's clock. Easy to set or copy.", False),
    0xA433: ("LensMake", "lens_make", "capture", "Names the lens maker. Cameras write this.", False),
    0xA434: ("LensModel", "lens_model", "capture", "Names the lens. Cameras write this.", False),
    0x9286: ("UserComment", "user_comment", "info", "A free-text comment.", False),
}

_EXIF_BY_NAME = {spec[0]: spec for spec in (*_EXIF_BASE.values(), *_EXIF_IFD.values())}


def _exif_value(tag: int, value: Any) -> str:
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        value = bytes(v & 0xFF for v in value)
    if isinstance(value, bytes):
        if 0x9C9B <= tag <= 0x9C9F:
            return value.decode("utf-16-le", errors="replace")
        if tag == 0x9286:
            return _user_comment(value)
        return _decode_text(value)
    if isinstance(value, str):
        try:  # Pillow reads EXIF ASCII as Latin-1; most writers store UTF-8 there
            return value.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return value
    return str(value)


def _user_comment(value: bytes) -> str:
    """Decode EXIF UserComment: 8 bytes naming the charset, then the text."""
    charset, body = value[:8], value[8:]
    if charset.startswith(b"UNICODE"):
        sample = body[:256]
        big_endian = sample[0::2].count(0) >= sample[1::2].count(0)
        return body.decode("utf-16-be" if big_endian else "utf-16-le", errors="replace")
    if charset.startswith(b"JIS"):
        return body.decode("shift_jis", errors="replace")
    if charset.startswith(b"ASCII") or charset == b"\x00" * 8:
        return _decode_text(body)
    return _decode_text(value)


def _gps_text(gps: dict[int, Any]) -> str:
    try:
        lat = sum(float(x) / 60**i for i, x in enumerate(gps[2])) * (-1 if gps.get(1) == "S" else 1)
        lon = sum(float(x) / 60**i for i, x in enumerate(gps[4])) * (-1 if gps.get(3) == "W" else 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return "present"
    if lat != lat or lon != lon:  # NaN from a 0/0 rational
        return "present"
    return f"{lat:.6f}, {lon:.6f}"


def _exif_signals(block: str, data: bytes | Image.Exif, out: _Collector) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if isinstance(data, Image.Exif):
            exif = data
        else:
            exif = Image.Exif()
            exif.load(data)
        fields = [(tag, exif.get(tag), spec) for tag, spec in _EXIF_BASE.items()]
        sub = exif.get_ifd(0x8769)
        fields += [(tag, sub.get(tag), spec) for tag, spec in _EXIF_IFD.items()]
        gps = exif.get_ifd(0x8825)
    out.notes.extend(f"EXIF in {block}: {w.message}" for w in caught)
    for tag, value, (field_name, name, indicates, why, tools) in fields:
        if value is None:
            continue
        _add_text(out, f"exif:{field_name}", name, _exif_value(tag, value), indicates,
                  f"{why} {_EDIT_TRUST}" if indicates != "capture" else why, tool_names=tools)
    if gps:
        out.add("exif:GPSInfo", "gps_position", _gps_text(gps), "capture",
                "A GPS position is recorded, as phones and some cameras write. It can be copied or forged.")


# ---- XMP

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XMP_NAMESPACES = {
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
}
#: (prefix, property) -> (signal name, indicates, explanation, match AI tool names)
_XMP_PROPERTIES: dict[tuple[str, str], tuple[str, str, str, bool]] = {
    ("xmp", "CreatorTool"): ("creator_tool", "software", "Names the program that created the file.", True),
    ("photoshop", "Credit"): ("credit", "info", "The credit line.", False),
    ("dc", "creator"): ("creator", "info", "Names the author.", False),
    ("dc", "rights"): ("rights", "info", "The copyright notice.", False),
    ("dc", "description"): ("description", "info", "A free-text description.", False),
    ("tiff", "Make"): ("camera_make", "capture", "Names a camera or phone maker.", False),
    ("tiff", "Model"): ("camera_model", "capture", "Names a camera or phone model.", False),
    ("exif", "DateTimeOriginal"): ("capture_time", "capture", "When the photo was taken, by the camera's clock.", False),
    ("exif", "UserComment"): ("user_comment", "info", "A free-text comment.", False),
    ("Iptc4xmpExt", "AISystemUsed"): (
        "ai_system_used", "ai_generated", "Names the AI system used to make the image (IPTC AI System Used).", False),
    ("Iptc4xmpExt", "AIPromptInformation"): (
        "generator_prompt", "ai_generated", "The prompt given to an AI system (IPTC AI Prompt Information).", False),
}
#: IPTC digital source type term -> (indicates, explanation)
_DIGITAL_SOURCE_TYPES: dict[str, tuple[str, str]] = {
    "trainedAlgorithmicMedia": ("ai_generated", "Declares the image was created by a generative AI model."),
    "compositeWithTrainedAlgorithmicMedia": (
        "ai_edited", "Declares the image combines other content with generative-AI parts (e.g. generative fill)."),
    "algorithmicMedia": (
        "software", "Declares the image was made by an algorithm without a trained model (e.g. procedural art): "
        "computer-made, but not, by this label, generative AI."),
    "algorithmicallyEnhanced": ("software", "Declares the image was enhanced by an algorithm."),
    "digitalCapture": ("capture", "Declares the image was captured by a camera sensor."),
    "computationalCapture": ("capture", "Declares a camera capture processed by the device (computational photography)."),
    "compositeCapture": ("capture", "Declares a composite of several camera captures."),
    "negativeFilm": ("capture", "Declares a scan of a film negative."),
    "positiveFilm": ("capture", "Declares a scan of a slide or positive film."),
    "print": ("capture", "Declares a scan of a print."),
    "screenCapture": ("software", "Declares a screenshot."),
    "minorHumanEdits": ("software", "Declares minor edits by a person."),
    "humanEdits": ("software", "Declares edits by a person."),
    "compositeSynthetic": ("software", "Declares a composite including synthetic (computer-made) parts."),
    "digitalArt": ("software", "Declares art made by a person with digital tools."),
    "digitalCreation": ("software", "Declares art made by a person with digital tools (older term)."),
    "softwareImage": ("software", "Declares an image made by software (older term)."),
    "virtualRecording": ("software", "Declares a recording of a virtual (rendered) scene."),
    "dataDrivenMedia": ("software", "Declares a rendering of data."),
}


def _parse_xmp(data: bytes, out: _Collector) -> Element | None:
    data = data.strip(b"\x00\t\r\n ")
    start = data.find(b"<")
    if start < 0:
        out.notes.append("An XMP packet holds no XML; it was skipped.")
        return None
    try:
        # forbid_dtd: XMP never needs a DTD, and refusing it means entities can never expand.
        return SafeET.fromstring(data[start:], forbid_dtd=True)
    except DefusedXmlException:
        out.notes.append(
            "An XMP packet declares a DTD or entities, which XMP never needs (this is how XML bombs work); "
            "it was not parsed."
        )
    except ParseError as exc:
        out.notes.append(f"An XMP packet is not well-formed XML ({exc}); it was skipped.")
    return None


def _xmp_text(elem: Element) -> str:
    items = [li.text.strip() for li in elem.iter(f"{{{_RDF}}}li") if li.text and li.text.strip()]
    if items:
        return "; ".join(items)
    if elem.text and elem.text.strip():
        return elem.text.strip()
    return elem.get(f"{{{_RDF}}}resource", "")


def _xmp_signals(data: bytes, out: _Collector) -> None:
    root = _parse_xmp(data, out)
    if root is None:
        return
    wanted = {f"{{{_XMP_NAMESPACES[p]}}}{local}": (p, local) for p, local in _XMP_PROPERTIES}
    dst = f"{{{_XMP_NAMESPACES['Iptc4xmpExt']}}}DigitalSourceType"
    for elem in root.iter():
        found = [(tag, value) for tag, value in elem.attrib.items() if tag in wanted or tag == dst]
        if elem.tag in wanted or elem.tag == dst:
            found.append((elem.tag, _xmp_text(elem)))
        for tag, value in found:
            if tag == dst:
                _digital_source_type(value, out)
                continue
            prefix, local = wanted[tag]
            name, indicates, why, tools = _XMP_PROPERTIES[(prefix, local)]
            trust = why if indicates == "capture" else f"{why} {_EDIT_TRUST}"
            _add_text(out, f"xmp:{prefix}:{local}", name, value, indicates, trust, tool_names=tools)


def _digital_source_type(value: str, out: _Collector) -> None:
    term = value.strip().rstrip("/").rsplit("/", 1)[-1]
    indicates, why = _DIGITAL_SOURCE_TYPES.get(
        term, ("info", "A digital source type that is not in the IPTC vocabulary known here.")
    )
    out.add(
        "xmp:Iptc4xmpExt:DigitalSourceType", "digital_source_type", value, indicates,
        f"{why} (IPTC digital source type {term!r}.) Generators and cameras write this label, "
        "but anyone can write or remove it.",
    )


# ---- IPTC-IIM

#: (record, dataset) -> (IIM name, signal name, indicates, explanation, match AI tool names)
_IIM_FIELDS: dict[tuple[int, int], tuple[str, str, str, str, bool]] = {
    (2, 5): ("ObjectName", "title", "info", "The title.", False),
    (2, 65): ("OriginatingProgram", "software", "software", "Names the program that made the file.", True),
    (2, 80): ("By-line", "creator", "info", "Names the author.", False),
    (2, 110): ("Credit", "credit", "info", "The credit line.", False),
    (2, 115): ("Source", "source", "info", "Names the original owner or supplier.", False),
    (2, 116): ("CopyrightNotice", "rights", "info", "The copyright notice.", False),
    (2, 120): ("Caption-Abstract", "description", "info", "A free-text caption.", False),
}


def _iim_from_photoshop(data: bytes) -> bytes:
    """Return the IPTC-IIM block (resource 0x0404) from Photoshop image resources, or b''."""
    pos = 0
    while pos + 12 <= len(data) and data[pos:pos + 4] == b"8BIM":
        (resource,) = struct.unpack(">H", data[pos + 4:pos + 6])
        name_len = data[pos + 6]
        pos += 6 + ((name_len + 2) & ~1)  # Pascal name, padded to even with its length byte
        if pos + 4 > len(data):
            break
        (size,) = struct.unpack(">I", data[pos:pos + 4])
        pos += 4
        if resource == 0x0404:
            return data[pos:pos + size]
        pos += size + (size & 1)
    return b""


def _iim_records(data: bytes) -> list[tuple[int, int, bytes]]:
    records, pos = [], 0
    while pos + 5 <= len(data) and data[pos] == 0x1C:
        record, dataset = data[pos + 1], data[pos + 2]
        (size,) = struct.unpack(">H", data[pos + 3:pos + 5])
        pos += 5
        if size & 0x8000:  # extended length: the low bits count the length bytes that follow
            count = size & 0x7FFF
            if count > 4:
                break
            size = int.from_bytes(data[pos:pos + count], "big")
            pos += count
        records.append((record, dataset, data[pos:pos + size]))
        pos += size
    return records


def _iim_signals(block: str, data: bytes, out: _Collector) -> None:
    records = _iim_records(data)
    utf8 = any(r == 1 and d == 90 and v.startswith(b"\x1b%G") for r, d, v in records)
    for record, dataset, value in records:
        spec = _IIM_FIELDS.get((record, dataset))
        if spec is None:
            continue
        field_name, name, indicates, why, tools = spec
        text = value.decode("utf-8", errors="replace") if utf8 else _decode_text(value)
        _add_text(out, f"iptc:{field_name}", name, text, indicates, f"{why} {_EDIT_TRUST}", tool_names=tools)
