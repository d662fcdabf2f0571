"""C2PA signing: credentials (a development CA made on first use) and signing with c2pa-python.

Credentials come from ``Settings.signing_cert`` / ``Settings.signing_key`` (PEM files) and
``Settings.signing_alg``. They are checked against the C2PA certificate profile up front, so a
wrong file fails at start-up with a :class:`~provenance.errors.ConfigError` that says what to fix,
not later inside c2pa-rs.

With no certificate configured, a development CA and a leaf certificate per algorithm are made
once in ``Settings.instance_path / "dev-signing"`` and reused. They validate as ``Valid`` (signature
intact, signer untrusted) everywhere, and as ``Trusted`` only where the development CA
(:attr:`SigningCredentials.ca_pem`) is added as a trust anchor. Creation holds an exclusive file
lock and writes every file atomically, so several workers starting at once agree on one CA.

::

    credentials = load_credentials(Settings.from_env())
    manifest = ai_generated_manifest(generator="my-model 2.1", watermark_id="5f3a09c2e4b1")
    signed_png = sign_asset(png_bytes, "image/png", manifest, credentials)
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Iterator

import c2pa
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import ConfigError, InvalidInputError, ManifestError, SigningError, TimestampAuthorityError
from .settings import Settings

try:  # POSIX; without it (Windows) dev credentials are still written atomically, just unlocked.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "SUPPORTED_ALGS",
    "DEV_ORGANIZATION",
    "DEV_SIGNING_DIRNAME",
    "C2PA_SIGNING_EKUS",
    "TRAINED_ALGORITHMIC_MEDIA",
    "WATERMARK_ALG",
    "SigningCredentials",
    "load_credentials",
    "check_signing_credentials",
    "ai_generated_manifest",
    "sign_asset",
]

logger = logging.getLogger(__name__)

#: Signing algorithms provenance accepts (``Settings.signing_alg``).
SUPPORTED_ALGS = ("es256", "es384", "ps256", "ed25519")
#: Organisation name of the development CA and leaf: says plainly that nobody trusts them.
DEV_ORGANIZATION = "provenance development CA (not trusted)"
#: Folder under ``Settings.instance_path`` that holds the development credentials.
DEV_SIGNING_DIRNAME = "dev-signing"
#: Extended key usages C2PA validators accept for claim signing (OID -> name).
C2PA_SIGNING_EKUS = {
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.36": "documentSigning",
    "1.3.6.1.4.1.311.76.59.1.9": "Microsoft C2PA signing",
    "1.3.6.1.4.1.62558.2.1": "C2PA claim signing",
}
#: IPTC digital source type of media made by a trained generative model.
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
#: Soft-binding algorithm name of provenance's invisible watermark.
WATERMARK_ALG = "io.github.provenance.watermark.v1"

_GENERATION_LABEL = "io.github.provenance.generation"
_DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
_CA_DAYS = 20 * 365
_LEAF_DAYS = 2 * 365
#: A development leaf closer than this to expiry is re-issued (same CA).
_LEAF_RENEW_DAYS = 30
_BACKDATE = dt.timedelta(hours=1)  # tolerate small clock skew between machines
_RSA_BITS = 3072
_HEX = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True)
class SigningCredentials:
    """A checked certificate chain and private key, ready for :func:`sign_asset`.

    Attributes
    ----------
    cert_chain_pem : bytes
        Leaf certificate first, then any intermediates (PEM).
    private_key_pem : bytes
        The leaf's private key, unencrypted PKCS#8 PEM. Not shown in ``repr``.
    alg : str
        One of :data:`SUPPORTED_ALGS`.
    tsa_url : str or None
        RFC 3161 time-stamp authority, or None to sign offline.
    is_development : bool
        True for the self-made development CA, which nobody trusts.
    ca_pem : bytes or None
        The development CA root (PEM), to add as a trust anchor when verifying our own
        outputs; None for configured certificates.
    signer_name : str
        The leaf's common name (or organisation), for logs and reports.
    """

    cert_chain_pem: bytes
    private_key_pem: bytes = field(repr=False)
    alg: str
    tsa_url: str | None
    is_development: bool
    ca_pem: bytes | None
    signer_name: str


# ---------------------------------------------------------------------------
# Loading and checking credentials
# ---------------------------------------------------------------------------


def load_credentials(settings: Settings) -> SigningCredentials:
    """Return the signing credentials `settings` describe, making development ones if none.

    Parameters
    ----------
    settings : Settings
        Uses ``signing_cert``, ``signing_key``, ``signing_alg``, ``tsa_url`` and
        ``instance_path``.

    Returns
    -------
    SigningCredentials

    Raises
    ------
    ConfigError
        If only one of certificate and key is set, a file is missing or unreadable, or the
        certificate does not fit the C2PA profile or the algorithm (see
        :func:`check_signing_credentials`).
    """
    alg = _check_alg(settings.signing_alg)
    if (settings.signing_cert is None) != (settings.signing_key is None):
        raise ConfigError("Set both PROVENANCE_SIGNING_CERT and PROVENANCE_SIGNING_KEY, or neither.")
    if settings.signing_cert is None or settings.signing_key is None:
        return _load_dev_credentials(settings.instance_path / DEV_SIGNING_DIRNAME, alg, settings.tsa_url)

    chain_pem = _read_pem_file(settings.signing_cert, "PROVENANCE_SIGNING_CERT", "certificate chain")
    key_pem = _read_pem_file(settings.signing_key, "PROVENANCE_SIGNING_KEY", "private key")
    certs, key = _check(chain_pem, key_pem, alg, where=f" in {settings.signing_cert}")
    logger.info("C2PA signing with %s (%s) from %s", _signer_name(certs[0]), alg, settings.signing_cert)
    return SigningCredentials(
        cert_chain_pem=b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs),
        private_key_pem=_pkcs8(key),
        alg=alg,
        tsa_url=settings.tsa_url,
        is_development=False,
        ca_pem=None,
        signer_name=_signer_name(certs[0]),
    )


def check_signing_credentials(
    cert_chain_pem: bytes, private_key_pem: bytes, alg: str, *, now: dt.datetime | None = None
) -> None:
    """Check a certificate chain and key against the C2PA certificate profile.

    The leaf must not be a CA, must allow ``digitalSignature``, must carry one of the
    :data:`C2PA_SIGNING_EKUS` (and not ``anyExtendedKeyUsage``), must be issued by a CA (with an
    authority key identifier), must be within its validity period, and its key must match
    `private_key_pem` and suit `alg`. Each further certificate must have issued the one before it.

    Raises
    ------
    ConfigError
        Naming the first problem found and how to fix it.
    """
    _check(cert_chain_pem, private_key_pem, _check_alg(alg), now=now)


def _check_alg(alg: str) -> str:
    norm = str(alg).strip().lower()
    if norm not in SUPPORTED_ALGS:
        raise ConfigError(
            f"PROVENANCE_SIGNING_ALG must be one of {', '.join(SUPPORTED_ALGS)}; got {alg!r}."
        )
    return norm


def _read_pem_file(path: Path, variable: str, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{variable} points to {path}, which does not exist; set it to the PEM {what} file.") from None
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path} ({exc.strerror}); check the path and its permissions.") from exc
    if b"-----BEGIN " not in data:
        raise ConfigError(
            f"{variable}: {path} is not a PEM file (no '-----BEGIN' line); convert a DER file with "
            f"`openssl {'x509' if 'cert' in what else 'pkey'} -inform DER -in FILE -out FILE.pem`."
        )
    return data


def _load_chain(chain_pem: bytes, where: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as exc:
        raise ConfigError(
            f"The signing certificate chain{where} is not valid PEM ({exc}); it must hold the leaf "
            "certificate first, then any intermediates, each as -----BEGIN CERTIFICATE-----."
        ) from exc
    if not certs:
        raise ConfigError(f"No certificate found in the signing certificate chain{where}.")
    return certs


def _load_key(key_pem: bytes, where: str) -> object:
    try:
        return serialization.load_pem_private_key(key_pem, password=None)
    except TypeError as exc:  # encrypted key
        raise ConfigError(
            f"The signing key{where} is encrypted; provide it unencrypted (PKCS#8), e.g. "
            "`openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pem`, and protect the file with mode 0600."
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"The signing key{where} is not a readable PEM private key ({exc}).") from exc


def _key_fits_alg(key: object, alg: str) -> str | None:
    """Return what is wrong with `key` for `alg`, or None."""
    if alg in ("es256", "es384"):
        curve = "secp256r1" if alg == "es256" else "secp384r1"
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != curve:
            return f"{alg} needs an EC key on {curve} (P-{curve[4:7]})"
    elif alg == "ps256":
        if not isinstance(key, rsa.RSAPrivateKey):
            return "ps256 needs an RSA key"
        if key.key_size < 2048:
            return f"ps256 needs an RSA key of at least 2048 bits; this one has {key.key_size}"
    elif alg == "ed25519" and not isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519 needs an Ed25519 key"
    return None


def _key_kind(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}"
    if isinstance(key, rsa.RSAPrivateKey):
        return f"RSA {key.key_size}-bit"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "Ed25519"
    return type(key).__name__


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _ext(cert: x509.Certificate, kind: type) -> object | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _check(
    chain_pem: bytes, key_pem: bytes, alg: str, *, where: str = "", now: dt.datetime | None = None
) -> tuple[list[x509.Certificate], object]:
    certs = _load_chain(chain_pem, where)
    key = _load_key(key_pem, where)
    leaf = certs[0]
    now = now or dt.datetime.now(dt.timezone.utc)
    fix = "; issue a new leaf certificate"

    problem = _key_fits_alg(key, alg)
    if problem:
        raise ConfigError(
            f"PROVENANCE_SIGNING_ALG is {alg} but the signing key{where} is {_key_kind(key)}: {problem}. "
            f"Set PROVENANCE_SIGNING_ALG to match the key ({_suggest_alg(key)}) or use a matching key."
        )
    if _spki(leaf.public_key()) != _spki(key.public_key()):  # type: ignore[attr-defined]
        raise ConfigError(
            f"The signing key does not match the first certificate{where} ({leaf.subject.rfc4514_string()}); "
            "PROVENANCE_SIGNING_KEY must be the private key of the leaf, and the leaf must come first in the chain."
        )
    basic = _ext(leaf, x509.BasicConstraints)
    if basic is not None and basic.ca:  # type: ignore[attr-defined]
        raise ConfigError(
            f"The signing certificate{where} is a CA certificate (basicConstraints CA:TRUE); C2PA claims must be "
            "signed by an end-entity (leaf) certificate issued by that CA. Put the leaf first in the chain."
        )
    usage = _ext(leaf, x509.KeyUsage)
    if usage is None or not usage.digital_signature:  # type: ignore[attr-defined]
        raise ConfigError(
            f"The signing certificate{where} does not allow digitalSignature in its keyUsage extension{fix} "
            "with keyUsage = critical, digitalSignature."
        )
    eku = _ext(leaf, x509.ExtendedKeyUsage)
    eku_oids = {oid.dotted_string for oid in eku} if eku is not None else set()  # type: ignore[union-attr]
    wanted = ", ".join(f"{name} ({oid})" for oid, name in C2PA_SIGNING_EKUS.items())
    if not eku_oids:
        raise ConfigError(f"The signing certificate{where} has no extendedKeyUsage extension{fix} with one of: {wanted}.")
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string in eku_oids:
        raise ConfigError(f"The signing certificate{where} has anyExtendedKeyUsage, which C2PA forbids{fix} with one of: {wanted}.")
    if not eku_oids & C2PA_SIGNING_EKUS.keys():
        raise ConfigError(
            f"The signing certificate{where} has extendedKeyUsage {sorted(eku_oids)}, none of which C2PA accepts "
            f"for signing{fix} with one of: {wanted}."
        )
    if leaf.issuer == leaf.subject:
        raise ConfigError(
            f"The signing certificate{where} is self-signed; C2PA needs a leaf issued by a CA. Leave "
            "PROVENANCE_SIGNING_CERT unset to use the development CA, or get a certificate from a C2PA CA."
        )
    if _ext(leaf, x509.AuthorityKeyIdentifier) is None:
        raise ConfigError(f"The signing certificate{where} has no authorityKeyIdentifier extension{fix} that has one.")
    for cert in certs:
        if now < cert.not_valid_before_utc:
            raise ConfigError(
                f"The certificate {cert.subject.rfc4514_string()}{where} is not valid before "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; check the system clock or wait."
            )
        if now > cert.not_valid_after_utc:
            raise ConfigError(
                f"The certificate {cert.subject.rfc4514_string()}{where} expired on "
                f"{cert.not_valid_after_utc:%Y-%m-%d}; renew it and update PROVENANCE_SIGNING_CERT."
            )
    for child, parent in zip(certs, certs[1:]):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise ConfigError(
                f"The certificate chain{where} is out of order or incomplete: {parent.subject.rfc4514_string()} "
                f"did not issue {child.subject.rfc4514_string()}. List the leaf first, then each issuer in turn."
            ) from exc
    return certs, key


def _suggest_alg(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "es256", "secp384r1": "es384"}.get(key.curve.name, "no supported algorithm")
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    return "no supported algorithm"


def _signer_name(cert: x509.Certificate) -> str:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attrs = cert.subject.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)
    return cert.subject.rfc4514_string()


def _pkcs8(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# ---------------------------------------------------------------------------
# Development CA
# ---------------------------------------------------------------------------


def _new_key(alg: str) -> object:
    if alg == "es256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "es384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "ps256":
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    return ed25519.Ed25519PrivateKey.generate()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signing,
        crl_sign=not signing,
        encipher_only=False,
        decipher_only=False,
    )


def _issue_dev_ca(now: dt.datetime) -> tuple[x509.Certificate, object]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("provenance development root")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _issue_dev_leaf(ca_cert: x509.Certificate, ca_key: object, alg: str, now: dt.datetime) -> tuple[x509.Certificate, object]:
    key = _new_key(alg)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"provenance development signer ({alg})"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + dt.timedelta(days=_LEAF_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signing=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, _DOCUMENT_SIGNING]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)  # type: ignore[attr-defined]
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False  # type: ignore[attr-defined]
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return cert, key


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory/.lock`` (all workers of all processes queue here)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(directory / ".lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Write `data` to `path` with `mode`: readers see the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp made it 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_dev_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, object] | None:
    if not (cert_path.is_file() and key_path.is_file()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm, OSError) as exc:
        raise ConfigError(
            f"The development signing files {cert_path.name} / {key_path.name} in {cert_path.parent} are "
            f"unreadable ({exc}); delete that folder and they will be made again."
        ) from exc
    return cert, key


def _load_dev_credentials(directory: Path, alg: str, tsa_url: str | None) -> SigningCredentials:
    now = dt.datetime.now(dt.timezone.utc)
    ca_cert_path, ca_key_path = directory / "ca.pem", directory / "ca-key.pem"
    leaf_path, leaf_key_path = directory / f"{alg}.pem", directory / f"{alg}-key.pem"
    try:
        with _locked(directory):
            ca = _read_dev_pair(ca_cert_path, ca_key_path)
            if ca is None or ca[0].not_valid_after_utc <= now + dt.timedelta(days=_LEAF_RENEW_DAYS):
                started = time.perf_counter()
                ca = _issue_dev_ca(now)
                _write_atomic(ca_key_path, _pkcs8(ca[1]), mode=0o600)
                _write_atomic(ca_cert_path, ca[0].public_bytes(serialization.Encoding.PEM), mode=0o644)
                for stale in directory.glob("*.pem"):  # leaves of a previous CA
                    if stale.name not in ("ca.pem", "ca-key.pem"):
                        stale.unlink()
                logger.warning(
                    "Made a development C2PA CA in %s (%.2f s). Its signatures are not trusted anywhere; "
                    "set PROVENANCE_SIGNING_CERT and PROVENANCE_SIGNING_KEY for production.",
                    directory, time.perf_counter() - started,
                )
            ca_cert, ca_key = ca
            leaf = _read_dev_pair(leaf_path, leaf_key_path)
            if leaf is None or not _dev_leaf_usable(leaf[0], ca_cert, now):
                leaf = _issue_dev_leaf(ca_cert, ca_key, alg, now)
                _write_atomic(leaf_key_path, _pkcs8(leaf[1]), mode=0o600)
                _write_atomic(leaf_path, leaf[0].public_bytes(serialization.Encoding.PEM), mode=0o644)
                logger.info("Issued a development %s signing certificate in %s", alg, directory)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the development signing credentials in {directory} ({exc.strerror}); make "
            "PROVENANCE_INSTANCE_PATH writable, or set PROVENANCE_SIGNING_CERT and PROVENANCE_SIGNING_KEY."
        ) from exc
    leaf_cert, leaf_key = leaf
    chain_pem = leaf_cert.public_bytes(serialization.Encoding.PEM)
    key_pem = _pkcs8(leaf_key)
    _check(chain_pem, key_pem, alg, where=f" in {directory}", now=now)
    return SigningCredentials(
        cert_chain_pem=chain_pem,
        private_key_pem=key_pem,
        alg=alg,
        tsa_url=tsa_url,
        is_development=True,
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        signer_name=_signer_name(leaf_cert),
    )


def _dev_leaf_usable(leaf: x509.Certificate, ca_cert: x509.Certificate, now: dt.datetime) -> bool:
    if leaf.not_valid_after_utc <= now + dt.timedelta(days=_LEAF_RENEW_DAYS):
        return False
    try:
        leaf.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# ---------------------------------------------------------------------------
# Manifest and signing
# ---------------------------------------------------------------------------


@cache
def _version() -> str:
    try:
        return metadata.version("media-provenance")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def _check_hex(value: str, name: str) -> str:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise InvalidInputError(f"{name} must be a hexadecimal string such as '5f3a09c2'; got {value!r}.")
    return value.lower()


def ai_generated_manifest(
    *,
    generator: str,
    watermark_id: str,
    watermark_alg: str = WATERMARK_ALG,
    prompt_hash: str | None = None,
    title: str | None = None,
) -> dict:
    """Return the C2PA manifest definition for an AI-generated, watermarked image.

    Parameters
    ----------
    generator : str
        The model or service that made the image (the ``softwareAgent`` of ``c2pa.created``).
    watermark_id : str
        The watermark payload ID, in hex; stored as the ``c2pa.soft-binding`` value.
    watermark_alg : str
        Soft-binding algorithm name.
    prompt_hash : str, optional
        Hex digest of the prompt (never the prompt itself), stored in an
        ``io.github.provenance.generation`` assertion.
    title : str, optional
        Manifest title, e.g. the file name.

    Returns
    -------
    dict
        A fresh manifest definition for :func:`sign_asset`.

    Raises
    ------
    InvalidInputError
        If `generator` or `watermark_alg` is empty, or an ID or hash is not hex.
    """
    if not isinstance(generator, str) or not generator.strip():
        raise InvalidInputError("generator must name the model or service that made the image, e.g. 'my-model 2.1'.")
    if not isinstance(watermark_alg, str) or not watermark_alg.strip():
        raise InvalidInputError(f"watermark_alg must be a soft-binding algorithm name such as {WATERMARK_ALG!r}.")
    value = _check_hex(watermark_id, "watermark_id")
    assertions: list[dict] = [
        {
            "label": "c2pa.actions.v2",
            "data": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                        "softwareAgent": {"name": generator.strip()},
                    },
                    {"action": "c2pa.watermarked", "softwareAgent": {"name": "provenance", "version": _version()}},
                ]
            },
        },
        {
            "label": "c2pa.soft-binding",
            "data": {"alg": watermark_alg.strip(), "blocks": [{"scope": {}, "value": value}]},
        },
    ]
    if prompt_hash is not None:
        assertions.append(
            {"label": _GENERATION_LABEL, "data": {"prompt_hash": _check_hex(prompt_hash, "prompt_hash")}}
        )
    manifest: dict = {
        "claim_generator_info": [{"name": "provenance", "version": _version()}],
        "assertions": assertions,
    }
    if title:
        manifest["title"] = str(title)
    return manifest


@cache
def _signable_mime_types() -> frozenset[str]:
    return frozenset(m.lower() for m in c2pa.Builder.get_supported_mime_types() if "/" in m)


def _context_settings(*, thumbnail: bool) -> dict:
    return {"builder": {"thumbnail": {"enabled": bool(thumbnail)}}}


def sign_asset(
    data: bytes,
    mime: str,
    manifest: dict,
    credentials: SigningCredentials,
    *,
    thumbnail: bool = False,
) -> bytes:
    """Embed a signed C2PA manifest in a file and return the whole signed file.

    Parameters
    ----------
    data : bytes
        The complete file (PNG, JPEG, WebP, TIFF, AVIF, HEIC, GIF, ... as c2pa-rs supports).
    mime : str
        Its media type, e.g. ``"image/png"``.
    manifest : dict
        A manifest definition, e.g. from :func:`ai_generated_manifest`.
    credentials : SigningCredentials
        From :func:`load_credentials`.
    thumbnail : bool
        Also embed a claim thumbnail. Off by default: it costs ~0.1-0.2 s per 1024x1024 image and
        can add more bytes than the manifest itself.

    Returns
    -------
    bytes
        The signed file, same format as `data`.

    Raises
    ------
    InvalidInputError
        If `data` is empty, `mime` is not signable, or `manifest` is not a dict.
    SigningError
        If the signer fails (key and certificate do not match, a signing service fails): a
        server fault; :class:`TimestampAuthorityError` when the time-stamp authority is down.
    ManifestError
        If c2pa rejects the manifest or the file.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise InvalidInputError("data must be the non-empty bytes of the file to sign.")
    mime_norm = str(mime).strip().lower()
    if mime_norm not in _signable_mime_types():
        images = sorted(m for m in _signable_mime_types() if m.startswith("image/"))
        raise InvalidInputError(f"Cannot sign {mime!r} files; supported image types: {', '.join(images)}.")
    if not isinstance(manifest, dict):
        raise InvalidInputError("manifest must be a dict, e.g. from provenance.signing.ai_generated_manifest().")
    started = time.perf_counter()
    out = io.BytesIO()
    try:
        info = c2pa.C2paSignerInfo(
            credentials.alg, credentials.cert_chain_pem, credentials.private_key_pem, credentials.tsa_url
        )
        with c2pa.Signer.from_info(info) as signer:
            with c2pa.Context.from_dict(_context_settings(thumbnail=thumbnail)) as context:
                with c2pa.Builder(manifest, context) as builder:
                    builder.sign(signer, mime_norm, io.BytesIO(bytes(data)), out)
    except c2pa.C2paError.Signature as exc:  # the signer failed, not the file: a server fault
        if credentials.tsa_url and _signs_without_tsa(data, mime_norm, manifest, credentials):
            raise TimestampAuthorityError(
                f"C2PA signing failed: the time-stamp authority {credentials.tsa_url} did not answer ({exc}); "
                "retry later, or check PROVENANCE_TSA_URL (unset it to sign without a time-stamp)."
            ) from exc
        raise SigningError(
            f"C2PA signing failed on the server ({exc}); check PROVENANCE_SIGNING_CERT, PROVENANCE_SIGNING_KEY "
            "and PROVENANCE_SIGNING_ALG (the key must match the certificate)."
        ) from exc
    except c2pa.C2paError as exc:
        raise ManifestError(_explain(exc, mime_norm, credentials)) from exc
    signed = out.getvalue()
    logger.debug(
        "Signed %s (%d -> %d bytes) as %s in %.1f ms",
        mime_norm, len(data), len(signed), credentials.signer_name, 1000 * (time.perf_counter() - started),
    )
    return signed


