"""One :class:`Verifier`, :class:`Stamper`, :class:`Banks` and :class:`TokenStore` per worker process.

They hold keys, trust settings and a registry connection pool, so they are made once, on
first use (after the production server has forked its workers: a database pool must not
cross a fork), and reused for every request. A process that finds objects made by its
parent (``os.fork`` after first use) makes its own.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from flask import Flask, current_app

from provenance import Banks, Registry, Settings, Stamper, TokenStore, Verifier

__all__ = ["Services", "init_app", "get_services"]

_EXTENSION = "provenance_services"


class Services:
    """The per-process objects, made lazily under a lock.

    Parameters
    ----------
    settings : Settings
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._objects: dict[str, Any] = {}

    def _get(self, name: str) -> Any:
        with self._lock:
            if self._pid != os.getpid():  # first use, or inherited across a fork
                self._objects = {}
                self._pid = os.getpid()
            if name not in self._objects:
                if "registry" not in self._objects:
                    self._objects["registry"] = Registry.open(self.settings)
                registry = self._objects["registry"]
                if name in ("banks", "verifier") and "banks" not in self._objects:  # one loaded index, shared
                    self._objects["banks"] = Banks(
                        registry, max_import_rows=self.settings.bank_max_import_rows,
                        video_query_percent=self.settings.video_bank_query_percent,
                        video_compared_percent=self.settings.video_bank_compared_percent)
                if name == "verifier":
                    self._objects[name] = Verifier(self.settings, registry=registry, banks=self._objects["banks"])
                elif name == "stamper":
                    self._objects[name] = Stamper(self.settings, registry=registry)
                elif name == "tokens":
                    self._objects[name] = TokenStore(registry)
            return self._objects[name]

    @property
    def registry(self) -> Registry:
        """The registry (opened on first use)."""
        return self._get("registry")

    @property
    def verifier(self) -> Verifier:
        """The verifier (keys, trust, registry)."""
        return self._get("verifier")

    @property
    def stamper(self) -> Stamper:
        """The stamper (keys, signing credentials, registry)."""
        return self._get("stamper")

    @property
    def banks(self) -> Banks:
        """The hash banks (their PDQ hashes are loaded on the first match; the verifier shares them)."""
        return self._get("banks")

    @property
    def tokens(self) -> TokenStore:
        """API tokens in the registry."""
        return self._get("tokens")

    def close(self) -> None:
        """Close the registry of this process (idempotent)."""
        with self._lock:
            registry = self._objects.get("registry") if self._pid == os.getpid() else None
            self._objects = {}
            if registry is not None:
                registry.close()


def init_app(app: Flask) -> None:
    """Attach a :class:`Services` for `app`'s settings."""
    app.extensions[_EXTENSION] = Services(app.config["PROVENANCE_SETTINGS"])


def get_services() -> Services:
    """The current app's :class:`Services`."""
    return current_app.extensions[_EXTENSION]
