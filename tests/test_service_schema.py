"""`roughtrace serve` started for real and checked against its own `/openapi.json` by schemathesis:
every documented route, called with an admin's token and with a sightholder's, with data that
fits the schema and data that does not. No answer is a server error; every status, content type
and body is one the document declares; every failure is in the one error shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import PG_URL
from service_support import Server, make_accounts, market_schema, start_server

pytestmark = pytest.mark.postgres

EXAMPLES = 12
"""Cases drawn per route, account and mode: enough to reach each route's every parameter, few
enough that the whole module stays well inside CI's time on two loaded cores."""

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
"""Checks on every answer. `response_schema_conformance` holds the error shape: every documented
failure status declares ErrorBody, so a failure in any other shape fails it."""

NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
"""Data that does not fit the schema must also be refused (a 4xx), never accepted."""


def _parties(store: Any) -> dict[str, Any]:
    """A producer and two of its buyers, and two KP exporting countries: who the accounts stand for."""
    sales = store.rows("SELECT seller_id, buyer_id FROM rough_sales GROUP BY seller_id, buyer_id "
                       "ORDER BY seller_id, buyer_id")
    producer = sales[0]["seller_id"]
    buyers = [row["buyer_id"] for row in sales if row["seller_id"] == producer]
    countries = [row["exporting_country"] for row in
                 store.rows("SELECT DISTINCT exporting_country FROM kp_certificates ORDER BY exporting_country")]
    return {"producer": producer, "sh_a": buyers[0], "sh_b": buyers[-1], "kp_a": countries[0], "kp_b": countries[-1]}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module over a small market in a PostgreSQL schema of its own."""
    if not PG_URL:
        pytest.skip("no PostgreSQL: set ROUGHTRACE_TEST_PG")
    folder = tmp_path_factory.mktemp("schema")
    with market_schema(PG_URL, folder) as (store, url):
        tokens = make_accounts(store, _parties(store))
        server = start_server(url, folder, upload_max_bytes="20000", ledger_key_file=str(folder / "ledger-key.pem"))
        server.tokens = tokens
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def api(served: Server) -> Any:
    """The service's OpenAPI document as it serves it."""
    return schemathesis.openapi.from_url(f"{served.url}/openapi.json")


def _operations(api: Any) -> list[Any]:
    return [result.ok() for result in api.get_all_operations()]


def _exercise(api: Any, server: Server, who: str, mode: GenerationMode) -> None:
    headers = {"Authorization": f"Bearer {server.tokens[who]}"}
    checks = NEGATIVE_CHECKS if mode is GenerationMode.NEGATIVE else CHECKS
    operations = _operations(api)
    assert len(operations) >= 15
    refused = 0
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not (operation.path_parameters or operation.query or operation.body):
            continue  # nothing of the request is documented, so nothing can be sent that does not fit
        @settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate], derandomize=True,
                  database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def called(case: Any) -> None:
            case.call_and_validate(base_url=server.url, headers=headers, checks=checks, timeout=30)

        if mode is not GenerationMode.NEGATIVE:
            called()
            continue
        try:
            called()
            refused += 1
        except Unsatisfiable:
            continue  # every value its documented parameters take is free text: nothing can be sent that does not fit
    if mode is GenerationMode.NEGATIVE:
        assert refused >= 12, f"only {refused} routes could be sent requests that do not fit"


@pytest.mark.parametrize("who", ["admin", "sh_a"])
def test_every_route_answers_as_documented(served, api, who):
    _exercise(api, served, who, GenerationMode.POSITIVE)


@pytest.mark.parametrize("who", ["admin", "sh_a"])
def test_every_route_refuses_what_does_not_fit_in_the_error_shape(served, api, who):
    _exercise(api, served, who, GenerationMode.NEGATIVE)