def _signs_without_tsa(data: bytes, mime: str, manifest: dict, credentials: SigningCredentials) -> bool:
    """Whether signing succeeds once the time-stamp authority is left out (then it was the TSA that failed)."""
    info = c2pa.C2paSignerInfo(credentials.alg, credentials.cert_chain_pem, credentials.private_key_pem, None)
    try:
        with c2pa.Signer.from_info(info) as signer, c2pa.Context.from_dict(_context_settings(thumbnail=False)) as context:
            with c2pa.Builder(manifest, context) as builder:
                builder.sign(signer, mime, io.BytesIO(bytes(data)), io.BytesIO())
    except c2pa.C2paError:
        return False
    return True


def _explain(exc: c2pa.C2paError, mime: str, credentials: SigningCredentials) -> str:
    """Say what failed, from the type of c2pa's error (its subclasses of ``C2paError``)."""
    text = str(exc) or type(exc).__name__
    errors = c2pa.C2paError
    if isinstance(exc, errors.Signature):
        hint = "check PROVENANCE_SIGNING_CERT, PROVENANCE_SIGNING_KEY and PROVENANCE_SIGNING_ALG"
    elif isinstance(exc, (errors.Json, errors.Manifest, errors.Assertion, errors.AssertionNotFound, errors.Encoding)):
        hint = "the manifest definition is invalid"
    elif isinstance(exc, (errors.Io, errors.NotSupported, errors.Decoding)):
        hint = f"check that the data really is a complete {mime} file"
    else:  # C2paError.Other: c2pa-python 0.38 gives unparsable assets, key mismatches and TSA failures no type
        hint = (f"check that the data really is a complete {mime} file, and PROVENANCE_SIGNING_CERT, "
                "PROVENANCE_SIGNING_KEY and PROVENANCE_SIGNING_ALG")
        if credentials.tsa_url:
            hint += f"; if the time-stamp authority {credentials.tsa_url} failed, check PROVENANCE_TSA_URL or unset it"
    return f"C2PA signing failed ({text}); {hint}."
