"""The video mark's temporal design: fixed in time against keyed per-frame shifts, side by side.

The issue leaves the choice open: a pattern fixed in time lets frames add evidence but shows as a
"dirty window" on pans; keyed per-frame shifts (each frame's tile moved by an offset derived from
the key and the frame number) avoid that. Both are embedded here into the same lossless sources
(640x360, 3 s at 15 fps: a still shot, two pans and a zoom), with the same mark strength and the
same CRF (15, no trial encode, so their sizes compare), and measured, with shifts that change
every 8 or 16 frames (a segment) as a middle way, for:

* fidelity: PSNR against the source, flicker of the added pattern (RMS of its frame-to-frame
  change over its RMS), and the stamped file's size;
* robustness: the exact payload after H.264 CRF 23, CRF 28 at 0.75 scale, a screen recording and a
  1.5 s excerpt (``benchmarks/video.py``'s attacks), with the unchanged detector (it searches every
  frame's shift, so it reads both designs);
* a keyless removal that only a fixed pattern invites: average the stamped clip's frames (the
  picture moves, the pattern does not), keep the average's fine detail as the pattern's estimate,
  subtract it from every frame and re-encode at CRF 18.

Usage::

    nice -n 5 python benchmarks/video_temporal.py      # writes the "video-temporal" section
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

import _results
import video as V

from provenance.video import iter_frames, rewrite_luma, write_frames
from provenance.video.watermark import VIDEO_PSNR, detect_video
from provenance.watermark import embed_luma, pattern_plane
from provenance.watermark.frames import SEGMENT_FRAMES, segment_shift

#: Fixed in time; a new keyed shift every frame; a new keyed shift every 8 or 16 frames.
DESIGNS = ("fixed", "per-frame", "per-4-frames", "per-8-frames", "per-16-frames")
_SEGMENT = {"fixed": None, "per-frame": 1, "per-4-frames": 4, "per-8-frames": 8, "per-16-frames": 16}
ATTACKS = ("h264_crf23", "crf28_downscaled", "screen_recording", "excerpt1.5s")


def clips() -> list[tuple[str, list[np.ndarray]]]:
    import corpus

    photos = {p.name: p.path for p in corpus.list_photos()}
    return [("still_kodim03", V.still(photos["kodim03"])), ("pan_kodim08", V.pan(photos["kodim08"])),
            ("pan_kodim04", V.pan(photos["kodim04"])), ("zoom_coffee", V.zoom(photos["coffee"]))]




def stamp(src: Path, dst: Path, design: str, h: int, w: int) -> None:
    fixed = pattern_plane(h, w, V.PAYLOAD, key=V.KEY)

    segment = _SEGMENT[design]
    planes: dict[int, np.ndarray] = {}

    def mark(y, i):
        if segment is None:
            plane = fixed
        else:
            if i // segment not in planes:
                planes.clear()
                planes[i // segment] = pattern_plane(h, w, V.PAYLOAD, key=V.KEY, shift=segment_shift(V.KEY, V.PAYLOAD, i // segment))
            plane = planes[i // segment]
        return embed_luma(y[:h, :w], plane, psnr=VIDEO_PSNR)

    rewrite_luma(src, dst, mark, crf=15)


def averaging_attack(marked: Path, dst: Path, span: int | None = None) -> float:
    """Subtract the fine detail of the mean frame (of the clip, or of each run of `span` frames) from
    every frame; returns the PSNR it costs."""
    frames = [f.rgb.astype(np.float32) for f in iter_frames(marked)]
    span = span or len(frames)
    attacked = []
    for start in range(0, len(frames), span):
        mean = np.mean(frames[start : start + span], axis=0).mean(axis=2)
        estimate = mean - gaussian_filter(mean, 1.5)
        attacked += [np.clip(np.rint(f - estimate[:, :, None]), 0, 255).astype(np.uint8) for f in frames[start : start + span]]
    write_frames(dst, attacked, fps=V.FPS, crf=18)
    mse = np.mean([np.mean((a.astype(np.float32) - f) ** 2) for a, f in zip(attacked, frames)])
    return float(10 * np.log10(255**2 / mse))


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name, frames in clips():
            src = tmp / f"{name}.mp4"
            write_frames(src, frames, fps=V.FPS, crf=0)
            h, w = frames[0].shape[0] // 2 * 2, frames[0].shape[1] // 2 * 2
            for design in DESIGNS:
                marked = tmp / f"{name}_{design}.mp4"
                stamp(src, marked, design, h, w)
                psnr, flicker = V.psnr_and_flicker(src, marked)
                work = tmp / f"{name}_{design}"
                work.mkdir()
                attacked, _ = V.attacks(marked, work)
                hits = {a: detect_video(attacked[a], key=V.KEY).watermark.payload == V.PAYLOAD for a in ATTACKS}
                cost = averaging_attack(marked, work / "averaged.mp4")
                removed = detect_video(work / "averaged.mp4", key=V.KEY).watermark.payload != V.PAYLOAD
                # The code is open, so an attacker knows the segment length and averages each segment alone.
                cost_s = averaging_attack(marked, work / "segments.mp4", _SEGMENT[design])
                removed_s = detect_video(work / "segments.mp4", key=V.KEY).watermark.payload != V.PAYLOAD
                rows.append((name, design, psnr, flicker, marked.stat().st_size // 1024, hits, cost, removed, cost_s, removed_s))
                print(rows[-1][:5], hits, f"averaging: {cost:.1f} dB, removed={removed}; per segment: {cost_s:.1f} dB, "
                      f"removed={removed_s}", file=sys.stderr, flush=True)
    head = ["## Video watermark: temporal design (fixed in time or keyed per-frame shifts)", "",
            _results.run_header("python benchmarks/video_temporal.py"), "",
            "Same lossless 640x360 sources (3 s at 15 fps), same mark strength (`VIDEO_PSNR`), same CRF 15 (no trial "
            "encode); the unchanged detector. Attacks as in `benchmarks/video.py` (crf28_downscaled takes these clips "
            "to 270p). Averaging: the fine detail of the stamped clip's mean frame subtracted from every frame, CRF 18; "
            "'removed' means the payload no longer decodes; 'each segment' averages the frames that share a shift (an "
            f"attacker who read the code knows where they change). The shipped design has `SEGMENT_FRAMES` = {SEGMENT_FRAMES}.", "",
            "| clip | design | PSNR dB | flicker | size KiB | " + " | ".join(ATTACKS)
            + " | averaging the clip: PSNR dB | removed | averaging each segment: PSNR dB | removed |",
            "|---|---|---:|---:|---:|" + "---|" * len(ATTACKS) + "---:|---|---:|---|"]
    body = [f"| {n} | {dsg} | {p:.1f} | {f:.2f} | {kb} | " + " | ".join("yes" if hits[a] else "**no**" for a in ATTACKS)
            + f" | {c:.1f} | {'**yes**' if r else 'no'} | {cs:.1f} | {'**yes**' if rs else 'no'} |"
            for n, dsg, p, f, kb, hits, c, r, cs, rs in rows]
    lines = head + body
    _results.update_section("video-temporal", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
