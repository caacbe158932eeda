"""The dashboard in a real browser: `roughtrace serve` on the test PostgreSQL schema, Debian's chromium
driven headless by Playwright. Each role signs in and walks its pages; a sightholder uploads a file
with a bad row and sees it quarantined, answers a finding and downloads a receipt; a KP authority
downloads a certificate's PDF and checks a file; what one party may not see is a clean refusal; a
POST without the form's token is refused. Every page is checked for the basics a keyboard and a
screen reader need (a language, one h1, a label for every field, a name for every button and chart,
text contrast of at least 4.5:1, or 3:1 for large text) and saved as a screenshot in
build/screenshots/ at the repository's top (ignored by git; docs/dashboard.md lists the files)."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import PG_URL
from service_support import Server, make_accounts, market_schema, start_server
from test_service import _outcomes, _pick

pytestmark = pytest.mark.postgres

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
WIDE, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any], Path]]:
    if not PG_URL:
        pytest.skip("no PostgreSQL: set ROUGHTRACE_TEST_PG")
    folder = tmp_path_factory.mktemp("web")
    with market_schema(PG_URL, folder) as (store, url):
        parties = _pick(store)
        server = start_server(url, folder, upload_max_bytes="2000000", ledger_key_file=str(folder / "ledger-key.pem"))
        server.tokens = make_accounts(store, parties)
        try:
            yield server, parties, folder
        finally:
            server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless. Skipped only off CI when it is not installed; on CI (CI=true) a
    missing browser fails the run instead of hiding it."""
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip("no /usr/bin/chromium (install chromium; CI always runs these)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            yield launched
        finally:
            launched.close()


ACCESSIBLE = """() => {
  const faults = [];
  if (!document.documentElement.lang) faults.push("the page has no language");
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) faults.push(`${h1} h1 headings`);
  const named = (el) => (el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || "").trim() !== "";
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (["hidden", "submit", "button"].includes(el.type)) continue;
    if (!(el.labels && el.labels.length) && !named(el)) faults.push(`a ${el.tagName.toLowerCase()} without a label: ${el.name}`);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!el.textContent.trim() && !named(el)) faults.push(`a ${el.tagName.toLowerCase()} without a name`);
  }
  for (const el of document.querySelectorAll("svg")) {
    if (el.getAttribute("role") !== "img" || !(named(el) || el.querySelector("title"))) faults.push("a chart without a name");
  }
  const rgba = (text) => (text.match(/[\\d.]+/g) || ["0", "0", "0", "0"]).map(Number).concat([1]).slice(0, 4);
  const luminance = ([r, g, b]) => [r, g, b].map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = (el) => {
    for (let at = el; at; at = at.parentElement) {
      const colour = rgba(getComputedStyle(at).backgroundColor);
      if (colour[3] > 0.5) return colour;
    }
    return [255, 255, 255, 1];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || seen.has(el) || el.closest("svg")) continue;
    seen.add(el);
    const box = el.getBoundingClientRect();
    if (!el.checkVisibility() || box.width === 0 || box.right < 0 || box.bottom < 0) continue;
    const style = getComputedStyle(el);
    const [a, b] = [luminance(rgba(style.color)), luminance(behind(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < needed) faults.push(`contrast ${ratio.toFixed(2)} < ${needed}: ${node.textContent.trim().slice(0, 40)}`);
  }
  return faults;
}"""
"""A page's faults for a keyboard and a screen reader; the contrast is WCAG's, over the nearest
opaque background."""


def _accessible(page: Any) -> None:
    faults = page.evaluate(ACCESSIBLE)
    assert not faults, (page.url, faults[:10])


def _fits_a_phone(page: Any) -> None:
    """Nothing wider than the screen but the tables, which scroll in their own frame."""
    wide = page.evaluate("""() => [...document.querySelectorAll("body *")]
      .filter((el) => !el.closest(".scroll") && el.getBoundingClientRect().right > window.innerWidth + 1)
      .map((el) => `${el.tagName.toLowerCase()}.${el.className}: ${Math.round(el.getBoundingClientRect().right)}`)""")
    assert not wide, (page.url, wide[:5])


def _saved(page: Any, shot: str) -> None:
    _accessible(page)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)


