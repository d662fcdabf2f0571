"""Issue 14's acceptance points not pinned elsewhere: the stamped MP4's credentials say what an image's
say, the registry row is the output's, and a frame grabbed from the clip verifies as an image."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from provenance.hashing import PerceptualHash, pdq_hash
from provenance.manifest import read_manifest
from provenance.report import Verifier
from provenance.settings import Settings
from provenance.signing import WATERMARK_ALG
from provenance.stamp import Stamper
from provenance.video import sample_frames, write_frames
from provenance.video.stamp import bmff_manifest_store, stamp_video
from provenance.video.verify import verify_video

from .conftest import blob_scenes, pan_frames


@pytest.fixture(scope="module")
def stamped(tmp_path_factory):
    d = tmp_path_factory.mktemp("accept")
    src = d / "gen.mp4"
    write_frames(src, pan_frames(size=(480, 272), n=12, step=4), fps=10)
    settings = Settings(instance_path=d / "instance")
    with Stamper(settings) as stamper:
        result = stamp_video(stamper, src, d / "stamped.mp4", generator="video-model 2", requester="alice")
        yield stamper, result


def test_the_stamped_mp4_carries_the_image_assertions(stamped):
    stamper, result = stamped
    summary = read_manifest(result.path, settings=stamper.settings, extra_trust_anchors=[stamper.credentials.ca_pem])
    assert summary.state == "trusted" and summary.ai_disclosure == "ai_generated" and summary.mime_type == "video/mp4"
    assert [(b.alg, b.value) for b in summary.soft_bindings] == [(WATERMARK_ALG, result.stamp_id)]
    assert {a.action for a in summary.actions} >= {"c2pa.created", "c2pa.watermarked"}
    assert [a.digital_source_type_name for a in summary.actions if a.action == "c2pa.created"] == ["trainedAlgorithmicMedia"]


def test_the_registry_row_is_the_outputs(stamped):
    stamper, result = stamped
    record = stamper.registry.get_stamp(result.stamp_id)
    assert record.manifest_store == bmff_manifest_store(result.path.read_bytes()) and record.manifest_store[4:8] == b"jumb"
    assert record is not None and (record.generator, record.requester) == ("video-model 2", "alice")
    assert record.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest() == result.video_hash.sha256
    middle = sample_frames(result.path, 3)[1].rgb
    assert PerceptualHash.from_hex(record.phash) - pdq_hash(middle) <= 8


def test_a_frame_grab_shared_as_jpeg_verifies_as_an_image(stamped):
    stamper, result = stamped
    frame = sample_frames(result.path, 3)[1].rgb
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buf, "JPEG", quality=80)
    with Verifier(stamper.settings) as verifier:
        report = verifier.verify(buf.getvalue(), name="grab.jpg").to_dict()
    assert report["watermark"]["detected"] and report["watermark"]["payload"] == result.stamp_id
    assert report["registry"]["found"] and report["registry"]["lookup"] == "watermark_id"
    # The clip's signed credentials, kept in the registry (they were not, for video, before): recovered.
    recovered = report["registry"]["recovered_manifest"]
    assert report["registry"]["recovered_because_missing"] and recovered["signature_state"] == "trusted"
    assert recovered["ai_disclosure"] == "ai_generated"
    assert (report["registry"]["record"]["stamp_id"], report["registry"]["record"]["generator"]) == (result.stamp_id, "video-model 2")


@pytest.mark.parametrize("seconds, fps", [(12, 5), (1, 10)])
def test_the_keyframe_strip_spreads_over_the_clip(stamped, tmp_path, seconds, fps):
    # Thumbnails come from vPDQ's frames (one a second); a clip of a few seconds gets sampled ones.
    stamper, _ = stamped
    clip = tmp_path / "clip.mp4"
    write_frames(clip, blob_scenes(3, seconds, fps=fps), fps=fps)
    with Verifier(stamper.settings, use_registry=False) as verifier:
        report = verify_video(verifier, clip)
    assert len(report.thumbnails) == 6 and len(set(report.thumbnails)) >= 3
    assert all(t[:2] == b"\xff\xd8" for t in report.thumbnails)
