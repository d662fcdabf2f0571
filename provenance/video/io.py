"""Reading and writing video with PyAV (FFmpeg's libraries; no ``ffmpeg`` subprocess).

Frames are streamed: a clip is never held in memory whole. Display rotation (the display
matrix) is honoured on reading, and baked into the pixels on rewriting (the output carries
no rotation flag, so every player shows it the same way). Frame timestamps are copied, so
variable frame rate and duration survive a rewrite; audio packets are copied without
re-encoding.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import InvalidVideoError, VideoTooLargeError
from ..images import SNIFF_BYTES, detect_mime_type
from ..settings import Settings

__all__ = [
    "VIDEO_EXTENSIONS",
    "is_video_file",
    "VideoInfo",
    "VideoFrame",
    "probe",
    "iter_frames",
    "sample_frames",
    "iter_sampled_frames",
    "rewrite_luma",
    "write_frames",
]

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi")
#: Container tags that name the tool or device that made a file.
_SIGNAL_TAGS = (
    "encoder",
    "com.apple.quicktime.make",
    "com.apple.quicktime.model",
    "com.apple.quicktime.software",
    "com.android.manufacturer",
    "com.android.model",
    "com.android.version",
    "make",
    "model",
    "software",
    "comment",
    "description",
    "title",
    "creation_time",
    "handler_name",
)


def is_video_file(path: str | os.PathLike) -> bool:
    """True when the file at `path` holds a video: its first bytes say so, or (bytes of no known type) its suffix.

    The bytes decide over the name: an MP4 saved as .jpg is a video, a JPEG or GIF saved as .mp4
    is not. An unreadable path falls back on its suffix (reading it then says what is wrong).
    """
    try:
        with open(path, "rb") as f:
            mime = detect_mime_type(f.read(SNIFF_BYTES))
    except OSError:
        mime = None
    if mime is not None:
        return mime.startswith("video/")
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, after the limits were checked.

    Attributes
    ----------
    width, height : int
        Display size (after rotation).
    rotation : int
        Clockwise display rotation in degrees the file asks for (0, 90, 180, 270).
    duration_s : float
    frame_count : int
        Frames in the stream (counted by the container, or estimated from the duration).
    fps : float
        Average frame rate.
    codec, pixel_format, container : str
    audio_codec : str or None
    tags : dict
        Container and stream tags that identify a tool or device (encoder, make, model...).
    """

    width: int
    height: int
    rotation: int
    duration_s: float
    frame_count: int
    fps: float
    codec: str
    pixel_format: str
    container: str
    audio_codec: str | None
    size_bytes: int
    tags: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "duration_s": round(self.duration_s, 3),
            "frame_count": self.frame_count,
            "fps": round(self.fps, 3),
            "codec": self.codec,
            "pixel_format": self.pixel_format,
            "container": self.container,
            "audio_codec": self.audio_codec,
            "size_bytes": self.size_bytes,
            "tags": dict(self.tags),
        }


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its index in decode order, time in seconds, (H, W, 3) uint8 RGB (display orientation)."""

    index: int
    time_s: float
    rgb: np.ndarray


def _open(path: str | os.PathLike):
    import av

    p = Path(path)
    if not p.is_file():
        raise InvalidVideoError(f"{p} is not a file.")
    if p.stat().st_size == 0:
        raise InvalidVideoError(f"{p.name} is empty (0 bytes); upload the whole video file.")
    try:
        container = av.open(str(p), mode="r", metadata_errors="replace")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidVideoError(
            f"{p.name} could not be opened as a video ({exc.__class__.__name__}): the file is corrupt, truncated "
            "(an MP4 whose moov atom is missing), or not a video container FFmpeg reads."
        ) from exc
    if _video_stream(container) is None:
        kinds = sorted({s.type for s in container.streams} - {"video"})
        if container.streams.video:  # only a cover picture (an audio file's artwork)
            kinds.append("a cover picture")
        container.close()
        raise InvalidVideoError(f"{p.name} has no video track ({', '.join(kinds) or 'no streams'}); pass a video file.")
    still = _still_image_format(container.format.name)
    if still is not None:
        container.close()
        raise InvalidVideoError(
            f"{p.name} is {still} image, not a video container (MP4, MOV, WebM, MKV, AVI); check or stamp it as an image."
        )
    return container


def _video_stream(container):
    """The first video track that is not an attached picture (cover art), or None."""
    import av

    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


#: FFmpeg demuxers that read still (or animated) images, which FFmpeg would also decode as a "video".
_IMAGE_DEMUXERS = {"gif": "a GIF", "apng": "an animated PNG", "webp": "a WebP", "image2": "a still",
                   "jpegxl_anim": "a JPEG XL"}


def _still_image_format(name: str) -> str | None:
    """How to name an image demuxer's input (None for a video container)."""
    first = name.split(",")[0]
    if first.endswith("_pipe"):  # jpeg_pipe, png_pipe, webp_pipe, ...
        return "a " + first[: -len("_pipe")].upper()
    return _IMAGE_DEMUXERS.get(first)


