"""`roughtrace serve` started for real on the test PostgreSQL schema and called over HTTP: every
route's happy path, the two-party matrix (no identifier-bearing route gives one sightholder, KP
authority or retailer anything of another's), tokens expired and revoked, and errors in the one
shape, never a traceback."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PG_URL
from roughtrace.app import Context
from roughtrace.app.accounts import revoke_account
from roughtrace.settings import Settings
from roughtrace.store import open_store
from service_support import Server, job_done, make_accounts, market_schema, start_server

pytestmark = pytest.mark.postgres

OUTCOMES_HEADER = "stone_id,lab,sightholder_id,box_id,rough_stone_id,rough_carats,polished_date,shape,carat,color,clarity,cut\n"


def _pick(store: Any) -> dict[str, Any]:
    """Two sightholders of one producer, each with findings, a box and a lab-graded stone; a
    certificate of one KP country and not of another."""
    from roughtrace.checks.verify import run_checks

    findings = run_checks(store, Settings())
    with_findings: dict[str, list[Any]] = {}
    for finding in findings:
        if finding.box_id:
            with_findings.setdefault(finding.sightholder_id, []).append(finding)
    graded = store.rows("""SELECT o.sightholder_id, o.lab, o.stone_id, o.box_id, r.seller_id
                           FROM polished_outcomes o JOIN rough_sales r ON r.box_id = o.box_id AND r.buyer_id = o.sightholder_id
                           WHERE o.lab <> 'none' ORDER BY o.sightholder_id, o.stone_id""")
    stones = list({row["sightholder_id"]: row for row in reversed(graded)}.values())
    by_seller: dict[str, list[dict[str, Any]]] = {}
    for stone in stones:
        if stone["sightholder_id"] in with_findings:
            by_seller.setdefault(stone["seller_id"], []).append(stone)
    producer, chosen = max(by_seller.items(), key=lambda item: len(item[1]))
    a, b = chosen[0], chosen[1]
    certificates = store.rows("SELECT DISTINCT certificate_id, exporting_country, importing_country FROM kp_certificates "
                              "ORDER BY certificate_id")
    first = certificates[0]
    countries = {first["exporting_country"], first["importing_country"]}
    other = next(c for c in certificates if not {c["exporting_country"], c["importing_country"]} & countries)
    return {"producer": producer, "sh_a": a["sightholder_id"], "sh_b": b["sightholder_id"],
            "box_a": a["box_id"], "box_b": b["box_id"], "stone_a": (a["lab"], a["stone_id"]),
            "stone_b": (b["lab"], b["stone_id"]),
            "finding_a": with_findings[a["sightholder_id"]][0].finding_id,
            "finding_b": with_findings[b["sightholder_id"]][0].finding_id,
            "kp_a": first["exporting_country"], "kp_b": other["exporting_country"],
            "certificate_a": first["certificate_id"], "certificate_b": other["certificate_id"]}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any], str]]:
    """One server for the module over a market in a PostgreSQL schema of its own."""
    if not PG_URL:
        pytest.skip("no PostgreSQL: set ROUGHTRACE_TEST_PG")
    folder = tmp_path_factory.mktemp("served")
    with market_schema(PG_URL, folder) as (store, url):
        parties = _pick(store)
        tokens = make_accounts(store, parties)
        revoke_account(Context(store, Settings()), "revoked")
        server = start_server(url, folder, upload_max_bytes="200000", ledger_key_file=str(folder / "ledger-key.pem"))
        server.tokens = tokens
        try:
            yield server, parties, url
        finally:
            server.stop()


def _no_traceback(response: Any) -> None:
    assert "Traceback" not in response.text and 'File "' not in response.text


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and body["errors"][0]["code"] == code, body
    assert set(body["errors"][0]) == {"code", "message", "source"}
    _no_traceback(response)
    return body


def _outcomes(parties: dict[str, Any], good_box: str, bad_box: str) -> bytes:
    """One new outcome of the sightholder's own box, and one of a box it did not buy (quarantined)."""
    holder = parties["sh_a"] if good_box == parties["box_a"] else parties["sh_b"]
    tag = uuid.uuid4().hex[:8]
    return (OUTCOMES_HEADER
            + f"X{tag}1,none,{holder},{good_box},,,2030-01-01,round,0.500,G,VS1,EX\n"
            + f"X{tag}2,none,{holder},{bad_box},,,2030-01-01,round,0.500,G,VS1,EX\n").encode()