def _signed_in(browser: Any, server: Server, who: str) -> Any:
    """A page of a fresh browser context signed in as `who` through the sign-in form."""
    context = browser.new_context(viewport=WIDE, accept_downloads=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{server.url}/signin")
    if who == "producer":
        _saved(page, "signin")
    page.get_by_label("API token").fill(server.tokens[who])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/signin" not in page.url, page.content()[:400]
    return page


def _shown(page: Any, server: Server, path: str, shot: str, heading: str | None = None, status: int = 200,
           phone: bool = False) -> Any:
    """Open `path`, check its status, heading and that no traceback shows, and save its screenshot."""
    answer = page.goto(f"{server.url}{path}")
    assert answer is not None and answer.status == status, (path, answer and answer.status, page.content()[:600])
    text = page.content()
    assert "Traceback" not in text and 'File "' not in text
    if heading is not None:
        assert heading in page.locator("h1").inner_text(), (path, page.locator("h1").inner_text())
    _saved(page, shot)
    if phone:
        page.set_viewport_size(PHONE)
        _fits_a_phone(page)
        page.screenshot(path=str(SHOTS / f"{shot}-phone.png"), full_page=True)
        page.set_viewport_size(WIDE)
    return answer


def test_a_producer_analyst_walks_its_pages(served, browser):
    server, parties, _ = served
    page = _signed_in(browser, server, "producer")
    assert page.url.endswith("/overview")
    _shown(page, server, "/overview", "producer-overview", "Overview", phone=True)
    assert page.locator("#sights tbody tr").count() > 0
    _shown(page, server, "/sightholders", "producer-sightholders", "Sightholders", phone=True)
    rows = page.locator("#sightholders tbody tr")
    assert rows.count() > 1
    page.get_by_role("columnheader", name="Sightholder").click()  # sorted by id, ascending
    ids = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    assert ids == sorted(ids)
    page.get_by_label("Filter sightholders").fill(parties["sh_a"])
    assert page.locator("#sightholders tbody tr:visible").count() == 1
    _shown(page, server, f"/sightholders/{parties['sh_a']}", "producer-sightholder", parties["sh_a"])
    assert page.locator("article.finding").count() > 0 and page.locator("#boxes tbody tr").count() > 0
    assert page.locator("form.answer").count() == 0  # only the sightholder answers
    sight = page.locator("#sight option").nth(1).get_attribute("value")
    page.get_by_label("Sight", exact=True).select_option(sight)
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    assert f"sight={sight}" in page.url
    listed = page.locator("#boxes tbody tr td:nth-child(2)")
    assert listed.count() > 0 and set(listed.all_inner_texts()) == {sight}
    _shown(page, server, f"/boxes/{parties['box_a']}", "producer-box", parties["box_a"], phone=True)
    assert "Mass balance" in page.content()
    _shown(page, server, "/prices", "producer-prices", "Price index", phone=True)
    assert page.locator("figure.chart svg polyline").count() >= 1
    size = page.locator("#size option:checked").get_attribute("value")  # the size with most trades
    assert set(page.locator("#cells tbody tr td:nth-child(2)").all_inner_texts()) == {size}
    page.locator("#cells tbody tr a").first.click()
    page.wait_for_load_state()
    assert "/prices/cell" in page.url and page.locator("figure.chart svg").count() == 1
    _saved(page, "producer-price-cell")
    _shown(page, server, "/pricebook", "producer-pricebook", "Price book")
    assert page.locator("#book tbody tr").count() > 0
    _shown(page, server, "/certificates", "producer-kp-verdicts", "KP certificates")
    _shown(page, server, "/ledger", "producer-ledger", "Ledger")
    assert page.locator("code.hash").count() >= 2
    _shown(page, server, "/upload", "producer-upload", "Upload")
    _shown(page, server, "/uploads", "producer-uploads", "Uploads")
    page.context.close()


def test_a_sightholder_uploads_answers_and_reads_its_report(served, browser, tmp_path):
    server, parties, _ = served
    page = _signed_in(browser, server, "sh_a")
    assert page.url.endswith(f"/sightholders/{parties['sh_a']}")
    _shown(page, server, "/upload", "sightholder-upload", "Upload", phone=True)
    upload = tmp_path / "outcomes.csv"
    upload.write_bytes(_outcomes(parties, parties["box_a"], parties["box_b"]))
    page.get_by_label("Kind").select_option("polished_outcomes")
    page.get_by_label("File").set_input_files(str(upload))
    polled: list[str] = []  # the job's states as the service reported them to the page's polling
    holding = [True]

    def status(route: Any) -> None:
        """The job's status, answered as still running until the page's progress is saved."""
        answer = route.fetch()
        job = answer.json()["job"]
        polled.append(job["state"])
        if holding[0]:
            route.fulfill(response=answer, json={"job": {**job, "state": "running", "rows_read": None}})
        else:
            route.fulfill(response=answer)

    page.route(re.compile(r".*/jobs/job_\w+/status$"), status)
    page.get_by_role("button", name="Upload").click()
    page.locator("#upload .progress .state", has_text="Import running").wait_for()
    assert page.locator("#sent").evaluate("bar => bar.value") == 100  # the whole file sent
    _saved(page, "sightholder-upload-progress")
    holding[0] = False
    page.wait_for_url(re.compile(r".*/jobs/job_\w+$"))
    assert polled and polled[-1] == "done", polled
    page.wait_for_selector("[data-waiting='no']")
    assert page.locator(".state").first.inner_text() == "done", page.content()[:800]
    quarantined = page.locator("#quarantine tbody tr")
    assert quarantined.count() == 1 and parties["box_b"] in quarantined.inner_text()
    _saved(page, "sightholder-upload-result")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the receipt").click()
    receipt = Path(download.value.path()).read_text()
    assert '"entry_index"' in receipt or '"leaf_index"' in receipt or "inclusion" in receipt, receipt[:300]
    _shown(page, server, "/uploads", "sightholder-uploads", "Uploads")
    _shown(page, server, f"/boxes/{parties['box_a']}", "sightholder-box", parties["box_a"])

    _shown(page, server, f"/sightholders/{parties['sh_a']}", "sightholder-findings", parties["sh_a"], phone=True)
    finding = page.locator(f"article[id='{parties['finding_a']}']")
    note = "the stones went to our Antwerp office; invoices follow"
    finding.get_by_label("Your answer").fill(note)
    finding.get_by_role("button", name="Send the answer").click()
    page.wait_for_load_state()
    assert note in page.locator(f"article[id='{parties['finding_a']}'] .answers").inner_text()
    _shown(page, server, "/intelligence", "sightholder-market-report", "Market report")
    assert page.locator(".document h2").count() > 0
    _shown(page, server, "/prices", "sightholder-prices", "Price index")
    page.context.close()


def _certificate_file(folder: Path, certificate: str, path: Path) -> Path:
    """The lines of a stored certificate under a new number, and one line with negative carats."""
    with (folder / "market" / "kp_certificates.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["certificate_id"] == certificate]
    fresh = certificate[:2] + "29999999"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "certificate_id": fresh})
    writer.writerow({**rows[0], "certificate_id": fresh, "hs_code": "7102.29", "carats": "-1"})
    path.write_text(out.getvalue())
    return path


