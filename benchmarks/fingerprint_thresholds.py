"""Where the fingerprint thresholds come from: best correlations of legit copies vs other pictures.

Embeds a mark in every corpus photo (at one short side), applies every attack of
:data:`provenance.attacks.ATTACKS`, detects, and compares the attacked picture with the
marked one's fingerprint using the recovered geometry (:func:`provenance.fingerprint.compare_fingerprint`).
Against that: the keyless copy attack (the next photo carrying this one's mark, with the
geometry the detector reports on it) and every ordered pair of different photos. Prints the
lowest legit similarities and the highest of the others; :data:`~provenance.fingerprint.MATCH_SIMILARITY`
must sit above every "other" value and :data:`~provenance.fingerprint.MISMATCH_SIMILARITY` below
most legit ones.

Usage::

    python benchmarks/fingerprint_thresholds.py [--size 512]
"""

from __future__ import annotations

import argparse

import corpus
from provenance import keyless_attacks, watermark
from provenance.attacks import ATTACKS
from provenance.fingerprint import MATCH_SIMILARITY, MISMATCH_SIMILARITY, compare_fingerprint, make_fingerprint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args(argv)
    items = corpus.corpus_images(short_side=args.size)
    key = b"fingerprint-thresholds"
    photos = [corpus.load_corpus_image(i) for i in items]
    marked = [watermark.embed(p, n.to_bytes(8, "big"), key=key) for n, p in enumerate(photos)]
    prints = [make_fingerprint(m) for m in marked]
    legit, copies = [], []
    for n, m in enumerate(marked):
        for name, attack in ATTACKS.items():
            attacked = attack(m)
            r = watermark.detect(attacked, key=key)
            if r.detected:
                c = compare_fingerprint(attacked, prints[n], scale=r.scale, rotation_degrees=r.rotation_degrees,
                                        mirrored=r.mirrored)
                legit.append((c.similarity, name, items[n].name))
        planted = keyless_attacks.copy_mark(m, photos[(n + 1) % len(photos)])
        r = watermark.detect(planted, key=key)
        copies.append(compare_fingerprint(planted, prints[n], scale=r.scale, rotation_degrees=r.rotation_degrees,
                                          mirrored=r.mirrored).similarity)
    others = [compare_fingerprint(photos[j], prints[i], scale=1.0, rotation_degrees=0.0, mirrored=False).similarity
              for i in range(len(photos)) for j in range(len(photos)) if i != j]
    legit.sort()
    below = sum(1 for s, _, _ in legit if s < MATCH_SIMILARITY)
    print(f"legit copies (detected): {len(legit)}; below {MATCH_SIMILARITY}: {below}; lowest:",
          ", ".join(f"{s:.2f} {a} {p}" for s, a, p in legit[:8]))
    print(f"copy attack: {len(copies)} pairs, highest {max(copies):.2f}; below {MISMATCH_SIMILARITY}: "
          f"{sum(1 for s in copies if s < MISMATCH_SIMILARITY)}")
    print(f"different photos: {len(others)} ordered pairs, highest {max(others):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
