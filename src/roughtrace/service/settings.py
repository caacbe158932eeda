"""The HTTP service's settings (area `service`)."""

from __future__ import annotations

from typing import Any

from ..settings import Setting


def _positive(value: Any) -> int:
    if int(value) < 1:
        raise ValueError("a whole number of at least 1")
    return int(value)


UPLOAD_MAX_BYTES = Setting(
    "upload_max_bytes", 1073741824,
    "The largest file the service accepts in one upload, in bytes; a larger body is refused (413) and nothing of it kept.",
    "service", _positive)
SPOOL_FOLDER = Setting(
    "service_spool", "",
    "Where the service keeps uploaded files until they are imported (a folder per job, removed once it is done). Empty: "
    "roughtrace/spool in $XDG_STATE_HOME (~/.local/state). Queued uploads found there are imported when the service "
    "starts again.",
    "service")
READERS = Setting(
    "service_readers", 4,
    "Connections the service reads the store with, each answering one request at a time; imports write on one more.",
    "service", _positive)



def _not_negative(value: Any) -> int:
    if int(value) < 0:
        raise ValueError("a whole number, 0 or more")
    return int(value)


WORKERS = Setting(
    "service_workers", 0,
    "Processes serving requests, each with its own connections (service_readers of them) and caches; one of them "
    "at a time runs the imports. 0: one per core of the machine.",
    "service", _not_negative)
TOKEN_CACHE_SECONDS = Setting(
    "service_token_cache_seconds", 30,
    "How long a serving process trusts the account it found behind a token before reading it again, never past the "
    "account's expiry; a revocation anywhere is seen at the caller's next request (each request reads the store's "
    "newest revocation). 0: every request reads its account.",
    "service", _not_negative)
ANSWER_CACHE_ENTRIES = Setting(
    "service_answer_cache_entries", 20000,
    "Answers of stone provenance and quote requests a serving process keeps, each for callers of one role, party "
    "and country, and only while the store is as it was read (no import, price build, settings change since). "
    "0: none kept.",
    "service", _not_negative)

DASHBOARD_PAGE_ROWS = Setting(
    "dashboard_page_rows", 100,
    "Rows the dashboard shows on one page of a long list (a sightholder's boxes, the KP certificates), newest "
    "first; the list's filters narrow it and its pages go back.",
    "service", _positive)

SETTINGS: tuple[Setting, ...] = (UPLOAD_MAX_BYTES, SPOOL_FOLDER, READERS, WORKERS, TOKEN_CACHE_SECONDS,
                                 ANSWER_CACHE_ENTRIES, DASHBOARD_PAGE_ROWS)
