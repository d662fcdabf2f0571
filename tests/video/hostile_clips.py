"""Hostile and odd video files, made at test time with PyAV and byte patches (small: a few KB each).

Each maker writes one file into a folder and returns its path. :data:`CASES` maps a case name to
its maker and to what provenance must do with it: ``"read"`` (decoded, verified, stamped) or
``"refuse"`` (a clear error: a 4xx in the app, exit code 2 in the CLI).
"""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np
from PIL import Image

W, H = 352, 288  # stamping needs 256 pixels a side


def _frame(i: int, w: int = W, h: int = H) -> np.ndarray:
    """A small textured, moving RGB frame (smooth gradients plus a bright square)."""
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 255 // max(w - 1, 1) + 7 * i) % 256, yy * 255 // max(h - 1, 1),
                    ((xx + yy + 11 * i) * 3) % 256], axis=-1).astype(np.uint8)
    s = max(4, min(w, h) // 6)
    x0 = (5 * i) % max(1, w - s)
    rgb[h // 3 : h // 3 + s, x0 : x0 + s] = 250
    return rgb


def encode(path: Path, *, codec: str = "libx264", pix_fmt: str = "yuv420p", n: int = 6, w: int = W, h: int = H,
           rate: int = 10, fmt: str | None = None, options: dict | None = None, container_options: dict | None = None,
           rotation: int | None = None, audio: bool = False, pts: list[int] | None = None,
           frame_format: str = "rgb24") -> Path:
    """Encode `n` frames with `codec` into `path` (the container from its suffix, or `fmt`)."""
    with av.open(str(path), "w", format=fmt, options=container_options or {}) as out:
        vs = out.add_stream(codec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        opts = dict(options or {})
        if codec in ("libx264", "libx265"):
            opts = {"preset": "ultrafast", "crf": "23"} | ({"x265-params": "log-level=error"} if codec == "libx265" else {}) | opts
        vs.options = opts
        if pts is not None:
            vs.time_base = vs.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            vs.set_display_rotation(rotation)
        aus = None
        if audio:
            aus = out.add_stream("aac", rate=16000)
            aus.layout = "mono"
        for i in range(n):
            rgb = _frame(i, w, h)
            if frame_format == "rgba":
                rgb = np.concatenate([rgb, np.full((h, w, 1), 128 + i, np.uint8)], axis=-1)
            f = av.VideoFrame.from_ndarray(rgb, format=frame_format)
            if pts is not None:
                f.pts, f.time_base = pts[i], Fraction(1, 1000)
            out.mux(vs.encode(f))
        out.mux(vs.encode(None))
        if aus is not None:
            samples = int(16000 * n / rate)
            a = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp", layout="mono")
            a.sample_rate, a.pts = 16000, 0
            out.mux(aus.encode(a))
            out.mux(aus.encode(None))
    return path


# --------------------------------------------------------------------------- ISO BMFF surgery


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """Top-level boxes of `data[start:end]` as (type, offset, size)."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = end - pos
        if size < 8:
            break
        out.append((kind, pos, size))
        pos += size
    return out


def find_box(data: bytes, path: list[bytes]) -> tuple[int, int]:
    """(offset, size) of the box at `path` (e.g. [b"moov", b"trak", b"tkhd"]); containers only, no stsd entries."""
    start, end = 0, len(data)
    for depth, kind in enumerate(path):
        for k, off, size in boxes(data, start, end):
            if k == kind:
                start, end = off + 8, off + size
                found = (off, size)
                break
        else:
            raise KeyError(b"/".join(path[: depth + 1]))
    return found


def _patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    return data[:offset] + struct.pack(fmt, value) + data[offset + struct.calcsize(fmt) :]


# --------------------------------------------------------------------------- the cases


def zero_length(d: Path) -> Path:
    p = d / "zero.mp4"
    p.write_bytes(b"")
    return p


def faststart(d: Path) -> Path:
    return encode(d / "faststart.mp4", container_options={"movflags": "faststart"})


def moov_at_end(d: Path) -> Path:
    p = encode(d / "moov_end.mp4")
    kinds = [k for k, _, _ in boxes(p.read_bytes())]
    assert kinds.index(b"moov") > kinds.index(b"mdat"), kinds
    return p


def _truncated(d: Path, name: str, src: Callable[[Path], Path], where: Callable[[bytes], int]) -> Path:
    data = src(d).read_bytes()
    p = d / f"{name}.mp4"
    p.write_bytes(data[: where(data)])
    return p


def truncated_in_ftyp(d: Path) -> Path:
    return _truncated(d, "cut_ftyp", moov_at_end, lambda b: 14)


def truncated_in_moov(d: Path) -> Path:
    def cut(b: bytes) -> int:
        off, size = find_box(b, [b"moov"])
        return off + size // 2

    return _truncated(d, "cut_moov", faststart, cut)


def truncated_in_mdat(d: Path) -> Path:
    """moov first, mdat cut in its second half: the first frames are there, the rest are not."""
    def cut(b: bytes) -> int:
        off, size = find_box(b, [b"mdat"])
        return off + size * 2 // 3

    return _truncated(d, "cut_mdat", faststart, cut)


def truncated_mdat_moov_at_end(d: Path) -> Path:
    def cut(b: bytes) -> int:
        off, size = find_box(b, [b"mdat"])
        return off + size // 2

    return _truncated(d, "cut_mdat_end", moov_at_end, cut)


def moov_missing(d: Path) -> Path:
    data = faststart(d).read_bytes()
    off, size = find_box(data, [b"moov"])
    p = d / "no_moov.mp4"
    p.write_bytes(data[:off] + data[off + size :])
    return p


def _patched(d: Path, name: str, patch: Callable[[bytes], bytes]) -> Path:
    data = faststart(d).read_bytes()
    p = d / f"{name}.mp4"
    p.write_bytes(patch(data))
    return p


def _tkhd_size(b: bytes, w: int, h: int) -> bytes:
    off, _ = find_box(b, [b"moov", b"trak", b"tkhd"])
    version = b[off + 8]
    wpos = off + 8 + (84 if version == 1 else 72) + 4  # width and height: the last 8 bytes, 16.16 fixed
    return _patch(_patch(b, wpos, ">I", w << 16), wpos + 4, ">I", h << 16)


def _stsd_size(b: bytes, w: int, h: int) -> bytes:
    off, _ = find_box(b, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    entry = off + 16  # full box header (12) + entry count (4)
    assert b[entry + 4 : entry + 8] == b"avc1"
    pos = entry + 8 + 6 + 2 + 16  # sample entry: reserved(6), data ref(2), pre_defined/reserved(16)
    return _patch(_patch(b, pos, ">H", w), pos + 2, ">H", h)


def absurd_tkhd_size(d: Path) -> Path:
    return _patched(d, "tkhd_huge", lambda b: _tkhd_size(b, 60000, 60000))


def absurd_stsd_size(d: Path) -> Path:
    return _patched(d, "stsd_huge", lambda b: _stsd_size(b, 65535, 65535))


def zero_stsd_size(d: Path) -> Path:
    return _patched(d, "stsd_zero", lambda b: _stsd_size(b, 0, 0))


def absurd_duration(d: Path) -> Path:
    """mvhd, tkhd and mdhd say the clip lasts ~136 years."""
    def patch(b: bytes) -> bytes:
        # Version-0 boxes: the duration follows the header (8), version/flags (4) and 12 or 16 bytes.
        for path, at in (([b"moov", b"mvhd"], 24), ([b"moov", b"trak", b"tkhd"], 28),
                         ([b"moov", b"trak", b"mdia", b"mdhd"], 24)):
            off, _ = find_box(b, path)
            assert b[off + 8] == 0, path
            b = _patch(b, off + at, ">I", 0xFFFFFFF0)
        return b

    return _patched(d, "duration_huge", patch)


def absurd_frame_count(d: Path) -> Path:
    """stsz says there are 2**31 samples (the table holds 6)."""
    def patch(b: bytes) -> bytes:
        off, _ = find_box(b, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsz"])
        return _patch(b, off + 16, ">I", 0x7FFFFFFF)

    return _patched(d, "stsz_huge", patch)


def absurd_timescale(d: Path) -> Path:
    """mdhd's timescale set to 1: six frames that claim to last hours."""
    def patch(b: bytes) -> bytes:
        off, _ = find_box(b, [b"moov", b"trak", b"mdia", b"mdhd"])
        return _patch(b, off + 8 + 12, ">I", 1)

    return _patched(d, "timescale_one", patch)


def audio_only(d: Path) -> Path:
    p = d / "audio_only.mp4"
    with av.open(str(p), "w") as out:
        aus = out.add_stream("aac", rate=16000)
        aus.layout = "mono"
        a = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        a.sample_rate, a.pts = 16000, 0
        out.mux(aus.encode(a))
        out.mux(aus.encode(None))
    return p


def mp4_named_jpg(d: Path) -> Path:
    p = d / "clip_mp4.jpg"
    p.write_bytes(faststart(d).read_bytes())
    return p


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_frame(0)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def jpeg_named_mp4(d: Path) -> Path:
    p = d / "photo_jpeg.mp4"
    p.write_bytes(_jpeg_bytes())
    return p


def text_named_mov(d: Path) -> Path:
    p = d / "notes.mov"
    p.write_bytes(b"this is a text file, not a QuickTime movie\n" * 20)
    return p


def hevc_10bit(d: Path) -> Path:
    return encode(d / "hevc10.mp4", codec="libx265", pix_fmt="yuv420p10le")


def h264_high10(d: Path) -> Path:
    return encode(d / "h264_10.mp4", pix_fmt="yuv420p10le")


def yuv444(d: Path) -> Path:
    return encode(d / "yuv444.mp4", pix_fmt="yuv444p")


def vp9_alpha(d: Path) -> Path:
    return encode(d / "alpha.webm", codec="libvpx-vp9", pix_fmt="yuva420p", frame_format="rgba",
                  options={"deadline": "realtime", "cpu-used": "8", "crf": "40", "b": "0"})


def png_alpha_mov(d: Path) -> Path:
    return encode(d / "png_alpha.mov", codec="png", pix_fmt="rgba", frame_format="rgba", n=4)


def qtrle_mov(d: Path) -> Path:
    return encode(d / "qtrle.mov", codec="qtrle", pix_fmt="argb", frame_format="rgba", n=2, w=64, h=48)


def vfr(d: Path) -> Path:
    return encode(d / "vfr.mp4", pts=[0, 40, 60, 300, 320, 900])


def rotated(deg: int) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        # FFmpeg's display matrix angle is counter-clockwise: -deg asks players for `deg` clockwise.
        return encode(d / f"rot{deg}.mp4", rotation=-deg)

    make.__name__ = f"rotated_{deg}"
    return make


def one_frame(d: Path) -> Path:
    return encode(d / "one.mp4", n=1)


def tiny(d: Path) -> Path:
    return encode(d / "tiny.mp4", w=160, h=96)


def odd_size(d: Path) -> Path:
    return encode(d / "odd.mp4", w=641, h=361, pix_fmt="yuv444p")


def mjpeg_mov(d: Path) -> Path:
    return encode(d / "mjpeg.mov", codec="mjpeg", pix_fmt="yuvj420p", n=4)


def mjpeg_avi(d: Path) -> Path:
    return encode(d / "mjpeg.avi", codec="mjpeg", pix_fmt="yuvj420p", n=4)


def gif(d: Path) -> Path:
    p = d / "anim.gif"
    frames = [Image.fromarray(_frame(i, 96, 64)) for i in range(3)]
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return p


def gif_named_mp4(d: Path) -> Path:
    p = d / "anim_gif.mp4"
    p.write_bytes(gif(d).read_bytes())
    return p


def apng(d: Path) -> Path:
    p = d / "anim.png"
    frames = [Image.fromarray(_frame(i)) for i in range(4)]
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return p


def webm_no_cues(d: Path) -> Path:
    """A live WebM: no cues, and no duration in the header."""
    return encode(d / "nocues.webm", codec="libvpx-vp9", fmt="webm", container_options={"live": "1"}, n=20,
                  options={"deadline": "realtime", "cpu-used": "8", "crf": "40", "b": "0"})


def many_streams(d: Path) -> Path:
    """Three video tracks (the first small, the others larger) and two audio tracks in one MP4."""
    p = d / "many.mp4"
    with av.open(str(p), "w") as out:
        tracks = []
        for w, h in ((W, H), (480, 272), (160, 96)):
            vs = out.add_stream("libx264", rate=10)
            vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
            vs.options = {"preset": "ultrafast"}
            tracks.append((vs, w, h))
        auds = []
        for _ in range(2):
            a = out.add_stream("aac", rate=16000)
            a.layout = "mono"
            auds.append(a)
        for i in range(6):
            for vs, w, h in tracks:
                out.mux(vs.encode(av.VideoFrame.from_ndarray(_frame(i, w, h), format="rgb24")))
        for vs, _, _ in tracks:
            out.mux(vs.encode(None))
        for a in auds:
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 9600), np.float32), format="fltp", layout="mono")
            fr.sample_rate, fr.pts = 16000, 0
            out.mux(a.encode(fr))
            out.mux(a.encode(None))
    return p