def test_a_kp_authority_reads_its_certificates_prints_one_and_checks_a_file(served, browser, tmp_path):
    server, parties, folder = served
    page = _signed_in(browser, server, "kp_a")
    _shown(page, server, "/certificates", "kp-certificates", "KP certificates")
    listed = page.locator("#certificates tbody tr")
    assert listed.count() > 0
    assert parties["certificate_b"] not in page.locator("#certificates").inner_text()
    page.get_by_label("With a line").select_option("reasonable")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    assert "verdict=reasonable" in page.url
    _shown(page, server, f"/certificates/{parties['certificate_a']}", "kp-certificate", parties["certificate_a"],
           phone=True)
    assert page.locator(".document svg").count() > 0  # the declared value against its band
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the report as PDF").click()
    assert Path(download.value.path()).read_bytes()[:5] == b"%PDF-"
    _shown(page, server, "/certificates/check", "kp-check-form", "Check a certificate file")
    page.get_by_label("Certificate file").set_input_files(
        str(_certificate_file(folder, parties["certificate_a"], tmp_path / "certificate.csv")))
    page.get_by_role("button", name="Check the file").click()
    page.wait_for_load_state()
    text = page.content()
    assert "Would be rejected" in text and "Problems" in text and "Verdicts" in text, text[:1000]
    _saved(page, "kp-check-result")
    _shown(page, server, "/pricebook", "kp-pricebook", "Price book")
    page.context.close()


