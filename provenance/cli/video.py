"""Video branches of ``provenance stamp``, ``verify`` and ``watermark embed|detect``.

The commands stay in their own modules; each calls in here when a path has a video suffix.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..keys import WatermarkKey
from ..report import Verifier
from ..settings import Settings
from ..stamp import Stamper
from ..video import is_video_file
from ..video.stamp import stamp_video
from ..video.verify import VideoReport, verify_video
from ..video.watermark import detect_video_keys, embed_video
from ..watermark import FramesResult
from .common import echo_json

__all__ = ["is_video", "stamp_video_file", "describe_video_report", "embed_video_file", "detect_video_file"]


def is_video(path: Path) -> bool:
    """True when `path` holds a video (see :func:`provenance.video.is_video_file`: the bytes decide over the name)."""
    return is_video_file(path)


def stamp_video_file(source: Path, target: Path, *, generator: str, prompt_hash: str | None,
                     requester: str | None, as_json: bool) -> None:
    """``provenance stamp clip.mp4 out.mp4``."""
    with Stamper(Settings.from_env()) as stamper:
        result = stamp_video(stamper, source, target, generator=generator, prompt_hash=prompt_hash, requester=requester)
        development = stamper.credentials.is_development or stamper.keyring.is_development
    if as_json:
        echo_json({"path": str(target), "stamp": result.to_dict()})
        return
    d = result.to_dict()
    note = " (development key/certificate: not for production)" if development else ""
    click.echo(
        f"{target}: stamped video ID {result.stamp_id} for {result.generator}, {d['width']}x{d['height']}, "
        f"{d['duration_s']} s, {len(result.video_hash.frames)} vPDQ frames, key {result.key_id}, "
        f"SHA-256 {result.sha256[:16]}...{note}"
    )


def describe_video_report(report: VideoReport) -> list[str]:
    """Plain-text lines for one video report."""
    d = report.to_dict()
    lines = [f"{report.verdict}: {report.summary}"]
    mark = d["watermark"]
    if mark is not None:
        lines.append(f"  - watermark: {'found' if mark['detected'] else 'not found'} in "
                     f"{mark['frames_with_evidence']} of {mark['frames_sampled']} sampled frames (p <= {mark['p_value']:.1e})")
    lines.append(f"  - Content Credentials: {report.manifest.state}")
    sig = d["container_signals"]
    lines.append(f"  - container: encoder {sig['encoder']!r}, tool {sig['creation_tool']!r}"
                 + (f", camera {sig['camera_tags']}" if sig["camera_tags"] else "")
                 + (f", AI-tool tags {sig['ai_tool_tags']}" if sig["ai_tool_tags"] else ""))
    lines.append(f"  - vPDQ: {len(report.video_hash.frames)} frames; MD5 {report.video_hash.md5}")
    banked = report.bank_matches
    if banked is not None:
        lines.append(f"  - hash banks: {banked.status} - {banked.explanation}")
        for m in banked.matches:
            lines.append(f"    - bank {m.bank} ({m.label}): video {m.video_id}, {m.kind}: {m.query_match_percent:.0f}% of "
                         f"this video's frames, {m.compared_match_percent:.0f}% of the banked video's")
    return lines


def verify_video_path(verifier: Verifier, path: Path, *, search: str | None) -> VideoReport:
    """Verify one video with a shared verifier."""
    return verify_video(verifier, path, search=search)


def embed_video_file(source: Path, target: Path, data: bytes, key: WatermarkKey, *, psnr: float | None) -> str:
    """``provenance watermark embed clip.mp4 out.mp4``; returns the line to print."""
    kwargs = {} if psnr is None else {"psnr": psnr}  # None: the video default, VIDEO_PSNR
    info = embed_video(source, target, data, key=key.secret, settings=Settings.from_env(), **kwargs)
    return (f"{target}: embedded payload {data.hex()} ({len(data) * 8} bits) into every frame of "
            f"{info.width}x{info.height} {source} ({info.frame_count} frames, {info.duration_s:.1f} s).")


def detect_video_file(path: Path, keys: tuple[WatermarkKey, ...]) -> tuple[FramesResult, WatermarkKey]:
    """The first key's detection that finds the mark, else the best-scoring key's (the clip decoded once)."""
    index, result = detect_video_keys(path, [key.secret for key in keys], settings=Settings.from_env())
    return result, keys[index]