# -- operations and the contract ------------------------------------------------------------------
def test_health_readiness_and_openapi(served):
    server, _, _ = served
    with server.client() as anonymous:
        assert anonymous.get("/healthz").json() == {"ok": True, "status": "up"}
        ready = anonymous.get("/readyz").json()
        assert ready["ok"] and ready["engine"] == "postgresql"
        spec = anonymous.get("/openapi.json").json()
    routes = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert {("POST", "/v1/imports/{kind}"), ("GET", "/v1/jobs/{job_id}"), ("GET", "/v1/imports/{batch_id}/quarantine"),
            ("GET", "/v1/sightholders/risk"), ("GET", "/v1/sightholders/{sightholder_id}"), ("GET", "/v1/boxes/{box_id}"),
            ("GET", "/v1/stones/{lab}/{report}/provenance"), ("GET", "/v1/kp/certificates/{certificate_id}"),
            ("POST", "/v1/kp/certificates/check"), ("GET", "/v1/prices/quote"), ("GET", "/v1/prices/index"),
            ("GET", "/v1/pricebook"), ("POST", "/v1/findings/{finding_id}/answers")} <= routes
    for path, item in spec["paths"].items():
        for operation in item.values():
            assert operation.get("summary"), path
            if path.startswith("/v1/"):
                assert "401" in operation["responses"] and "500" in operation["responses"], path
                assert operation["responses"]["401"]["content"]["application/json"]["schema"]["title"] == "ErrorBody"
                assert operation.get("security"), path


def test_access_log_is_json_without_the_token(served):
    server, _, _ = served
    with server.client("sh_a") as client:
        client.get("/v1/me")
    deadline = time.monotonic() + 10
    while True:  # the line is written once the answer has gone
        lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith('{"method"')]
        if any(line["path"] == "/v1/me" and line["status"] == 200 for line in lines) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert any(line["path"] == "/v1/me" and line["status"] == 200 and line["account"] for line in lines)
    assert set(lines[-1]) == {"method", "path", "status", "ms", "account", "process"}
    assert server.tokens["sh_a"] not in server.log.read_text()


# -- tokens ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("header", [None, "Bearer rt_not-a-token", "Bearer something", "Basic abc"])
def test_no_good_token_is_401_in_the_error_shape(served, header):
    server, _, _ = served
    with server.client() as client:
        response = client.get("/v1/me", headers={"Authorization": header} if header else {})
    _error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("who", ["expired", "revoked"])
def test_expired_and_revoked_tokens_are_refused(served, who):
    server, _, _ = served
    with server.client(who) as client:
        _error(client.get(f"/v1/boxes/{served[1]['box_a']}"), 401, "unauthorized")


def test_a_token_revoked_while_the_server_runs_stops_at_once(served):
    server, parties, url = served
    from roughtrace.app.accounts import add_account

    store = open_store(url)
    try:
        token = add_account(Context(store, Settings()), "short-lived", "sightholder", parties["sh_a"]).token
        with server.client() as client:
            assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
            revoke_account(Context(store, Settings()), "short-lived")
            _error(client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}), 401, "unauthorized")
    finally:
        store.close()


