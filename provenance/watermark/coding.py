"""Payload coding: length + payload + keyed CRC-32, rate-1/3 convolutional code, soft Viterbi.

The message is ``3 bits (payload length - 1) | 64 bits payload (zero-padded) | 32 bits CRC``,
99 bits, terminated with 6 zero bits and encoded with the K=7 code of generators
133, 171, 165 (octal): 315 coded bits. The CRC is salted with a key-derived
value, so a decode under the wrong key, or of noise, passes it with probability
2**-32.

:func:`decode_payload` follows the single best path; :func:`list_decode_payload` keeps the
:data:`LIST_SIZE` best paths (a list Viterbi decoder) and returns the best that passes the
CRC, each path one more CRC try in the false-positive bound. It decodes soft bits about
1 dB noisier (``docs/watermark.md``, "List decoding").
"""

from __future__ import annotations

import zlib

import numpy as np

from ..errors import InvalidInputError

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MESSAGE_BITS",
    "CODED_BITS",
    "CRC_BITS",
    "LIST_SIZE",
    "encode_payload",
    "decode_payload",
    "list_decode_payload",
]

MAX_PAYLOAD_BYTES = 8
_LENGTH_BITS = 3
CRC_BITS = 32
MESSAGE_BITS = _LENGTH_BITS + 8 * MAX_PAYLOAD_BYTES + CRC_BITS  # 99
_CONSTRAINT = 7
_TAIL = _CONSTRAINT - 1
_GENERATORS = (0o133, 0o171, 0o165)
_RATE = len(_GENERATORS)
CODED_BITS = (MESSAGE_BITS + _TAIL) * _RATE  # 315
_STATES = 1 << _TAIL
#: Paths a list decode keeps per state (and CRC tries it may make).
LIST_SIZE = 128


def _parity(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x.astype(np.uint8)) & 1


def _trellis() -> tuple[np.ndarray, np.ndarray]:
    """Return (next_state[state, bit], symbols[state, bit, j] in {+1, -1})."""
    state = np.arange(_STATES)[:, None]
    bit = np.arange(2)[None, :]
    register = (state << 1) | bit  # 7 bits, newest bit lowest
    out = np.stack([_parity(register & g) for g in _GENERATORS], axis=-1)
    return (register & (_STATES - 1)), 1.0 - 2.0 * out.astype(np.float32)


_NEXT, _SYMBOLS = _trellis()
# For each next state: its two predecessors and the symbols on those branches.
_PREV = np.empty((_STATES, 2), dtype=np.int64)
for _ns in range(_STATES):
    _PREV[_ns] = [(_ns >> 1), (_ns >> 1) | (_STATES >> 1)]
_PREV_SYMBOLS = np.stack([_SYMBOLS[_PREV[:, i], np.arange(_STATES) & 1] for i in range(2)], axis=1)  # (64, 2, 3)
_PREV_SYMBOLS_64 = _PREV_SYMBOLS.astype(np.float64)


def _crc(salt: bytes, length: int, body: bytes) -> int:
    return zlib.crc32(salt + bytes([length]) + body) & 0xFFFFFFFF


def _int_to_bits(value: int, width: int) -> np.ndarray:
    return np.array([(value >> (width - 1 - i)) & 1 for i in range(width)], dtype=np.uint8)


def _bits_to_int(bits: np.ndarray) -> int:
    return int("".join(str(int(b)) for b in bits), 2) if len(bits) else 0


def _check_payload(payload: bytes) -> bytes:
    if not isinstance(payload, (bytes, bytearray)):
        raise InvalidInputError(f"payload must be bytes; got {type(payload).__name__}. Use bytes.fromhex('...').")
    if not 1 <= len(payload) <= MAX_PAYLOAD_BYTES:
        raise InvalidInputError(
            f"payload must be 1 to {MAX_PAYLOAD_BYTES} bytes (64 bits); got {len(payload)} bytes."
        )
    return bytes(payload)