def test_a_retailer_looks_a_stone_up_by_its_report_number(served, browser):
    server, parties, _ = served
    page = _signed_in(browser, server, "retailer_a")
    _shown(page, server, "/provenance", "retailer-provenance-form", "Provenance", phone=True)
    lab, report = parties["stone_a"]
    page.get_by_label("Lab").select_option(lab)
    page.get_by_label("Report number").fill(report)
    page.get_by_role("button", name="Look up").click()
    page.wait_for_load_state()
    assert f"Stone {report}" in page.content() and page.locator("ol.links li").count() > 0
    assert parties["sh_a"] not in page.content() and "price" not in page.locator("ol.links").inner_text().lower()
    _saved(page, "retailer-provenance")
    page.context.close()


def _listed(page: Any, server: Server, path: str, table: str) -> list[list[str]]:
    """The rows of `table` on each page of a paged list, following its "Older" links from `path`."""
    page.goto(f"{server.url}{path}")
    pages = []
    while True:
        pages.append(page.locator(f"#{table} tbody tr td:first-child").all_inner_texts())
        older = page.locator("nav.pager a[rel=next]")
        if older.count() == 0:
            return pages
        older.click()
        page.wait_for_load_state()


def test_long_lists_are_paged_newest_first_and_keep_their_filter(served, browser):
    """With one row a page, a sightholder's boxes and the certificates, page after page, are the
    whole list in the order one page shows it, and a sight chosen stays chosen from page to page."""
    server, parties, folder = served
    page = _signed_in(browser, server, "producer")
    whole = {path: _listed(page, server, path, table)
             for path, table in ((f"/sightholders/{parties['sh_a']}", "boxes"), ("/certificates", "certificates"))}
    page.context.close()
    assert all(len(pages) == 1 for pages in whole.values())  # 100 rows a page by default
    paging = start_server(server.store_url, folder, dashboard_page_rows="1",
                          ledger_key_file=str(folder / "ledger-key.pem"))
    paging.tokens = server.tokens
    try:
        page = _signed_in(browser, paging, "producer")
        for path, table in ((f"/sightholders/{parties['sh_a']}", "boxes"), ("/certificates", "certificates")):
            (everything,) = whole[path]
            pages = _listed(page, paging, path, table)
            assert len(everything) > 1 and [len(rows) for rows in pages] == [1] * len(everything), (path, pages)
            assert [r for rows in pages for r in rows] == everything
        _saved(page, "producer-certificates-paged")
        page.goto(f"{paging.url}/certificates?page=100000")
        assert page.locator("#certificates tbody tr td:first-child").all_inner_texts() == pages[-1]  # the last page
        assert page.locator("nav.pager a[rel=next]").count() == 0 and page.locator("nav.pager a[rel=prev]").count() == 1
        boxes = f"/sightholders/{parties['sh_a']}"
        page.goto(f"{paging.url}{boxes}")
        by_sight = {}
        for sight in page.locator("#sight option").evaluate_all("options => options.map(o => o.value)")[1:]:
            by_sight[sight] = _listed(page, paging, f"{boxes}?sight={sight}", "boxes")
            assert f"sight={sight}" in page.url  # the last page reached still lists the sight's boxes only
            assert set(page.locator("#boxes tbody tr td:nth-child(2)").all_inner_texts()) == {sight}
        assert sorted(r for pages in by_sight.values() for rows in pages for r in rows) == sorted(whole[boxes][0])
        assert page.goto(f"{paging.url}/certificates?page=0").status == 400
        page.context.close()
    finally:
        paging.stop()