# -- happy paths ----------------------------------------------------------------------------------------
def test_a_sightholder_uploads_its_outcomes_and_reads_the_quarantine(served):
    server, parties, _ = served
    with server.client("sh_a") as client:
        sent = client.post("/v1/imports/polished_outcomes", params={"file_name": "outcomes.csv"},
                           content=_outcomes(parties, parties["box_a"], parties["box_b"]))
        assert sent.status_code == 202, sent.text
        assert sent.json()["job"]["state"] in ("queued", "running", "done")
        job = job_done(client, sent.json()["job"]["job_id"])
        assert job["state"] == "done", job
        assert (job["rows_read"], job["rows_accepted"], job["rows_quarantined"]) == (2, 1, 1)
        assert job["receipt"]["head"]["tree_size"] >= 1 and job["file_name"] == "outcomes.csv"
        rows = client.get(f"/v1/imports/{job['batch_id']}/quarantine").json()["rows"]
    assert len(rows) == 1 and rows[0]["record"]["box_id"] == parties["box_b"] and rows[0]["file_name"] == "outcomes.csv"


def test_every_read_route_answers_its_caller(served):
    server, parties, _ = served
    with server.client("sh_a") as sightholder, server.client("producer") as producer, \
            server.client("kp_a") as kp, server.client("retailer_a") as retailer, server.client("admin") as admin:
        box = sightholder.get(f"/v1/boxes/{parties['box_a']}").json()
        assert box["box"]["buyer_id"] == parties["sh_a"] and "findings" in box and "outcome" in box
        risk = sightholder.get("/v1/sightholders/risk").json()["sightholders"]
        assert [r["sightholder_id"] for r in risk] == [parties["sh_a"]] and risk[0]["findings"]
        assert all(f["finding_id"].startswith("f_") and "evidence" in f for f in risk[0]["findings"])
        one = sightholder.get(f"/v1/sightholders/{parties['sh_a']}").json()["sightholder"]
        assert one["sightholder_id"] == parties["sh_a"]
        lab, report = parties["stone_a"]
        traced = sightholder.get(f"/v1/stones/{lab}/{report}/provenance")
        assert traced.status_code == 200, traced.text
        assert traced.json()["provenance"]["stone_id"] == report
        whole = producer.get(f"/v1/stones/{lab}/{report}/provenance").json()["provenance"]
        assert whole["claims"] and any(link["details"] for link in whole["links"])
        sold_to = {r["sightholder_id"] for r in producer.get("/v1/sightholders/risk").json()["sightholders"]}
        assert {parties["sh_a"], parties["sh_b"]} <= sold_to
        assert producer.get(f"/v1/boxes/{parties['box_b']}").status_code == 200
        certificate = kp.get(f"/v1/kp/certificates/{parties['certificate_a']}").json()
        assert certificate["lines"] and certificate["lines"][0]["verdict"]
        public = retailer.get(f"/v1/stones/{lab}/{report}/provenance").json()["provenance"]
        assert public["status"] and "claims" not in public
        assert producer.get("/v1/pricebook").json()["entries"]
        assert kp.get("/v1/pricebook").status_code == 200
        index = producer.get("/v1/prices/index").json()["periods"]
        assert index and "headline" in index[0]
        quote = sightholder.get("/v1/prices/quote", params={"shape": "round", "carat": "1.01", "color": "G",
                                                            "clarity": "VS1"}).json()["quote"]
        assert quote["low"] <= quote["price_per_carat"] <= quote["high"] or float(quote["low"]) <= float(quote["high"])
        assert isinstance(quote["price_per_carat"], str)  # exact decimal text
        assert len(admin.get("/v1/sightholders/risk").json()["sightholders"]) > 2


def test_a_retailer_sees_the_public_links_only(served):
    server, parties, _ = served
    lab, report = parties["stone_a"]
    with server.client("retailer_a") as retailer:
        public = retailer.get(f"/v1/stones/{lab}/{report}/provenance").json()["provenance"]
    text = json.dumps(public)
    for private in (parties["sh_a"], parties["producer"], parties["box_a"], "price", "usd", "rough_carats", "seller_id"):
        assert private not in text, private
    assert {link["link"] for link in public["links"]} >= {"origin", "KP certificate"}


