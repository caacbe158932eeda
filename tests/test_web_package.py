"""The dashboard as shipped: its templates and static files are package data of the wheel, the
templates escape what they show, nothing loads from another site, and its modules reach the store
only through the use cases (no SQL, no store calls, no ledger writes)."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest

from roughtrace import web
from roughtrace.web import views
from test_use_cases import interface_trespasses

ROOT = Path(__file__).resolve().parent.parent
WEB = Path(web.__file__).parent


def _package_data() -> dict[str, list[str]]:
    """setup.py's package_data, read from its source."""
    for node in ast.walk(ast.parse((ROOT / "setup.py").read_text())):
        if isinstance(node, ast.keyword) and node.arg == "package_data":
            return ast.literal_eval(node.value)
    return {}


def test_every_template_and_static_file_is_package_data() -> None:
    patterns = _package_data()["roughtrace.web"]
    shipped = [p.relative_to(WEB).as_posix() for p in WEB.rglob("*") if p.is_file() and p.suffix in (".html", ".css", ".js")]
    assert shipped and all(any(fnmatch.fnmatch(name, pattern) for pattern in patterns) for name in shipped), shipped
    assert sorted(p.name for p in (WEB / "static").iterdir()) == sorted(views.STATIC)


def test_nothing_is_loaded_from_another_site() -> None:
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("static/*")]:
        text = path.read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), path.name
        assert "@import" not in text and "url(http" not in text and "fonts.googleapis" not in text, path.name


def test_templates_escape_what_they_show() -> None:
    page = views.environment().get_template("sightholders.html").render(
        title="Sightholders", actor=None, nav=(), csrf=None, current="/sightholders", risk=None, category=None,
        sight=None, categories=[], rows=[{"sightholder_id": "SH-1", "name": "<script>alert(1)</script>",
                                          "category": "dealer", "risk": "low", "score": 0, "findings": []}])
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("module", sorted(p.name for p in WEB.glob("*.py")))
def test_no_dashboard_module_touches_sql_or_writes_the_ledger(module: str) -> None:
    assert interface_trespasses((WEB / module).read_text(encoding="utf-8")) == []


def test_a_session_is_sealed_accepted_by_every_process_and_ends_with_its_lifetime_or_sign_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from roughtrace.web import sessions as kept

    key = bytes(range(32))
    held, other_process = kept.Sessions(key), kept.Sessions(key)
    session_id, session = held.open("acct_1")
    found = other_process.find(session_id)
    assert found is not None and found.account_id == "acct_1" and found.csrf == session.csrf
    assert held.find("another") is None and held.find(None) is None
    assert kept.Sessions(bytes(32)).find(session_id) is None  # another key
    body, seal = session_id.rsplit(".", 1)
    forged = kept.base64.urlsafe_b64encode(b"acct_2" + kept.base64.urlsafe_b64decode(body)[6:]).decode()
    assert held.find(f"{forged}.{seal}") is None  # another account under the same seal
    assert kept.same_token(session.csrf, session.csrf) and not kept.same_token(None, session.csrf)
    assert not kept.same_token("x" + session.csrf, session.csrf)
    assert held.open("acct_1")[1].csrf != session.csrf
    now = kept.time.time()
    monkeypatch.setattr(kept.time, "time", lambda: now + kept.LIFETIME_SECONDS + 1)
    assert held.find(session_id) is None
    monkeypatch.undo()
    signed_out, _ = held.open("acct_2")
    held.close(signed_out)
    assert held.find(signed_out) is None


@pytest.mark.parametrize(("asked", "kept"), [("/overview", "/overview"), ("//evil.example", "/"),
                                              ("/\\evil.example", "/"), ("https://evil.example/", "/")])
def test_after_signing_in_a_browser_goes_only_to_this_sites_own_pages(asked: str, kept: str) -> None:
    from roughtrace.web.pages import _local

    assert _local(asked) == kept