def audio_and_video_mkv(d: Path) -> Path:
    return encode(d / "with_audio.mkv", audio=True)


def prores_mov(d: Path) -> Path:
    return encode(d / "prores.mov", codec="prores_ks", pix_fmt="yuv422p10le", n=3)


def av1_mp4(d: Path) -> Path:
    return encode(d / "av1.mp4", codec="libsvtav1", pix_fmt="yuv420p", n=4, options={"preset": "12"})


def ffv1_mkv(d: Path) -> Path:
    return encode(d / "ffv1.mkv", codec="ffv1", pix_fmt="yuv420p", n=3)


def _remux_raw_h264(d: Path, name: str, sizes: list[tuple[int, int]], pts_ms: Callable[[int], int]) -> Path:
    """Raw H.264 parts (one per size) joined and put into Matroska with the given packet times (ms)."""
    raw = b""
    for i, (w, h) in enumerate(sizes):
        raw += encode(d / f"{name}-{i}.h264", fmt="h264", w=w, h=h, n=5, options={"bf": "0"}).read_bytes()
    (d / f"{name}.h264").write_bytes(raw)
    p = d / f"{name}.mkv"
    with av.open(str(d / f"{name}.h264"), format="h264") as inp, av.open(str(p), "w") as out:
        o = out.add_stream_from_template(inp.streams.video[0])
        for i, packet in enumerate(p for p in inp.demux(video=0) if p.size):
            packet.pts = packet.dts = pts_ms(i)
            packet.duration = max(1, pts_ms(i + 1) - pts_ms(i))
            packet.time_base, packet.stream = Fraction(1, 1000), o
            out.mux(packet)
    return p


