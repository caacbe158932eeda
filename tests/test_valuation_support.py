"""Fixtures for the valuation tests: a store loaded from small CSV texts in the trade's words, and
a polished pricer whose prices a reader can work out by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from conftest import load, new_store  # noqa: F401  (re-exported for the valuation tests)
from roughtrace.settings import Settings
from roughtrace.valuation import settings as _valuation_settings  # noqa: F401  (registers the area)


class GradePricer:
    """$1,500/ct for a G VS1 round of any weight, x0.8 per colour grade below G and x1.25 per grade
    above; other clarities and shapes at the same price. Easy to compute by hand."""

    def __init__(self) -> None:
        self.calls = 0

    def price_per_carat(self, shape, carat, color, clarity, date, cut=None):
        self.calls += 1
        colour = np.array([ord(c) - ord("G") if len(c) == 1 else 0 for c in color.to_pylist()], dtype=float)
        return 1500.0 * np.where(colour > 0, 0.8 ** colour, 1.25 ** (-colour))


SALES_HEADER = ("box_id,sight,sale_date,seller_id,buyer_id,origin,assortment,model,size_min_ct,size_max_ct,"
                "colour,quality,stones,carats,price_usd,kp_certificate_id")
CERT_HEADER = ("certificate_id,exporting_country,importing_country,origin,exporter_name,exporter_address,"
               "importer_name,importer_address,issuing_authority,issue_date,expiry_date,parcels,hs_code,carats,value_usd")


def certificate_rows(rows: list[tuple[str, str, str, str]], origin: str = "BW", issued: str = "2026-01-20",
                     exporter: str = "Producer") -> str:
    """KP certificate CSV from (certificate_id, hs_code, carats, value_usd) lines, headers filled in."""
    body = "\n".join(
        f"{cid},BW,BE,{origin},{exporter},Gaborone,Cutter,Antwerp,KP Botswana,{issued},2026-04-20,1,{hs},{ct},{usd}"
        for cid, hs, ct, usd in rows
    )
    return CERT_HEADER + "\n" + body


def book_market(boxes_per_assortment: int = 6, spread: float = 0.0, store=None):
    """A store of boxes of two gem assortments (A-ST: G colour stones, B-SH: J colour shapes) and one
    industrial assortment (R-RJ), each box 1 ct rough polished into 0.300 ct of one stone (a yield
    of 30%), sold at $300/ct. With `spread`, the i-th box's stone weighs 0.300 x (1 + spread x k) for
    k running from -1 to 1 across the boxes. Into `store` when given, else a new in-memory one."""
    store = new_store() if store is None else store
    sales, outcomes = [SALES_HEADER], ["stone_id,lab,sightholder_id,box_id,polished_date,shape,carat,color,clarity"]
    for code, model, quality, colour in (("A-ST", "stones", "high", "G"), ("B-SH", "shapes", "medium", "J"),
                                         ("R-RJ", "rejections", "rejection", "G")):
        for i in range(boxes_per_assortment):
            k = 0.0 if boxes_per_assortment == 1 else -1 + 2 * i / (boxes_per_assortment - 1)
            box = f"{code}-{i}"
            sales.append(f"{box},2026-01,2026-01-12,P1,M1,BW,{code},{model},0.5,1.5,white,{quality},1,1.000,300.00,")
            outcomes.append(f"S{box},GIA,M1,{box},2026-03-01,round,{0.300 * (1 + spread * k):.3f},{colour},VS1")
    load(store, "rough_sales", "\n".join(sales))
    load(store, "polished_outcomes", "\n".join(outcomes))
    return store


def settings(**overrides) -> Settings:
    """The defaults, except that certificate lines are valued at the book's own prices
    (`kp_price_calibration` none) unless a test asks otherwise: the fixtures' boxes all sold at $300/ct
    whatever their assortment, so their prices paid say nothing a hand-worked book price could check."""
    return Settings({"kp_price_calibration": "none", **overrides}, environ={})


def context(store, **overrides) -> SimpleNamespace:
    """What the lead's CLI puts in ctx.obj: `.store()` and `.settings`."""
    return SimpleNamespace(store=lambda: store, settings=settings(**overrides))
