"""Tests for provenance.metadata: every case is a real file built with Pillow in tmp_path."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from provenance import metadata
from provenance.errors import InvalidInputError
from provenance.metadata import MAX_SIGNALS, MAX_VALUE_CHARS, MetadataReport, MetadataSignal, read_metadata

A1111_PARAMETERS = (
    "a lighthouse at dusk, oil painting\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 64x48, Model hash: 31e35c80fc, Model: sd_xl_base"
)
COMFY_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20, "cfg": 8.0, "model": ["4", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
}
COMFY_WORKFLOW = {"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": []}
NOVELAI_COMMENT = {"prompt": "a fox", "steps": 28, "sampler": "k_euler", "seed": 42, "scale": 5.0, "uc": "lowres"}


# --------------------------------------------------------------------------- builders


def _pixels(rng: np.random.Generator, height: int = 48, width: int = 64) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _png(rng: np.random.Generator, texts: dict[str, str], *, itxt: tuple[str, ...] = (), ztxt: tuple[str, ...] = ()) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        if key in itxt:
            info.add_itxt(key, value, zip=True)
        else:
            info.add_text(key, value, zip=key in ztxt)
    buf = io.BytesIO()
    _pixels(rng).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _exif(**fields: object) -> Image.Exif:
    exif = Image.Exif()
    base = {"Make": 0x010F, "Model": 0x0110, "Software": 0x0131, "Artist": 0x013B, "Copyright": 0x8298}
    sub = {"DateTimeOriginal": 0x9003, "UserComment": 0x9286}
    for name, value in fields.items():
        if name in base:
            exif[base[name]] = value
        else:
            exif.get_ifd(0x8769)[sub[name]] = value
    return exif


def _save(rng: np.random.Generator, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    _pixels(rng).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _xmp(body: str) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        f'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" {body}'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode("utf-8")


def _dst_xmp(term: str, creator_tool: str = "Example Generator 1.0") -> bytes:
    return _xmp(
        f'xmp:CreatorTool="{creator_tool}">'
        f"<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/{term}"
        "</Iptc4xmpExt:DigitalSourceType>"
        '<dc:creator><rdf:Seq><rdf:li>Ada</rdf:li><rdf:li>Grace</rdf:li></rdf:Seq></dc:creator>'
        "</rdf:Description>"
    )


def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def _by_source(report: MetadataReport) -> dict[str, MetadataSignal]:
    return {s.source: s for s in report.signals}


# --------------------------------------------------------------------------- generator text


@pytest.mark.parametrize(
    ("texts", "itxt", "source", "name"),
    [
        ({"parameters": A1111_PARAMETERS}, (), "png:parameters", "generator_parameters"),
        ({"prompt": json.dumps(COMFY_PROMPT)}, (), "png:prompt", "comfyui_prompt"),
        ({"workflow": json.dumps(COMFY_WORKFLOW)}, ("workflow",), "png:workflow", "comfyui_workflow"),
        ({"invokeai_metadata": json.dumps({"positive_prompt": "a cat", "seed": 1})}, (), "png:invokeai_metadata",
         "invokeai_metadata"),
        ({"Software": "NovelAI", "Comment": json.dumps(NOVELAI_COMMENT)}, ("Comment",), "png:Comment",
         "novelai_comment"),
        ({"Software": "NovelAI", "Source": "Stable Diffusion XL C1E1DE52"}, (), "png:Source", "generator_metadata"),
        ({"Software": "NovelAI"}, (), "png:Software", "software"),
        ({"Title": "AI generated image"}, (), "png:Title", "title"),
    ],
)
def test_png_generator_text_is_ai_generated(rng, texts, itxt, source, name):
    report = read_metadata(_png(rng, texts, itxt=itxt))
    signal = _by_source(report)[source]
    assert report.file_format == "PNG"
    assert signal.name == name
    assert signal.indicates == "ai_generated"
    assert signal.value == texts[source.split(":", 1)[1]]
    assert signal in report.ai_indicators
    assert "generative AI" in report.summary


def test_comfyui_prompt_json_and_plain_prompt_are_told_apart(rng):
    report = read_metadata(_png(rng, {"prompt": "a watercolor of a harbour"}))
    signal = _by_source(report)["png:prompt"]
    assert (signal.name, signal.indicates) == ("generator_prompt", "ai_generated")


def test_plain_png_text_is_info_only(rng):
    report = read_metadata(_png(rng, {"Author": "Jo Bloggs", "Comment": "holiday"}, ztxt=("Comment",)))
    signals = _by_source(report)
    assert signals["png:Author"].indicates == "info"
    assert signals["png:Author"].name == "creator"
    assert signals["png:Comment"].value == "holiday"
    assert report.ai_indicators == ()
    assert "not evidence" in report.summary


# --------------------------------------------------------------------------- EXIF


def test_jpeg_exif_camera_fields(rng, tmp_path):
    exif = _exif(Make="Canon", Model="EOS R5", Software="Adobe Photoshop 25.0",
                 DateTimeOriginal="2024:01:02 03:04:05")
    path = tmp_path / "photo.jpg"
    path.write_bytes(_save(rng, "JPEG", exif=exif.tobytes()))
    for source in (path, str(path), path.read_bytes()):
        report = read_metadata(source)
        signals = _by_source(report)
        assert report.file_format == "JPEG"
        assert signals["exif:Make"].value == "Canon"
        assert signals["exif:Model"].indicates == "capture"
        assert signals["exif:DateTimeOriginal"].value == "2024:01:02 03:04:05"
        assert (signals["exif:Software"].name, signals["exif:Software"].indicates) == ("software", "software")
        assert report.ai_indicators == ()
        assert "camera capture" in report.summary


@pytest.mark.parametrize(
    ("software", "indicates"),
    [("Adobe Photoshop 25.0", "software"), ("Midjourney", "ai_generated"), ("DALL-E 3", "ai_generated"),
     ("Caméra Générale", "software"), ("Imagenomic Portraiture", "software")],
)
def test_exif_software_names_ai_tools(rng, software, indicates):
    exif = Image.Exif()
    exif[0x0131] = software.encode("utf-8")  # raw UTF-8 bytes, as cameras and editors write
    report = read_metadata(_save(rng, "JPEG", exif=exif.tobytes()))
    signal = _by_source(report)["exif:Software"]
    assert (signal.value, signal.indicates) == (software, indicates)


def test_webp_exif_user_comment_with_generator_settings(rng):
    comment = b"UNICODE\x00" + A1111_PARAMETERS.encode("utf-16-be")
    data = _save(rng, "WEBP", exif=_exif(UserComment=comment, Artist="Sam").tobytes())
    report = read_metadata(data)
    signals = _by_source(report)
    assert report.file_format == "WEBP"
    assert signals["exif:UserComment"].value == A1111_PARAMETERS
    assert signals["exif:UserComment"].indicates == "ai_generated"
    assert signals["exif:Artist"].value == "Sam"


def test_webp_xmp_chunk(rng):
    report = read_metadata(_save(rng, "WEBP", xmp=_dst_xmp("trainedAlgorithmicMedia")))
    assert _by_source(report)["xmp:Iptc4xmpExt:DigitalSourceType"].indicates == "ai_generated"


def test_garbage_exif_becomes_a_note(rng):
    garbage = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    report = read_metadata(_save(rng, "JPEG", exif=garbage, comment=b"still here"))
    assert report.file_format == "JPEG"
    assert _by_source(report)["jpeg:COM"].value == "still here"


# --------------------------------------------------------------------------- XMP and IPTC


@pytest.mark.parametrize(
    ("term", "indicates"),
    [
        ("trainedAlgorithmicMedia", "ai_generated"),
        ("compositeWithTrainedAlgorithmicMedia", "ai_edited"),
        ("algorithmicMedia", "software"),
        ("digitalCapture", "capture"),
        ("madeUpTerm", "info"),
    ],
)
def test_jpeg_xmp_digital_source_type(rng, term, indicates):
    report = read_metadata(_save(rng, "JPEG", xmp=_dst_xmp(term)))
    signals = _by_source(report)
    dst = signals["xmp:Iptc4xmpExt:DigitalSourceType"]
    assert dst.value.endswith(term)
    assert dst.indicates == indicates
    assert signals["xmp:xmp:CreatorTool"].value == "Example Generator 1.0"
    assert signals["xmp:xmp:CreatorTool"].indicates == "software"
    assert signals["xmp:dc:creator"].value == "Ada; Grace"


def test_xmp_creator_tool_and_credit_naming_ai(rng):
    packet = _xmp(
        'xmp:CreatorTool="Adobe Firefly"><photoshop:Credit>Made with Google AI</photoshop:Credit>'
        '<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">(c) Example</rdf:li></rdf:Alt></dc:rights>'
        "</rdf:Description>"
    )
    report = read_metadata(_save(rng, "JPEG", xmp=packet))
    signals = _by_source(report)
    assert signals["xmp:xmp:CreatorTool"].indicates == "ai_generated"
    assert signals["xmp:photoshop:Credit"].indicates == "ai_generated"
    assert signals["xmp:dc:rights"].value == "(c) Example"
    assert len(report.ai_indicators) == 2


def _iptc_app13(fields: dict[int, bytes]) -> bytes:
    iim = b"".join(b"\x1c\x02" + bytes([ds]) + struct.pack(">H", len(v)) + v for ds, v in fields.items())
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iim)) + iim + b"\x00" * (len(iim) & 1)
    body = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(body) + 2) + body


def test_jpeg_iptc_iim_credit_and_byline(rng):
    jpeg = _save(rng, "JPEG")
    data = jpeg[:2] + _iptc_app13({80: b"Jane Photographer", 110: b"Example News", 65: b"NovelAI"}) + jpeg[2:]
    signals = _by_source(read_metadata(data))
    assert signals["iptc:By-line"].value == "Jane Photographer"
    assert signals["iptc:Credit"].value == "Example News"
    assert signals["iptc:OriginatingProgram"].indicates == "ai_generated"


def test_jpeg_com_comment(rng):
    report = read_metadata(_save(rng, "JPEG", comment="Made on a Tuesday"))
    signal = _by_source(report)["jpeg:COM"]
    assert (signal.name, signal.value, signal.indicates) == ("comment", "Made on a Tuesday", "info")
    report = read_metadata(_save(rng, "JPEG", comment=A1111_PARAMETERS))
    assert _by_source(report)["jpeg:COM"].indicates == "ai_generated"


# --------------------------------------------------------------------------- hostile input

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + ']><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/"><xmp:CreatorTool>&lol9;</xmp:CreatorTool>'
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:rights xmlns:dc="http://purl.org/dc/elements/1.1/">&xxe;'
    "</dc:rights></x:xmpmeta>"
)


@pytest.mark.parametrize("packet", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_xml_bombs_in_xmp_are_not_expanded(rng, packet):
    data = _png(rng, {"XML:com.adobe.xmp": packet, "Author": "after the bomb"}, itxt=("XML:com.adobe.xmp",))
    start = time.perf_counter()
    report = read_metadata(data)
    assert time.perf_counter() - start < 2.0
    assert not any("lol" in s.value or "root:" in s.value for s in report.signals)
    assert any("DTD" in note for note in report.notes)
    assert _by_source(report)["png:Author"].value == "after the bomb"


def test_huge_text_chunk_is_capped_and_flagged(rng):
    huge = "Steps: 20, Sampler: Euler, " + "x" * 1_000_000
    report = read_metadata(_png(rng, {"parameters": huge}))
    signal = _by_source(report)["png:parameters"]
    assert len(signal.value) == MAX_VALUE_CHARS
    assert signal.truncated and signal.full_length == len(huge)
    assert any("png:parameters" in note and "characters" in note for note in report.notes)


@pytest.mark.slow
def test_compressed_text_bomb_inflates_only_to_the_limit(rng):
    bomb = "A" * 50_000_000
    data = _png(rng, {"Comment": bomb}, ztxt=("Comment",))
    assert len(data) < 200_000
    report = read_metadata(data)
    signal = _by_source(report)["png:Comment"]
    assert signal.truncated and signal.full_length <= 4 * 1024 * 1024
    assert any("inflates to more than" in note for note in report.notes)


def test_png_with_bomb_dimensions_reads_text_without_decoding():
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"tEXt", b"parameters\x00" + A1111_PARAMETERS.encode())
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + _png_chunk(b"IEND", b"")
    )
    report = read_metadata(data)
    assert _by_source(report)["png:parameters"].indicates == "ai_generated"


def test_text_after_image_data_is_read(rng):
    plain = _png(rng, {})
    iend = plain.rindex(b"IEND") - 4
    data = plain[:iend] + _png_chunk(b"tEXt", b"parameters\x00" + A1111_PARAMETERS.encode()) + plain[iend:]
    assert _by_source(read_metadata(data))["png:parameters"].value == A1111_PARAMETERS


def test_too_many_text_chunks_are_capped(rng):
    data = _png(rng, {f"key{i}": f"value {i}" for i in range(MAX_SIGNALS + 50)})
    report = read_metadata(data)
    assert len(report.signals) == MAX_SIGNALS
    assert any("50 more metadata fields" in note for note in report.notes)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_jpeg_still_reads_header(rng, cut):
    data = _save(rng, "JPEG", exif=_exif(Make="Nikon").tobytes())
    report = read_metadata(data[: int(len(data) * cut)])
    assert _by_source(report)["exif:Make"].value == "Nikon"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_file_cut_inside_its_metadata_gives_a_note(rng, fmt):
    kwargs = {"pnginfo": PngImagePlugin.PngInfo()} if fmt == "PNG" else {"exif": _exif(Make="Nikon").tobytes()}
    if fmt == "PNG":
        kwargs["pnginfo"].add_text("parameters", A1111_PARAMETERS)
    data = _save(rng, fmt, **kwargs)
    cut = data.index(b"Nikon" if fmt != "PNG" else b"parameters") + 4
    report = read_metadata(data[:cut])
    assert report.file_format == fmt
    assert report.signals == ()
    assert any("truncated" in note for note in report.notes)
    assert "not evidence" in report.summary


@pytest.mark.parametrize(
    ("data", "expected_note"),
    [
        (np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not an image format"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "ISO media"),
        (b"\x89PNG\r\n\x1a\n", "truncated"),
        (b"\xff\xd8\xff", "truncated"),
        (b"RIFF\xff\xff\xff\xffWEBPVP8X\xff\xff\xff\xff", "WebP"),
    ],
    ids=["random", "pdf", "mp4", "png-magic-only", "jpeg-magic-only", "webp-lying-length"],
)
def test_non_images_and_stubs_give_an_empty_report(data, expected_note):
    report = read_metadata(data)
    assert report.signals == ()
    assert any(expected_note in note for note in report.notes)
    assert "not evidence" in report.summary
    json.dumps(report.to_dict())


@pytest.mark.parametrize("bad", [b"", bytearray(), 12345, None])
def test_empty_or_wrong_input_raises(bad):
    with pytest.raises(InvalidInputError):
        read_metadata(bad)


def test_missing_or_empty_path_raises(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        read_metadata(tmp_path / "missing.png")
    empty = tmp_path / "empty.jpg"
    empty.touch()
    with pytest.raises(InvalidInputError, match="empty"):
        read_metadata(empty)


def test_random_byte_flips_never_raise(rng):
    originals = [
        _png(rng, {"parameters": A1111_PARAMETERS, "XML:com.adobe.xmp": _dst_xmp("digitalCapture").decode()},
             itxt=("XML:com.adobe.xmp",)),
        _save(rng, "JPEG", exif=_exif(Make="Canon", UserComment=b"ASCII\x00\x00\x00hi").tobytes(),
              xmp=_dst_xmp("trainedAlgorithmicMedia"), comment="c"),
        _save(rng, "WEBP", exif=_exif(Model="X").tobytes()),
        _save(rng, "TIFF", exif=_exif(Make="Sony").tobytes()),
    ]
    for original in originals:
        head = min(len(original), 2048)
        for _ in range(60):
            data = np.frombuffer(original, dtype=np.uint8).copy()
            data[rng.integers(0, head, 8)] = rng.integers(0, 256, 8, dtype=np.uint8)
            report = read_metadata(data.tobytes())
            assert isinstance(report.summary, str) and report.summary


# --------------------------------------------------------------------------- report object


def test_report_to_dict_and_summary(rng):
    report = read_metadata(_png(rng, {"parameters": A1111_PARAMETERS, "Author": "Jo"}))
    as_dict = report.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["ai_indicator_count"] == 1
    assert as_dict["signals"][0]["source"] == "png:parameters"
    assert as_dict["summary"].startswith("The metadata says the image was made with generative AI (png:parameters)")


def test_signal_full_length_defaults_to_value_length():
    assert MetadataSignal("png:x", "text", "abc", "info", "why").full_length == 3


def test_signal_rejects_unknown_indication():
    with pytest.raises(InvalidInputError, match="indicates"):
        MetadataSignal("png:x", "text", "v", "maybe", "why")  # type: ignore[arg-type]


def test_report_is_frozen(rng):
    report = read_metadata(_png(rng, {"Author": "Jo"}))
    with pytest.raises(AttributeError):
        report.signals = ()  # type: ignore[misc]


def test_public_api_is_pinned():
    assert set(metadata.__all__) == {
        "MAX_VALUE_CHARS", "MAX_SIGNALS", "Indication", "MetadataSource", "MetadataSignal", "MetadataReport",
        "read_metadata",
    }


# --------------------------------------------------------------------------- real third-party files


def test_every_c2pa_fixture_gives_a_report(shared_dir: Path):
    files = sorted(p for p in (shared_dir / "c2pa-fixtures").iterdir() if p.is_file())
    assert len(files) > 30
    for path in files:
        report = read_metadata(path)
        assert isinstance(report, MetadataReport), path.name
        assert report.summary, path.name
        json.dumps(report.to_dict())


@pytest.mark.parametrize(
    ("name", "source", "value", "indicates"),
    [
        ("pub_nikon-20221019-building.jpeg", "exif:Make", "NIKON CORPORATION", "capture"),
        ("pub_nikon-20221019-building.jpeg", "jpeg:APP11", "present", "info"),
        ("js_firefly_thirdparty_gemini.png", "xmp:photoshop:Credit", "Made with Google AI", "ai_generated"),
        ("gen_ai_generated.png", "png:caBX", "present", "info"),
        ("gen_sample1.webp", "webp:C2PA", "present", "info"),
        ("py_C.dng", "xmp:xmp:CreatorTool", "Adobe Lightroom 8.1 (Macintosh)", "software"),
    ],
)
def test_known_fields_in_real_files(shared_dir: Path, name, source, value, indicates):
    signal = _by_source(read_metadata(shared_dir / "c2pa-fixtures" / name))[source]
    assert (signal.value, signal.indicates) == (value, indicates)


@pytest.mark.parametrize("name", ["py_pdf-file.pdf", "rs_video1.mp4", "gen_sample1.mp3", "rs_sample3.svg"])
def test_real_non_images_give_empty_report_with_note(shared_dir: Path, name):
    report = read_metadata(shared_dir / "c2pa-fixtures" / name)
    assert report.file_format is None
    assert report.signals == ()
    assert "not an image format" in report.notes[0]
