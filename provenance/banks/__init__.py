"""Hash banks: lists of reported hashes that uploads are checked against.

Survivors of non-consensual intimate imagery report images by *hash* (StopNCII, NCMEC's Take
It Down), made on their own device, so the image never leaves it. A platform keeps banks of
such hashes and checks every upload. Banks live in the registry database
(:mod:`provenance.registry`, migration 3); **no media is ever stored**, only hex hashes with
a source, a case ID and a date.

::

    banks = Banks(registry)                                  # once per process
    banks.create("stopncii", label="ncii")                   # threshold 31, enabled
    banks.import_hashes("stopncii", Path("list.csv"))        # one transaction; bad rows change nothing
    result = banks.match_file("upload.jpg")                  # PDQ + 8 dihedrals + MD5/SHA-256
    result.status, [m.to_dict() for m in result.matches]
    banks.withdraw("stopncii", ["<64 hex>"])                 # takes effect on the next query

A match is **a signal for human review, never proof**: PDQ hashes of different pictures can
be close, and a bank entry says only that someone reported a picture.

Each bank has a ``version`` counter that every change increments. Before each query,
:class:`Banks` reads the counters of all banks (one small query) and reloads what changed:
appended entries only (new rows go into a small brute-force side array), or the whole bank
after a withdrawal. The PDQ hashes of a bank are held in a :class:`~provenance.search.HashIndex`
inside an immutable snapshot (:mod:`.index`) that a refresh replaces whole, so matching is
thread-safe without holding a lock during the search.

The package: :mod:`.records` (what a bank, an entry and a match are), :mod:`.lists` (parsing
and writing hash lists), :mod:`.index` (the in-memory snapshots), :mod:`.bulk` (bulk insert)
and :mod:`.store` (:class:`Banks`). Video entries (vPDQ frames + MD5/SHA-256, migration 8):
:mod:`.video_records`, :mod:`.video_index` (all banked frames in one index, frame -> video)
and :mod:`.video_store` (``add_video_file``, ``import_videos``, ``match_video_file``, ...).

Hash list formats (import and export)
-------------------------------------
CSV with a header row naming some of ``hash`` (required), ``kind`` (``pdq`` default, ``md5``,
``sha256``), ``quality``, ``source``, ``case_id``, ``date`` (ISO 8601); or a bare list, one
hash per line. JSON: a list of such objects (or of hex strings), or ``{"hashes": [...]}``.

Errors
------
:class:`~provenance.errors.HashListError` (an :class:`~provenance.errors.InvalidInputError`)
for malformed lists, with the line or item number; :class:`~provenance.errors.BankNotFoundError`,
:class:`~provenance.errors.BankExistsError`;
:class:`~provenance.errors.RegistryError` when the database fails. A failed import or
withdrawal leaves the bank unchanged.
"""

from __future__ import annotations

from ..errors import BankExistsError, BankNotFoundError, BankVideoNotFoundError, HashListError
from ..registry.schema import DEFAULT_BANK_THRESHOLD, STAMPED_OUTPUTS_BANK
from .lists import DEFAULT_MAX_IMPORT_ROWS, parse_hash_list
from .records import HASH_KINDS, REVIEW_NOTE, Bank, BankEntry, BankMatch, ImportResult, MatchResult
from .store import Banks, audit_detail
from .video_records import VideoBankMatch, VideoEntry, VideoMatchResult, parse_video_list

__all__ = [
    "DEFAULT_BANK_THRESHOLD",
    "DEFAULT_MAX_IMPORT_ROWS",
    "HASH_KINDS",
    "REVIEW_NOTE",
    "STAMPED_OUTPUTS_BANK",
    "Bank",
    "BankEntry",
    "BankExistsError",
    "BankMatch",
    "BankNotFoundError",
    "BankVideoNotFoundError",
    "Banks",
    "HashListError",
    "ImportResult",
    "MatchResult",
    "VideoBankMatch",
    "VideoEntry",
    "VideoMatchResult",
    "audit_detail",
    "parse_hash_list",
    "parse_video_list",
]