def test_a_sightholder_answers_its_finding_and_the_answer_is_logged(served):
    server, parties, _ = served
    with server.client("sh_a") as client:
        given = client.post(f"/v1/findings/{parties['finding_a']}/answers", json={"note": "the box went to our Surat unit"})
        assert given.status_code == 201, given.text
        answer = given.json()["answer"]
        assert answer["receipt"]["entry_index"] >= 0 and answer["finding_id"] == parties["finding_a"]
        findings = client.get(f"/v1/sightholders/{parties['sh_a']}").json()["sightholder"]["findings"]
    answered = next(f for f in findings if f["finding_id"] == parties["finding_a"])
    assert [a["note"] for a in answered["answers"]] == ["the box went to our Surat unit"]


def test_a_certificate_file_is_checked_and_not_stored(served, tmp_path):
    server, parties, url = served
    store = open_store(url)
    try:
        lines = store.query("SELECT * FROM kp_certificates WHERE certificate_id = ?", (parties["certificate_a"],))
        before = store.rows("SELECT count(*) AS n FROM kp_certificates")[0]["n"]
    finally:
        store.close()
    from roughtrace.domain.kinds import KINDS

    header = [c.name for c in KINDS["kp_certificates"].columns]
    row = lines.to_pylist()[0]
    new_id = row["exporting_country"] + "X" + uuid.uuid4().hex[:8].upper()
    cells = [new_id if name == "certificate_id" else "" if row[name] is None else str(row[name]) for name in header]
    text = io.StringIO()
    csv.writer(text).writerows([header, cells])
    body = text.getvalue().encode()
    with server.client("kp_a") as kp:
        checked = kp.post("/v1/kp/certificates/check", params={"file_name": "draft.csv"}, content=body)
    assert checked.status_code == 200, checked.text
    result = checked.json()["check"]
    assert result["rows_accepted"] == 1, result["errors"]
    assert result["lines"] and result["lines"][0]["certificate_id"] == new_id
    store = open_store(url)
    try:
        assert store.rows("SELECT count(*) AS n FROM kp_certificates")[0]["n"] == before
    finally:
        store.close()


# -- the two-party matrix ---------------------------------------------------------------------------------
def _same_as_missing(client: Any, path: str, missing: str, code: str, identifier: str, stand_in: str) -> None:
    """`path` answers exactly as the same route for an object that does not exist."""
    theirs, nothing = client.get(path), client.get(missing)
    body = _error(theirs, 404, code)
    assert json.dumps(body).replace(identifier, "ID") == json.dumps(_error(nothing, 404, code)).replace(stand_in, "ID")


def test_no_sightholder_sees_anything_of_another(served):
    server, parties, _ = served
    with server.client("sh_b") as b, server.client("sh_a") as a:
        sent = b.post("/v1/imports/polished_outcomes", params={"file_name": "b.csv"},
                      content=_outcomes(parties, parties["box_b"], parties["box_a"]))
        job_b = job_done(b, sent.json()["job"]["job_id"])
        assert job_b["batch_id"] is not None
        _same_as_missing(a, f"/v1/boxes/{parties['box_b']}", "/v1/boxes/NO-SUCH-BOX", "box_not_found",
                         parties["box_b"], "NO-SUCH-BOX")
        _same_as_missing(a, f"/v1/jobs/{job_b['job_id']}", "/v1/jobs/job_nosuchjob", "job_not_found",
                         job_b["job_id"], "job_nosuchjob")
        _same_as_missing(a, f"/v1/imports/{job_b['batch_id']}/quarantine", "/v1/imports/999999999/quarantine",
                         "batch_not_found", str(job_b["batch_id"]), "999999999")
        _same_as_missing(a, f"/v1/sightholders/{parties['sh_b']}", "/v1/sightholders/NO-SUCH-SH",
                         "sightholder_not_found", parties["sh_b"], "NO-SUCH-SH")
        lab, report = parties["stone_b"]
        _same_as_missing(a, f"/v1/stones/{lab}/{report}/provenance", f"/v1/stones/{lab}/NO-SUCH-STONE/provenance",
                         "stone_not_found", report, "NO-SUCH-STONE")
        refused = a.post(f"/v1/findings/{parties['finding_b']}/answers", json={"note": "not ours"})
        missing = a.post("/v1/findings/f_nosuchfinding/answers", json={"note": "not ours"})
        assert json.dumps(_error(refused, 404, "finding_not_found")).replace(parties["finding_b"], "ID") == \
            json.dumps(_error(missing, 404, "finding_not_found")).replace("f_nosuchfinding", "ID")
        everything = json.dumps([a.get("/v1/sightholders/risk").json(), a.get(f"/v1/boxes/{parties['box_a']}").json()])
    assert parties["sh_b"] not in everything and parties["box_b"] not in everything
    with server.client("sh_b") as b:
        findings = b.get(f"/v1/sightholders/{parties['sh_b']}").json()["sightholder"]["findings"]
    assert all(not f["answers"] for f in findings if f["finding_id"] == parties["finding_b"])