def encode_payload(payload: bytes, salt: bytes) -> np.ndarray:
    """Encode `payload` to ``CODED_BITS`` antipodal symbols (+1 for bit 0, -1 for bit 1).

    Raises
    ------
    InvalidInputError
        If the payload is not 1 to 8 bytes.
    """
    payload = _check_payload(payload)
    body = payload.ljust(MAX_PAYLOAD_BYTES, b"\0")
    crc = _crc(salt, len(payload), body)
    bits = np.concatenate(
        [
            _int_to_bits(len(payload) - 1, _LENGTH_BITS),
            np.unpackbits(np.frombuffer(body, dtype=np.uint8)),
            _int_to_bits(crc, CRC_BITS),
            np.zeros(_TAIL, dtype=np.uint8),
        ]
    )
    state = 0
    out = np.empty((len(bits), _RATE), dtype=np.float32)
    for i, b in enumerate(bits):
        out[i] = _SYMBOLS[state, b]
        state = _NEXT[state, b]
    return out.ravel()


def _viterbi(soft: np.ndarray) -> np.ndarray:
    """Maximum-correlation path through the trellis; `soft` is (steps, 3). Returns input bits."""
    steps = soft.shape[0]
    metric = np.full(_STATES, -np.inf, dtype=np.float64)
    metric[0] = 0.0
    choices = np.empty((steps, _STATES), dtype=np.uint8)
    branches = np.einsum("sij,tj->tsi", _PREV_SYMBOLS_64, soft)  # (steps, 64, 2), all at once
    for t in range(steps):
        cand = metric[_PREV] + branches[t]
        pick = cand[:, 1] > cand[:, 0]  # ties keep the first predecessor
        choices[t] = pick
        metric = np.where(pick, cand[:, 1], cand[:, 0])
    state = 0  # terminated with zero tail
    bits = np.empty(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = state & 1
        state = _PREV[state, choices[t, state]]
    return bits


def _message(bits: np.ndarray, salt: bytes) -> bytes | None:
    """The payload of decoded message `bits` if its CRC and zero padding check, else None."""
    bits = bits[:MESSAGE_BITS]
    length = _bits_to_int(bits[:_LENGTH_BITS]) + 1
    body = np.packbits(bits[_LENGTH_BITS : _LENGTH_BITS + 64]).tobytes()
    crc = _bits_to_int(bits[_LENGTH_BITS + 64 :])
    if crc != _crc(salt, length, body) or any(body[length:]):
        return None
    return body[:length]


def decode_payload(soft: np.ndarray, salt: bytes) -> bytes | None:
    """Soft-decode ``CODED_BITS`` values (positive = bit 0) and check the CRC.

    Returns
    -------
    bytes or None
        The payload if the CRC matches, else None.
    """
    soft = np.asarray(soft, dtype=np.float64).reshape(-1, _RATE)
    if not np.any(soft):
        return None
    return _message(_viterbi(soft), salt)


def _list_viterbi(soft: np.ndarray, size: int) -> np.ndarray:
    """The `size` best paths ending in the zero state, best first: (paths, steps) input bits.

    Each state keeps its `size` best partial paths (unordered: only the final list is sorted);
    a step takes, for each next state, the best `size` of its two predecessors' 2 x `size`.
    """
    steps = soft.shape[0]
    metric = np.full((_STATES, size), -np.inf)
    metric[0, 0] = 0.0
    back = np.empty((steps, _STATES, size), dtype=np.int32)  # index into (predecessor, rank) pairs
    branches = np.einsum("sij,tj->tsi", _PREV_SYMBOLS_64, soft)
    rows = np.arange(_STATES)[:, None]
    for t in range(steps):
        cand = (metric[_PREV] + branches[t][:, :, None]).reshape(_STATES, 2 * size)
        keep = np.argpartition(cand, size, axis=1)[:, size:]
        back[t] = keep
        metric = cand[rows, keep]
    final = metric[0]
    ranks = np.argsort(-final, kind="stable")
    ranks = ranks[np.isfinite(final[ranks])]
    states = np.zeros(len(ranks), dtype=np.int64)
    bits = np.empty((len(ranks), steps), dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        pair = back[t, states, ranks]
        bits[:, t] = states & 1
        predecessor, ranks = np.divmod(pair, size)
        states = _PREV[states, predecessor]
    return bits


def list_decode_payload(soft: np.ndarray, salt: bytes, size: int = LIST_SIZE) -> bytes | None:
    """:func:`decode_payload` keeping the `size` best trellis paths; the best that passes the CRC.

    A decode of noise passes with probability at most ``size * 2**-32`` (one CRC try a path).
    """
    soft = np.asarray(soft, dtype=np.float64).reshape(-1, _RATE)
    if not np.any(soft):
        return None
    for bits in _list_viterbi(soft, size):
        payload = _message(bits, salt)
        if payload is not None:
            return payload
    return None
