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

SETTINGS: tuple[Setting, ...] = (UPLOAD_MAX_BYTES, SPOOL_FOLDER, READERS)