def test_no_kp_authority_sees_another_countrys_certificates(served):
    server, parties, _ = served
    with server.client("kp_a") as a, server.client("kp_b") as b:
        assert a.get(f"/v1/kp/certificates/{parties['certificate_a']}").status_code == 200
        assert b.get(f"/v1/kp/certificates/{parties['certificate_b']}").status_code == 200
        _same_as_missing(b, f"/v1/kp/certificates/{parties['certificate_a']}", "/v1/kp/certificates/ZZ-NONE",
                         "certificate_not_found", parties["certificate_a"], "ZZ-NONE")
        _same_as_missing(a, f"/v1/kp/certificates/{parties['certificate_b']}", "/v1/kp/certificates/ZZ-NONE",
                         "certificate_not_found", parties["certificate_b"], "ZZ-NONE")


def test_retailers_and_kp_authorities_reach_no_party_object(served):
    server, parties, _ = served
    for who in ("retailer_a", "retailer_b", "kp_a"):
        with server.client(who) as client:
            _error(client.get(f"/v1/boxes/{parties['box_a']}"), 403, "forbidden")
            _error(client.get("/v1/sightholders/risk"), 403, "forbidden")
            _error(client.get(f"/v1/sightholders/{parties['sh_a']}"), 403, "forbidden")
            _error(client.get("/v1/jobs/job_x"), 403, "forbidden")
            _error(client.post("/v1/imports/parties", content=b"party_id\n"), 403, "forbidden")
    with server.client("retailer_a") as a, server.client("retailer_b") as b:
        lab, report = parties["stone_a"]
        path = f"/v1/stones/{lab}/{report}/provenance"
        assert a.get(path).json() == b.get(path).json()


def test_roles_send_only_their_kinds(served):
    server, _, _ = served
    with server.client("sh_a") as sightholder, server.client("producer") as producer:
        body = _error(sightholder.post("/v1/imports/rough_sales", content=b"box_id\n"), 403, "forbidden")
        assert "polished_outcomes" in body["errors"][0]["message"]
        _error(producer.post("/v1/imports/polished_outcomes", content=b"stone_id\n"), 403, "forbidden")
        _error(producer.post("/v1/imports/diamonds", content=b"x\n"), 400, "unknown_kind")


# -- errors -----------------------------------------------------------------------------------------
def test_errors_keep_the_one_shape(served):
    server, _, _ = served
    with server.client("sh_a") as client:
        _error(client.get("/v1/no/such/route"), 404, "no_such_route")
        _error(client.get("/v1/prices/quote", params={"shape": "round", "carat": "heavy", "color": "G", "clarity": "VS1"}),
               400, "bad_request")
        _error(client.post("/v1/imports/polished_outcomes", content=b"x" * 300_000), 413, "upload_too_large")
        _error(client.post("/v1/findings/f_x/answers", json={"note": ""}), 400, "bad_note")
        _error(client.post("/v1/findings/f_x/answers", content=b"not json"), 400, "bad_request")
        _error(client.get("/v1/prices/index", params={"shape_family": "round"}), 400, "bad_option")
    assert not list((Path(server.log).parent / "spool").glob("*/*")), "a refused upload leaves nothing spooled"