@pytest.mark.parametrize(("who", "path", "status"), [
    ("sh_a", "/sightholders/{sh_b}", 404), ("sh_a", "/boxes/{box_b}", 404), ("sh_b", "/sightholders/{sh_a}", 404),
    ("kp_a", "/certificates/{certificate_b}", 404), ("kp_a", "/certificates/{certificate_b}/pdf", 404),
    ("kp_b", "/certificates/{certificate_a}", 404), ("retailer_a", "/sightholders/{sh_a}", 403),
    ("retailer_a", "/overview", 403), ("sh_a", "/overview", 403), ("kp_a", "/boxes/{box_a}", 403),
])
def test_what_a_caller_may_not_see_is_a_clean_refusal(served, browser, who, path, status):
    server, parties, _ = served
    page = _signed_in(browser, server, who)
    target = path.format(**parties)
    shot = f"refused-{who}-{re.sub(r'[^a-z]+', '-', path.lower()).strip('-')}"
    _shown(page, server, target, shot, "Not found" if status == 404 else "Not allowed", status=status)
    text = page.content()
    assert "Mass balance" not in text and "Findings" not in text and "Download the report" not in text
    page.context.close()


def test_a_post_without_the_forms_token_is_refused(served, browser):
    server, parties, _ = served
    page = _signed_in(browser, server, "sh_a")
    refused = page.request.post(f"{server.url}/findings/{parties['finding_a']}/answer",
                                form={"note": "sent from another site"}, max_redirects=0)
    assert refused.status == 403 and "bad_form_token" in refused.text()
    forged = page.request.post(f"{server.url}/signout", form={"csrf": "not-the-token"}, max_redirects=0)
    assert forged.status == 403
    _shown(page, server, f"/sightholders/{parties['sh_a']}", "sightholder-after-forged-post", parties["sh_a"])
    assert "sent from another site" not in page.content()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/signin$"))
    page.goto(f"{server.url}/overview")
    assert "/signin" in page.url
    page.context.close()


def test_the_session_cookie_is_http_only_and_same_site_strict(served):
    server, _, _ = served
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/signin")
        token = re.search(r'name="form_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        wrong = client.post("/signin", data={"form_token": token, "token": "rt_not-a-token"})
        assert wrong.status_code == 401 and "unknown, expired or revoked" in wrong.text
        token = re.search(r'name="form_token" value="([^"]+)"', wrong.text).group(1)  # type: ignore[union-attr]
        signed = client.post("/signin", data={"form_token": token, "token": server.tokens["producer"]})
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and server.tokens["producer"] not in cookie
        assert client.post("/signin", data={"token": server.tokens["producer"]}).status_code == 403  # no form token
        expired = httpx.get(f"{server.url}/overview", cookies={"rt_session": "made-up"})
        assert expired.status_code == 303 and expired.headers["location"].startswith("/signin")


def test_a_producer_reads_a_sightholder_it_sold_to_through_the_api_too(served):
    """The rule the dashboard's sightholder page shares with the API: a producer sees the findings of
    the sightholders that bought its boxes, one by one as in the list."""
    server, parties, _ = served
    with server.client("producer") as client:
        listed = {r["sightholder_id"] for r in client.get("/v1/sightholders/risk").json()["sightholders"]}
        assert parties["sh_a"] in listed
        one = client.get(f"/v1/sightholders/{parties['sh_a']}")
    assert one.status_code == 200 and one.json()["sightholder"]["sightholder_id"] == parties["sh_a"]


def test_a_page_that_does_not_exist_is_a_page_for_a_browser_and_json_for_the_api(served):
    server, _, _ = served
    page = httpx.get(f"{server.url}/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "<h1>Not found</h1>" in page.text and "Traceback" not in page.text
    api = httpx.get(f"{server.url}/v1/no/such/route", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json()["errors"][0]["code"] == "no_such_route"


def test_an_administrator_opens_every_page_of_its_navigation(served, browser):
    server, _, _ = served
    page = _signed_in(browser, server, "admin")
    links = page.locator("header nav a")
    paths = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert len(paths) >= 8
    for path in paths:
        _shown(page, server, path, "admin-" + path.strip("/").replace("/", "-"))
    page.context.close()
