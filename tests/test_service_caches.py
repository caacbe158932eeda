"""The serving processes' caches and `serve --workers`: a revoked token is refused within the time
the setting states (at the next request, in fact); two parties never share a cached answer; an
import drops the answers cached before it; two processes serve one store and only one imports."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import PG_URL
from roughtrace.app import Actor, Context
from roughtrace.app.accounts import add_account, revoke_account
from roughtrace.service.caches import AnswerCache, SignedInCache, StoreState
from roughtrace.settings import Settings
from roughtrace.store import open_store
from service_support import Server, job_done, market_schema, start_server

OUTCOMES_HEADER = "stone_id,lab,sightholder_id,box_id,rough_stone_id,rough_carats,polished_date,shape,carat,color,clarity,cut\n"
TOKEN_SECONDS = 30


# -- the caches on their own ---------------------------------------------------------------------------
STATE = StoreState(7, "2024-12-01T00:00:00", 1, 0)
SH_A = Actor("a-desk", "sightholder", "SH-A", "acct_a")
SH_B = Actor("b-desk", "sightholder", "SH-B", "acct_b")


def test_a_signed_in_account_is_trusted_until_a_revocation_its_time_or_its_expiry() -> None:
    held = SignedInCache(TOKEN_SECONDS)
    held.put("h", SH_A, None, STATE)
    assert held.get("h", STATE) == SH_A
    assert held.get("h", StoreState(7, "2024-12-01T00:00:00", 1, 1)) is None  # a revocation anywhere
    held.put("h", SH_A, None, STATE)
    held.forget_account("acct_a")
    assert held.get("h", STATE) is None
    soon = SignedInCache(0.05)
    soon.put("h", SH_A, None, STATE)
    time.sleep(0.1)
    assert soon.get("h", STATE) is None
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    held.put("h", SH_A, past, STATE)
    assert held.get("h", STATE) is None
    assert SignedInCache(0).get("h", STATE) is None


def test_an_answer_is_kept_for_one_visibility_and_one_store_state() -> None:
    answers = AnswerCache(100)
    asked = ("/v1/stones/GIA/1/provenance", b"")
    answers.put(answers.key(STATE, SH_A, "provenance", asked), 200, b"a's answer")
    assert answers.get(answers.key(STATE, SH_A, "provenance", asked)) == (200, b"a's answer")
    assert answers.get(answers.key(STATE, SH_B, "provenance", asked)) is None
    assert answers.get(answers.key(STATE, Actor("a-other", "sightholder", "SH-A", "acct_c"), "provenance",
                                   asked)) == (200, b"a's answer")  # the same party's other account sees the same
    assert answers.get(answers.key(STATE, Actor("r", "retailer", "SH-A"), "provenance", asked)) is None
    imported = StoreState(8, "2024-12-01T00:00:00", 1, 0)
    assert answers.get(answers.key(imported, SH_A, "provenance", asked)) is None
    answers.put(answers.key(imported, SH_A, "provenance", asked), 200, b"after")
    assert len(answers) == 1  # the answers of the older state are gone
    assert answers.key(None, SH_A, "provenance", asked) is None and AnswerCache(0).key(STATE, SH_A, "p", asked) is None


def test_concurrent_asks_of_one_answer_compute_it_once_and_another_visibility_its_own() -> None:
    import asyncio
    from types import SimpleNamespace

    from roughtrace.accounts.tokens import token_hash
    from roughtrace.service.caches import AnsweredBefore

    computed: list[str] = []

    async def routes(scope: dict[str, Any], receive: Any, send: Any) -> None:
        actor = SH_A if scope["headers"][0][1].endswith(b"a") else SH_B
        computed.append(actor.party)
        await asyncio.sleep(0.05)
        scope["state"]["actor"] = actor
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": actor.party.encode()})

    async def store_state() -> StoreState:
        return STATE

    service = SimpleNamespace(answers=AnswerCache(10), signed_in=SignedInCache(TOKEN_SECONDS), store_state=store_state)
    service.signed_in.put(token_hash("token-a"), SH_A, None, STATE)
    service.signed_in.put(token_hash("token-b"), SH_B, None, STATE)
    middleware = AnsweredBefore(routes)

    async def ask(token: str) -> bytes:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await middleware({"type": "http", "method": "GET", "path": "/v1/prices/quote", "query_string": b"shape=round",
                          "headers": [(b"authorization", f"Bearer {token}".encode())],
                          "app": SimpleNamespace(state=service)}, None, send)
        return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")

    async def crowd() -> list[bytes]:
        return await asyncio.gather(*(ask("token-a") for _ in range(5)), *(ask("token-b") for _ in range(3)))

    answers = asyncio.run(crowd())
    assert answers == [b"SH-A"] * 5 + [b"SH-B"] * 3
    assert sorted(computed) == ["SH-A", "SH-B"]


# -- served for real, by two processes -----------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any], str]]:
    if not PG_URL:
        pytest.skip("no PostgreSQL: set ROUGHTRACE_TEST_PG")
    folder = tmp_path_factory.mktemp("cached")
    with market_schema(PG_URL, folder) as (store, url):
        stones = store.rows("""SELECT o.sightholder_id, o.lab, o.stone_id, o.box_id FROM polished_outcomes o
                               JOIN rough_sales r ON r.box_id = o.box_id AND r.buyer_id = o.sightholder_id
                               WHERE o.lab <> 'none' ORDER BY o.sightholder_id, o.stone_id""")
        a = stones[0]
        b = next(s for s in stones if s["sightholder_id"] != a["sightholder_id"])
        context = Context(store, Settings())
        tokens = {name: add_account(context, name, role, party).token for name, role, party in (
            ("admin", "admin", None), ("sh_a", "sightholder", a["sightholder_id"]),
            ("sh_b", "sightholder", b["sightholder_id"]), ("retailer", "retailer", "RT-001"))}
        server = start_server(url, folder, ledger_key_file=str(folder / "ledger-key.pem"), service_workers="2",
                              service_token_cache_seconds=str(TOKEN_SECONDS))
        server.tokens = tokens
        try:
            yield server, {"a": a, "b": b}, url
        finally:
            server.stop()


def _get(server: Server, who: str, path: str) -> httpx.Response:
    """A request on a connection of its own (so that either process may answer it)."""
    with server.client(who) as client:
        return client.get(path)


def test_two_processes_serve_and_only_one_imports(served):
    server, stones, _ = served
    for _ in range(40):
        assert _get(server, "admin", "/v1/me").status_code == 200
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
    assert len({line["process"] for line in lines if line.get("path") == "/v1/me"}) == 2
    assert sum(1 for line in lines if "import_worker" in line) == 1
    a = stones["a"]
    jobs = []
    for number in range(4):  # sent to either process; the one that imports runs them all
        body = OUTCOMES_HEADER + f"W{uuid.uuid4().hex[:10]}{number},none,{a['sightholder_id']},{a['box_id']},,,2030-01-01," \
                                 "round,0.500,G,VS1,EX\n"
        with server.client("sh_a") as client:
            sent = client.post("/v1/imports/polished_outcomes", params={"file_name": f"w{number}.csv"}, content=body)
            assert sent.status_code == 202, sent.text
            jobs.append(sent.json()["job"]["job_id"])
    with server.client("sh_a") as client:
        assert all(job_done(client, job)["state"] == "done" for job in jobs)


def test_a_revoked_token_is_refused_within_the_stated_time(served):
    server, stones, url = served
    store = open_store(url)
    try:
        token = add_account(Context(store, Settings()), f"brief-{uuid.uuid4().hex[:6]}", "sightholder",
                            stones["a"]["sightholder_id"]).token
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(6):  # both processes hold the account
            assert httpx.get(f"{server.url}/v1/me", headers=headers).status_code == 200
        revoke_account(Context(store, Settings()), token_owner(store, token))
        revoked = time.monotonic()
        while httpx.get(f"{server.url}/v1/me", headers=headers).status_code == 200:
            assert time.monotonic() - revoked < TOKEN_SECONDS, "a revoked token still served past the cache time"
            time.sleep(0.1)
        for _ in range(6):
            assert httpx.get(f"{server.url}/v1/me", headers=headers).status_code == 401
    finally:
        store.close()


def token_owner(store: Any, token: str) -> str:
    from roughtrace.accounts.tokens import token_hash

    return store.rows("SELECT name FROM accounts WHERE token_sha256 = ?", (token_hash(token),))[0]["name"]


def test_two_parties_never_share_a_cached_answer(served):
    server, stones, _ = served
    a = stones["a"]
    path = f"/v1/stones/{a['lab']}/{a['stone_id']}/provenance"
    for _ in range(3):  # the second and later asks of each are answered from the caches of both processes
        whole = _get(server, "admin", path)
        own = _get(server, "sh_a", path)
        other = _get(server, "sh_b", path)
        public = _get(server, "retailer", path)
        assert whole.status_code == own.status_code == public.status_code == 200
        assert other.status_code == 404 and other.json()["errors"][0]["code"] == "stone_not_found"
        assert "seller_id" in whole.text and "seller_id" not in own.text and "seller_id" not in public.text
        assert a["sightholder_id"] in own.text and a["sightholder_id"] not in public.text
    quote = {"shape": "round", "carat": "1.01", "color": "G", "clarity": "VS1"}
    with server.client("sh_a") as client, server.client("sh_b") as other_client:
        assert client.get("/v1/prices/quote", params=quote).json() == other_client.get("/v1/prices/quote",
                                                                                         params=quote).json()


def test_an_import_drops_the_answers_cached_before_it(served):
    server, stones, _ = served
    a = stones["a"]
    report = f"C{uuid.uuid4().hex[:10]}"
    path = f"/v1/stones/GIA/{report}/provenance"
    for _ in range(4):
        assert _get(server, "sh_a", path).status_code == 404
    body = OUTCOMES_HEADER + f"{report},GIA,{a['sightholder_id']},{a['box_id']},,,2030-01-01,round,0.500,G,VS1,EX\n"
    with server.client("sh_a") as client:
        sent = client.post("/v1/imports/polished_outcomes", params={"file_name": "new.csv"}, content=body)
        job = job_done(client, sent.json()["job"]["job_id"])
        assert job["state"] == "done"
    assert _actor(json.loads(job["receipt"]["entry"])) == "sh_a"  # the account's name, as decisions record it
    for _ in range(4):  # whichever process answers
        found = _get(server, "sh_a", path)
        assert found.status_code == 200, found.text
        assert found.json()["provenance"]["stone_id"] == report


def _actor(entry: Any) -> Any:
    """The `actor` a ledger entry records, wherever in it."""
    if isinstance(entry, dict):
        if "actor" in entry:
            return entry["actor"]
        return next((found for value in entry.values() if (found := _actor(value)) is not None), None)
    return None