def _rotation(frame) -> int:
    """Clockwise display rotation in degrees from a decoded frame's display matrix (0 if none)."""
    # FFmpeg's angle is counter-clockwise; players turn the picture clockwise by its negation.
    angle = float(getattr(frame, "rotation", 0) or 0)
    return int(round(-angle / 90.0)) % 4 * 90


def _tags(container, stream) -> dict:
    tags = {}
    for source in (container.metadata, stream.metadata):
        for k, v in source.items():
            if k.lower() in _SIGNAL_TAGS or k.lower().startswith(("com.apple.quicktime.", "com.android.")):
                tags.setdefault(k, str(v)[:200])
    return tags


def probe(path: str | os.PathLike, *, settings: Settings | None = None) -> VideoInfo:
    """Read a video's header and check it against the limits in `settings`.

    Raises
    ------
    InvalidVideoError
        If the file is empty, corrupt, truncated, has no video track, or no frame decodes.
    VideoTooLargeError
        If it is longer, larger, has more frames or bytes than the settings allow.
    """
    settings = settings or Settings()
    p = Path(path)
    size = p.stat().st_size if p.is_file() else 0
    if size > settings.video_max_upload_bytes:
        raise VideoTooLargeError(
            f"{p.name} is {size / 2**20:.0f} MiB; videos are limited to {settings.video_max_upload_bytes / 2**20:.0f} MiB "
            "(PROVENANCE_VIDEO_MAX_UPLOAD_MB)."
        )
    with _open(p) as container:
        vs = _video_stream(container)
        cc = vs.codec_context
        if cc is None:  # FFmpeg found the track but no decoder for it (a moov cut short, an unknown codec)
            raise InvalidVideoError(f"{p.name}: the video track's codec cannot be read; the file is corrupt or truncated.")
        w, h = int(cc.width or 0), int(cc.height or 0)
        if w <= 0 or h <= 0:
            raise InvalidVideoError(f"{p.name}: the video track has no frame size; the file is corrupt.")
        if w * h > settings.video_max_pixels or max(w, h) > 16384:
            raise VideoTooLargeError(
                f"{p.name} has {w}x{h} frames; the limit is {settings.video_max_pixels:,} pixels a frame "
                "(PROVENANCE_VIDEO_MAX_PIXELS). Downscale it first."
            )
        duration = _duration(container, vs)
        counted = 0
        if duration <= 0 or not vs.frames:
            # A live WebM or MKV (no duration, no frame count in the header): count the packets
            # (demuxed, not decoded), so the limits hold and samples spread over the whole clip.
            counted, duration = _count_packets(p, settings, duration)
        if duration > settings.video_max_seconds:
            raise VideoTooLargeError(
                f"{p.name} lasts {duration:.0f} s; the limit is {settings.video_max_seconds} s "
                "(PROVENANCE_VIDEO_MAX_SECONDS). Cut it into shorter clips."
            )
        rate = vs.average_rate or vs.guessed_rate or Fraction(25)
        fps = float(rate) if rate else 25.0
        frames = int(vs.frames or 0) or counted or int(round(duration * fps))
        if frames > settings.video_max_frames:
            raise VideoTooLargeError(
                f"{p.name} has {frames:,} frames; the limit is {settings.video_max_frames:,} "
                "(PROVENANCE_VIDEO_MAX_FRAMES)."
            )
        # Decoding the first frame proves the track decodes and gives the display matrix.
        rotation = _rotation(next(_decoded(container, p)))
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        info = VideoInfo(
            width=h if rotation in (90, 270) else w,
            height=w if rotation in (90, 270) else h,
            rotation=rotation,
            duration_s=duration,
            frame_count=frames,
            fps=fps,
            codec=cc.name,
            pixel_format=str(cc.format.name if cc.format else "unknown"),
            container=container.format.name.split(",")[0],
            audio_codec=audio,
            size_bytes=size,
            tags=_tags(container, vs),
        )
    return info


