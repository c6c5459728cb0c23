"""Access to the Hugging Face hub for model files, with failures as one ``error:`` line.

- Ids are checked by the hub's own rules first (:func:`is_hf_id`), so ``owner/..`` never
  reaches a URL.
- Before any download, one request without retries (:func:`probe_hub`) tells a hub that cannot
  be reached (no network, DNS, proxy, timeout) from an unknown, private or gated repository;
  the network case says how to run offline (``--offline`` / ``HF_HUB_OFFLINE=1``) instead of
  logging minutes of retries and then blaming the id.
- huggingface_hub's retry log lines are silenced while we call it (:func:`quiet_hub`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path

from genmetrics.errors import UserError

__all__ = [
    "ID_RULE",
    "NETWORK_HINT",
    "hub_file",
    "is_hf_id",
    "network_error",
    "probe_hub",
    "quiet_hub",
    "unreachable_error",
]

_HF_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
_HF_ID = re.compile(rf"^{_HF_PART}/{_HF_PART}$")
ID_RULE = (
    "a Hugging Face id is owner/name: letters, digits, '_', '-' and '.', at most 96 per part, "
    "not starting or ending with '-' or '.', without '--' or '..'"
)


def is_hf_id(name: str) -> bool:
    """``owner/name`` by the hub's own rules (so that ``owner/..`` never reaches a URL)."""
    return bool(_HF_ID.match(name)) and "--" not in name and ".." not in name and not name.endswith(".git")


NETWORK_HINT = (
    "run offline from the Hugging Face cache with --offline (or HF_HUB_OFFLINE=1) once the "
    "model was downloaded, download it on a machine with network (huggingface-cli download "
    "ID) or pass a local folder"
)


@contextlib.contextmanager
def quiet_hub() -> Iterator[None]:
    """Silence huggingface_hub's retry log lines: a failure becomes one ``error:`` line."""
    loggers = [logging.getLogger(n) for n in ("huggingface_hub", "huggingface_hub.utils._http")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def network_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the hub could not be reached."""
    seen = 0
    while exc is not None and seen < 8:
        name = type(exc).__name__
        if name in ("ConnectError", "ConnectTimeout", "ReadTimeout", "TimeoutException", "ProxyError",
                    "NetworkError", "ConnectionError", "OfflineModeIsEnabled") or isinstance(
                        exc, (ConnectionError, TimeoutError, socket.gaierror)):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1  # type: ignore[assignment]
    return False


def probe_hub(repo: str, revision: str | None) -> str | None:
    """One request, without retries, before any download: an unknown or gated repository is
    one ``error:`` line; a hub that cannot be reached returns the reason (the caller then
    uses the Hugging Face cache, as huggingface_hub itself would, and says it is the network
    when the files are not there), instead of minutes of logged retries. ``None``: reachable."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        with quiet_hub():
            get_hf_file_metadata(hf_hub_url(repo, "config.json", revision=revision), timeout=10)
    except (EntryNotFoundError, RevisionNotFoundError):
        return None  # reported by the download, with the file's name
    except GatedRepoError:
        raise UserError(
            f"{repo}: this repository is gated; accept its terms on huggingface.co and log in "
            "(hf auth login), or pass a local folder"
        ) from None
    except RepositoryNotFoundError:
        raise UserError(
            f"{repo}: no such repository on the Hugging Face hub (or it is private: log in with "
            "hf auth login); check the id"
        ) from None
    except HfHubHTTPError as exc:
        return _reason(exc) if network_error(exc) else None  # e.g. a 5xx: the download retries
    except Exception as exc:  # noqa: BLE001 - httpx / socket errors: the network is down
        if network_error(exc) or isinstance(exc, OSError):
            return _reason(exc)
        raise
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def unreachable_error(repo: str, reason: str) -> UserError:
    """The hub cannot be reached and the files are not in the Hugging Face cache."""
    return UserError(
        f"{repo}: the Hugging Face hub cannot be reached (network: {reason}) and the model is "
        f"not in the Hugging Face cache; {NETWORK_HINT}"
    )


def _offline_error(repo: str, exc: BaseException) -> UserError:
    return unreachable_error(repo, _reason(exc))


def hub_file(repo: str, filename: str, revision: str | None, offline: bool) -> Path | None:
    """A file of ``repo`` from the HF cache (downloaded unless offline); None when the
    repository has no such file."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        with quiet_hub():
            return Path(
                hf_hub_download(repo, filename, revision=revision, local_files_only=offline)
            )
    except LocalEntryNotFoundError as exc:  # before EntryNotFoundError: it is a subclass
        if offline:
            return None
        if network_error(exc):
            raise _offline_error(repo, exc) from None
        raise UserError(
            f"{repo}: {filename} is not in the Hugging Face cache and cannot be downloaded "
            f"({type(exc).__name__}); {NETWORK_HINT}"
        ) from None
    except EntryNotFoundError:
        return None
    except ValueError:  # the hub's id validation
        raise UserError(f"'{repo}' is not a valid Hugging Face id ({ID_RULE})") from None
    except OSError as exc:  # network errors, permissions
        raise UserError(f"{repo}: cannot fetch {filename} from the Hugging Face hub ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - httpx errors the hub lets through
        if network_error(exc):
            raise _offline_error(repo, exc) from None
        raise