def resolution_change(d: Path) -> Path:
    """A stream that changes size midway (352x288, then 480x272), as adaptive streams and joined clips do."""
    return _remux_raw_h264(d, "resize", [(W, H), (480, 272)], lambda i: 100 * i)


def repeated_timestamps(d: Path) -> Path:
    """Ten frames whose times repeat and barely move (0 ms six times, then 1 ms)."""
    return _remux_raw_h264(d, "same_pts", [(W, H), (W, H)], lambda i: i // 6)


def _with_cover(path: Path, *, video: bool) -> Path:
    """An MP4 whose first track is a cover picture (attached JPEG), then AAC audio (and H.264 video)."""
    with av.open(str(path), "w") as out:
        cover = out.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = W, H, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        aus = out.add_stream("aac", rate=16000)
        aus.layout = "mono"
        vs = None
        if video:
            vs = out.add_stream("libx264", rate=10)
            vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
            vs.options = {"preset": "ultrafast"}
            for i in range(6):
                out.mux(vs.encode(av.VideoFrame.from_ndarray(_frame(i), format="rgb24")))
            out.mux(vs.encode(None))
        a = av.AudioFrame.from_ndarray(np.zeros((1, 9600), np.float32), format="fltp", layout="mono")
        a.sample_rate, a.pts = 16000, 0
        out.mux(aus.encode(a))
        out.mux(aus.encode(None))
        packet = av.Packet(_jpeg_bytes())
        packet.stream, packet.pts, packet.dts = cover, 0, 0
        out.mux(packet)
    return path


def audio_with_cover(d: Path) -> Path:
    """A song with its artwork: FFmpeg lists the picture as a video track (of 90,000 "frames")."""
    return _with_cover(d / "song_cover.mp4", video=False)


def video_after_cover(d: Path) -> Path:
    return _with_cover(d / "cover_then_video.mp4", video=True)


def random_bytes_mp4(d: Path) -> Path:
    p = d / "noise.mp4"
    p.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + np.random.default_rng(1).bytes(4000))
    return p