def _count_packets(path: Path, settings: Settings, duration: float) -> tuple[int, float]:
    """Frames and duration of a video track whose header does not give them, read from its packets.

    The file is opened again for this: seeking back to the start afterwards can land on a later
    keyframe in a file whose timestamps repeat.
    """
    import av

    count, first, last = 0, None, None
    with _open(path) as container:
        vs = _video_stream(container)
        try:
            for packet in container.demux(vs):
                if packet.size == 0 or packet.pts is None:
                    continue
                count += 1
                end = packet.pts + (packet.duration or 0)
                first = packet.pts if first is None else min(first, packet.pts)
                last = end if last is None else max(last, end)
                if count > settings.video_max_frames:
                    raise VideoTooLargeError(
                        f"{path.name} has over {settings.video_max_frames:,} frames; the limit is "
                        f"{settings.video_max_frames:,} (PROVENANCE_VIDEO_MAX_FRAMES)."
                    )
        except av.FFmpegError as exc:
            log.warning("%s: packets stopped after %d: %s", path.name, count, exc)
        if count and vs.time_base and first is not None:
            duration = max(duration, float((last - first) * vs.time_base))
    return count, duration


def _duration(container, vs) -> float:
    if vs.duration and vs.time_base:
        return float(vs.duration * vs.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return 0.0


def _rotate(plane: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate an (H, W[, C]) array clockwise by `rotation` degrees (a multiple of 90)."""
    return plane if rotation == 0 else np.ascontiguousarray(np.rot90(plane, k=-(rotation // 90), axes=(0, 1)))


def _decoded(container, path: Path) -> Iterator:
    """Decoded frames of the first video track, with decoding errors turned into InvalidVideoError."""
    import av

    vs = _video_stream(container)
    vs.thread_type = "AUTO"
    count = 0
    try:
        for frame in container.decode(vs):
            count += 1
            yield frame
    except av.FFmpegError as exc:
        if count == 0:
            raise InvalidVideoError(f"{path.name}: no frame could be decoded ({exc}); the file is corrupt.") from exc
        # A truncated tail: the frames before it are good; say so in the log, keep them.
        log.warning("%s: decoding stopped after %d frames: %s", path.name, count, exc)
    if count == 0:
        raise InvalidVideoError(f"{path.name}: the video track holds no decodable frame; the file is corrupt or truncated.")


def _coded_size(info: VideoInfo) -> tuple[int, int]:
    """(width, height) of the frames as stored (before the display rotation)."""
    return (info.height, info.width) if info.rotation in (90, 270) else (info.width, info.height)


def _fit(frame, info: VideoInfo):
    """`frame` scaled to the clip's size when the stream changed size midway (an adaptive stream, a
    concatenation): every frame of a clip is read at one size, as the detector and the encoder need."""
    w, h = _coded_size(info)
    if (frame.width, frame.height) == (w, h):
        return frame
    fitted = frame.reformat(width=w, height=h, interpolation="AREA")
    fitted.pts, fitted.time_base = frame.pts, frame.time_base
    return fitted


def _to_rgb(frame, max_side: int | None) -> np.ndarray:
    w, h = frame.width, frame.height
    if max_side is not None and max(w, h) > max_side:
        scale = max_side / max(w, h)
        return frame.to_ndarray(format="rgb24", width=max(2, round(w * scale)), height=max(2, round(h * scale)), interpolation="AREA")
    return frame.to_ndarray(format="rgb24")


def _time(frame, index: int, fps: float) -> float:
    return float(frame.time) if frame.time is not None else index / fps


def iter_frames(
    path: str | os.PathLike,
    *,
    settings: Settings | None = None,
    step_s: float | None = None,
    info: VideoInfo | None = None,
) -> Iterator[VideoFrame]:
    """Decode a video frame by frame (streamed), as (H, W, 3) uint8 RGB in display orientation.

    Parameters
    ----------
    step_s : float, optional
        Yield only the first frame at or after each multiple of this many seconds (1.0 for
        vPDQ's one frame a second); others are decoded but not converted.
    info : VideoInfo, optional
        `path`'s :func:`probe`, if the caller has it (probing scans every packet).

    Raises
    ------
    InvalidVideoError, VideoTooLargeError
        As :func:`probe`.
    """
    info = probe(path, settings=settings) if info is None else info
    p = Path(path)
    next_t = 0.0
    with _open(p) as container:
        for i, frame in enumerate(_decoded(container, p)):
            t = _time(frame, i, info.fps)
            if step_s is not None:
                if t + 1e-6 < next_t:
                    continue
                next_t = (int((t + 1e-6) / step_s) + 1) * step_s
            yield VideoFrame(i, t, _rotate(_fit(frame, info).to_ndarray(format="rgb24"), info.rotation))


def sample_frames(
    path: str | os.PathLike, count: int, *, settings: Settings | None = None, max_side: int | None = None
) -> list[VideoFrame]:
    """Up to `count` frames spread evenly over the clip (first and last included), RGB, display orientation.

    Clips up to 30 frames a sample are decoded straight through (every frame is decoded
    anyway between keyframes); longer ones seek to each sample point. `max_side` shrinks
    frames whose long side exceeds it (in FFmpeg's scaler, area-averaged), e.g. for detection,
    which works on a 640-pixel grid. :func:`iter_sampled_frames` yields them as they decode.
    """
    with contextlib.closing(iter_sampled_frames(path, count, settings=settings, max_side=max_side)) as frames:
        return list(frames)


def iter_sampled_frames(
    path: str | os.PathLike,
    count: int,
    *,
    settings: Settings | None = None,
    max_side: int | None = None,
    info: VideoInfo | None = None,
) -> Iterator[VideoFrame]:
    """:func:`sample_frames`, one frame at a time in time order: a caller that has seen enough stops decoding.

    Close the iterator (``contextlib.closing``) if it is not run to the end. `info` is `path`'s
    :func:`probe`, if the caller has it.

    Raises
    ------
    ValueError
        If `count` is under 1.
    InvalidVideoError, VideoTooLargeError
        As :func:`probe`, or if no frame decodes.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1; got {count}.")
    info = probe(path, settings=settings) if info is None else info
    p = Path(path)
    n = info.frame_count
    wanted = sorted(set(np.linspace(0, max(n - 1, 0), min(count, max(n, 1))).round().astype(int).tolist()))
    with _open(p) as container:
        def rgb(frame) -> np.ndarray:
            return _rotate(_to_rgb(_fit(frame, info), max_side), info.rotation)

        if n <= 30 * count or info.duration_s <= 0:
            want = set(wanted)
            last = None
            found = 0
            for i, frame in enumerate(_decoded(container, p)):
                last = (i, frame)
                if i in want:
                    found += 1
                    yield VideoFrame(i, _time(frame, i, info.fps), rgb(frame))
                    if found == len(want):
                        break
            if not found and last is not None:
                i, frame = last
                yield VideoFrame(i, _time(frame, i, info.fps), rgb(frame))
            return
        vs = _video_stream(container)
        vs.thread_type = "AUTO"
        import av

        found = 0
        for idx in wanted:
            target = idx / n * info.duration_s
            try:
                container.seek(int(target / vs.time_base) + (vs.start_time or 0), stream=vs, backward=True)
                for frame in container.decode(vs):
                    t = _time(frame, idx, info.fps)
                    if t + 0.5 / info.fps >= target:
                        found += 1
                        yield VideoFrame(idx, t, rgb(frame))
                        break
            except av.FFmpegError as exc:
                log.warning("%s: sample at %.2f s failed: %s", p.name, target, exc)
        if not found:
            raise InvalidVideoError(f"{p.name}: no frame could be decoded; the file is corrupt or truncated.")


def rewrite_luma(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    transform: Callable[[np.ndarray, int], np.ndarray],
    *,
    crf: int | None = None,
    preset: str = "veryfast",
    tune: str | None = "grain",
    max_frames: int | None = None,
    info: VideoInfo | None = None,
    settings: Settings | None = None,
) -> VideoInfo:
    """Re-encode `src` as MP4 (H.264, yuv420p) with each frame's luma plane passed through `transform`.

    ``transform(y, index)`` gets the frame's (H, W) uint8 Y plane (display orientation, limited
    range) and returns a new one of the same shape; chroma is kept. Timestamps (so duration and
    variable frame rate) are copied, audio packets too; rotation is baked into the pixels.
    ``tune=None`` encodes like a platform would (x264 defaults). With `max_frames`, only the
    first frames are written, without audio (a trial encode). `info` is `src`'s :func:`probe`, if
    the caller has it.

    Returns
    -------
    VideoInfo
        Of the source.

    Raises
    ------
    InvalidVideoError, VideoTooLargeError
        As :func:`probe`.
    """
    import av

    settings = settings or Settings()
    crf = settings.video_crf if crf is None else crf
    info = probe(src, settings=settings) if info is None else info
    p = Path(src)
    # yuv420p needs even sides: an odd last row or column is dropped.
    ow, oh = info.width // 2 * 2, info.height // 2 * 2
    with _open(p) as inp, av.open(str(dst), mode="w", format="mp4") as out:
        vs = _video_stream(inp)
        vs.thread_type = "AUTO"
        rate = vs.average_rate or vs.guessed_rate or Fraction(25)
        ovs = out.add_stream("libx264", rate=rate)
        ovs.width, ovs.height, ovs.pix_fmt = ow, oh, "yuv420p"
        tb = vs.time_base or Fraction(1, 90000)
        ovs.time_base = tb
        ovs.codec_context.time_base = tb
        # x264's "grain" tuning keeps low-amplitude texture in predicted frames, where the
        # default deadzone erases it: the watermark stays as strong in P-frames as in I-frames.
        ovs.options = {"crf": str(int(crf)), "preset": preset} | ({"tune": tune} if tune else {})
        if max_frames is None and _variable_rate(p):
            # B-frames in a variable-rate MP4 make the muxer's track duration (from the decode
            # times) short of the last frame's time; without them the duration stays the source's.
            # (A trial encode's duration does not matter: it skips this scan of every packet.)
            ovs.options = ovs.options | {"bf": "0"}
        ovs.thread_type = "AUTO"
        ias = inp.streams.audio[0] if inp.streams.audio and max_frames is None else None
        oas = None
        if ias is not None:
            try:
                oas = out.add_stream_from_template(ias)
            except (av.FFmpegError, ValueError) as exc:
                log.warning("%s: audio (%s) cannot go into MP4 unchanged; dropped: %s", p.name, ias.codec_context.name, exc)
        streams = [vs] + ([ias] if oas is not None else [])
        index = 0
        last_pts = None
        try:
            for packet in inp.demux(*streams):
                if packet.stream is ias:
                    if packet.dts is None:
                        continue
                    packet.stream = oas
                    out.mux(packet)
                    continue
                if max_frames is not None and index >= max_frames:
                    break
                for frame in packet.decode():
                    new = _rewrite_frame(_fit(frame, info), info, ow, oh, transform, index, last_pts)
                    out.mux(ovs.encode(new))
                    last_pts = new.pts  # as written: a source whose timestamps repeat or go back gets increasing ones
                    index += 1
        except av.FFmpegError as exc:
            if index == 0:
                raise InvalidVideoError(f"{p.name}: no frame could be decoded ({exc}); the file is corrupt.") from exc
            log.warning("%s: decoding stopped after %d frames: %s", p.name, index, exc)
        if index == 0:
            raise InvalidVideoError(f"{p.name}: the video track holds no decodable frame; the file is corrupt or truncated.")
        try:
            out.mux(ovs.encode(None))
        except av.FFmpegError as exc:
            raise InvalidVideoError(
                f"{p.name}: its frames could not be written back ({exc.strerror}); its timing is corrupt. "
                "Re-encode it (e.g. to H.264 MP4) and try again."
            ) from exc
    return info


def _variable_rate(path: Path) -> bool:
    """True when the first video track's frame intervals differ (read from its packets, not decoded)."""
    import av

    pts = []
    with _open(path) as container:
        try:
            for packet in container.demux(_video_stream(container)):
                if packet.pts is not None and packet.size:
                    pts.append(packet.pts)
        except av.FFmpegError:
            pass  # a truncated tail: the intervals before it decide
    steps = np.diff(np.unique(np.asarray(pts, dtype=np.int64)))
    if len(steps) < 2:
        return False
    median = float(np.median(steps))
    return float(steps.max() - steps.min()) > 1 + 0.1 * median  # beyond timestamp rounding (29.97 fps in ms)


def _rewrite_frame(frame, info: VideoInfo, ow: int, oh: int, transform, index: int, last_pts):
    import av

    h, w = frame.height, frame.width
    if h % 2 or w % 2:  # yuv420p needs even sides: the odd last row or column is cropped away
        pts, time_base = frame.pts, frame.time_base
        frame = frame.reformat(format="rgb24").to_ndarray()[: h // 2 * 2, : w // 2 * 2]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        h, w = frame.height, frame.width
    yuv = frame.to_ndarray(format="yuv420p")  # (H * 3 / 2, W): Y, then U and V quarter planes
    flat = yuv.reshape(-1)
    q = (h // 2) * (w // 2)
    y = flat[: h * w].reshape(h, w)
    u = flat[h * w : h * w + q].reshape(h // 2, w // 2)
    v = flat[h * w + q : h * w + 2 * q].reshape(h // 2, w // 2)
    y, u, v = (_rotate(x, info.rotation) for x in (y, u, v))
    y2 = transform(y, index)
    if y2.shape != y.shape or y2.dtype != np.uint8:
        raise ValueError(f"transform must return a {y.shape} uint8 plane; got {y2.shape} {y2.dtype}.")
    y2 = y2[:oh, :ow]
    packed = np.concatenate([y2.reshape(-1), u[: oh // 2, : ow // 2].reshape(-1), v[: oh // 2, : ow // 2].reshape(-1)])
    new = av.VideoFrame.from_ndarray(packed.reshape(oh * 3 // 2, ow), format="yuv420p")
    pts = frame.pts
    if pts is None or (last_pts is not None and pts <= last_pts):
        pts = (last_pts + 1) if last_pts is not None else 0
    new.pts = pts
    new.time_base = frame.time_base
    return new


def write_frames(
    dst: str | os.PathLike,
    frames: Iterable[np.ndarray],
    *,
    fps: float = 15.0,
    codec: str = "libx264",
    crf: int = 18,
    bit_rate: int | None = None,
    container_format: str | None = None,
) -> int:
    """Encode (H, W, 3) uint8 RGB frames to a file (for clips made by tests, demos and benchmarks).

    Returns the number of frames written.
    """
    import av

    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError("frames is empty; pass at least one (H, W, 3) uint8 frame.")
    h, w = first.shape[:2]
    pix = "yuv420p"
    with av.open(str(dst), mode="w", format=container_format) as out:
        rate = Fraction(fps).limit_denominator(1001)
        vs = out.add_stream(codec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = w // 2 * 2, h // 2 * 2, pix
        if bit_rate:
            vs.bit_rate = bit_rate
        elif codec in ("libx264", "libx265"):
            vs.options = {"crf": str(crf), "preset": "veryfast"} | ({"x265-params": "log-level=error"} if codec == "libx265" else {})
        elif codec == "libvpx-vp9":
            vs.options = {"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8"}
        n = 0
        for rgb in _chain(first, it):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[: h // 2 * 2, : w // 2 * 2]), format="rgb24")
            out.mux(vs.encode(frame))
            n += 1
        out.mux(vs.encode(None))
    return n


def _chain(first, rest):
    yield first
    yield from rest