def test_a_sightholder_cannot_send_records_in_another_ones_name(served):
    server, parties, _ = served
    tag = uuid.uuid4().hex[:8]
    posing = (OUTCOMES_HEADER + f"Y{tag},none,{parties['sh_b']},{parties['box_b']},,,2030-01-01,round,0.500,G,VS1,EX\n").encode()
    with server.client("sh_a") as a, server.client("admin") as admin:
        sent = a.post("/v1/imports/polished_outcomes", params={"file_name": "posing.csv"}, content=posing)
        job = job_done(a, sent.json()["job"]["job_id"])
        assert job["state"] == "failed" and job["errors"][0]["code"] == "not_your_records", job
        assert job["batch_id"] is None and job["rows_accepted"] is None
        stored = admin.post("/v1/imports/polished_outcomes", params={"file_name": "admin.csv"}, content=posing)
        assert job_done(admin, stored.json()["job"]["job_id"])["rows_accepted"] == 1  # an admin sends for anyone


def test_intelligence_reports_go_to_their_own_party_only(served):
    """A sightholder gets its own report (logged, its receipt in it); a producer its own sales' view;
    the other roles neither; no report names another sightholder's figures as its own."""
    server, parties, _ = served
    with server.client("sh_a") as a, server.client("sh_b") as b:
        mine, theirs = a.get("/v1/intelligence/report"), b.get("/v1/intelligence/report")
        assert mine.status_code == 200, mine.text
        assert theirs.status_code == 200, theirs.text
        report_a, report_b = mine.json()["report"], theirs.json()["report"]
        assert report_a["sightholder_id"] == parties["sh_a"] and report_b["sightholder_id"] == parties["sh_b"]
        assert report_a["receipt"]["entry_index"] != report_b["receipt"]["entry_index"]
        assert parties["sh_b"] not in json.dumps(report_a)
        _error(a.get("/v1/intelligence/producer"), 403, "forbidden")
    with server.client("producer") as producer:
        view = producer.get("/v1/intelligence/producer")
        assert view.status_code == 200, view.text
        assert view.json()["view"]["producer_id"] == parties["producer"]
        _error(producer.get("/v1/intelligence/report"), 403, "forbidden")
    for who in ("retailer_a", "kp_a"):
        with server.client(who) as client:
            _error(client.get("/v1/intelligence/report"), 403, "forbidden")
            _error(client.get("/v1/intelligence/producer"), 403, "forbidden")


def test_the_ledger_is_served_for_outside_verification(served):
    """Anyone reads the signed checkpoint and the hash tiles (C2SP tlog-tiles) and checks a receipt
    against them; the entries themselves go to administrators only."""
    from roughtrace.ledger import keys, log
    from roughtrace.ledger.remote import http_fetch, verify_remote
    from roughtrace.ledger.tlog import split_bundle, tiles_of

    server, _, url = served
    store = open_store(url)
    try:
        key = next(iter(keys.public_keys(store).values()))
        receipt = log.prove_entry(store, 0)
    finally:
        store.close()
    with server.client() as anonymous:
        note = anonymous.get("/log/checkpoint")
        assert note.status_code == 200 and note.headers["content-type"].startswith("text/plain")
        _error(anonymous.get("/log/tile/entries/000"), 401, "unauthorized")
        _error(anonymous.get("/log/tile/0/999.p/1"), 404, "tile_not_found")
    check = verify_remote(http_fetch(f"{server.url}/log"), key, [receipt])
    assert check.ok and not check.entries_read and check.receipts, check.findings
    first = tiles_of(check.size, "entries")[0]
    with server.client("admin") as admin:
        bundle = admin.get(f"/log/{first.path}")
        assert bundle.status_code == 200 and len(split_bundle(bundle.content)) == first.width
    with server.client("sh_a") as sightholder:
        _error(sightholder.get(f"/log/{first.path}"), 403, "forbidden")