#: name -> (maker, what provenance does with it): "read" (a video, decoded), "refuse" (InvalidVideoError,
#: a 4xx, exit code 1), "image" (not a video: the CLI and the app read it as an image; the video reader refuses it).
#: Header sizes and durations that the codec or the sample tables contradict are ignored by FFmpeg: "read".
CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "zero_length": (zero_length, "refuse"),
    "truncated_in_ftyp": (truncated_in_ftyp, "refuse"),
    "truncated_in_moov": (truncated_in_moov, "refuse"),
    "truncated_in_mdat": (truncated_in_mdat, "read"),
    "truncated_mdat_moov_at_end": (truncated_mdat_moov_at_end, "refuse"),
    "moov_at_end": (moov_at_end, "read"),
    "moov_missing": (moov_missing, "refuse"),
    "absurd_tkhd_size": (absurd_tkhd_size, "read"),
    "absurd_stsd_size": (absurd_stsd_size, "read"),
    "zero_stsd_size": (zero_stsd_size, "read"),
    "absurd_duration": (absurd_duration, "read"),
    "absurd_frame_count": (absurd_frame_count, "refuse"),
    "absurd_timescale": (absurd_timescale, "read"),
    "audio_only": (audio_only, "refuse"),
    "mp4_named_jpg": (mp4_named_jpg, "read"),
    "jpeg_named_mp4": (jpeg_named_mp4, "image"),
    "text_named_mov": (text_named_mov, "refuse"),
    "hevc_10bit": (hevc_10bit, "read"),
    "h264_high10": (h264_high10, "read"),
    "yuv444": (yuv444, "read"),
    "vp9_alpha": (vp9_alpha, "read"),
    "png_alpha_mov": (png_alpha_mov, "read"),
    "qtrle_mov": (qtrle_mov, "read"),
    "vfr": (vfr, "read"),
    "rotated_90": (rotated(90), "read"),
    "rotated_180": (rotated(180), "read"),
    "rotated_270": (rotated(270), "read"),
    "one_frame": (one_frame, "read"),
    "tiny": (tiny, "read"),
    "odd_size": (odd_size, "read"),
    "mjpeg_mov": (mjpeg_mov, "read"),
    "mjpeg_avi": (mjpeg_avi, "read"),
    "gif": (gif, "image"),
    "gif_named_mp4": (gif_named_mp4, "image"),
    "apng": (apng, "image"),
    "webm_no_cues": (webm_no_cues, "read"),
    "many_streams": (many_streams, "read"),
    "audio_and_video_mkv": (audio_and_video_mkv, "read"),
    "prores_mov": (prores_mov, "read"),
    "av1_mp4": (av1_mp4, "read"),
    "ffv1_mkv": (ffv1_mkv, "read"),
    "random_bytes_mp4": (random_bytes_mp4, "refuse"),
    "resolution_change": (resolution_change, "read"),
    "repeated_timestamps": (repeated_timestamps, "read"),
    "audio_with_cover": (audio_with_cover, "refuse"),
    "video_after_cover": (video_after_cover, "read"),
}


def names(outcome: str) -> list[str]:
    """The cases with this outcome."""
    return [name for name, (_, o) in CASES.items() if o == outcome]


def make(name: str, folder: Path) -> Path:
    """Make case `name` in its own subfolder of `folder`; returns its path."""
    d = folder / name
    d.mkdir(parents=True, exist_ok=True)
    return CASES[name][0](d)
