"""Error types. A :class:`UserError` is a mistake the user can fix: the CLI prints its
message on one line and exits with code 2, without a traceback."""

from __future__ import annotations


class GenMetricsError(Exception):
    """Base class of every error raised on purpose by genmetrics."""


class UserError(GenMetricsError):
    """Bad input or a bad option: one clear line, exit code 2."""

    exit_code = 2


class MissingWeightsError(UserError):
    """A weights file is not in the cache and cannot be downloaded (offline or no network)."""


class WeightsHashError(UserError):
    """A weights file does not match its pinned sha256."""


class ImageDecodeError(GenMetricsError):
    """One image could not be read; carries the path so it can be reported and skipped."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
