"""The cast of a simulated market: producers and their sorting houses, sightholders with their
hidden behaviours, traders, retailers, labs and Kimberley Process authorities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..domain.countries import country_name
from .params import MarketParams

PRODUCERS: tuple[tuple[str, str, str, float], ...] = (
    ("PRD-KDT", "Kalahari Diamond Trading", "BW", 0.55),
    ("PRD-NSH", "Namib Sorting House", "NA", 0.15),
    ("PRD-HSH", "Highveld Sorting House", "ZA", 0.10),
    ("PRD-NLD", "Northern Lights Diamonds", "CA", 0.10),
    ("PRD-LNM", "Lunda Norte Mining", "AO", 0.10),
)
"""(party_id, name, country, share of the boxes sold at sights). The first is the De Beers-like
seller whose Gaborone sorting aggregates goods of several mines (origin `mixed`)."""
MIXED_ORIGIN_SHARE = 0.3
"""Share of the aggregating producer's boxes that hold goods of several countries."""

CITIES = {
    "BW": "Gaborone", "NA": "Windhoek", "ZA": "Johannesburg", "CA": "Yellowknife", "AO": "Luanda",
    "IN": "Surat", "BE": "Antwerp", "IL": "Ramat Gan", "AE": "Dubai", "US": "New York", "HK": "Hong Kong",
    "CN": "Shanghai", "TH": "Bangkok", "JP": "Tokyo", "CH": "Geneva", "GB": "London", "FR": "Paris",
}
SIGHTHOLDER_COUNTRIES = {
    "manufacturer": {"IN": 0.45, "BE": 0.12, "IL": 0.10, "AE": 0.06, "US": 0.05, "HK": 0.06, "CN": 0.04,
                     "TH": 0.04, "BW": 0.04, "ZA": 0.02, "NA": 0.02},
    "dealer": {"BE": 0.35, "AE": 0.25, "IL": 0.15, "IN": 0.15, "HK": 0.10},
    "retailer": {"US": 0.35, "JP": 0.15, "HK": 0.15, "CH": 0.10, "GB": 0.15, "FR": 0.10},
}
TRADER_COUNTRIES = ("AE", "BE", "IN", "IL", "HK", "AE", "BE", "CN", "AE", "IN", "BE", "HK")
RETAILERS = (("RT-001", "Fifth Avenue Jewels", "US"), ("RT-002", "Ginza Brilliance", "JP"),
             ("RT-003", "Bond Street Diamonds", "GB"))
LABS = (("LAB-GIA", "Gemological Institute of America", "US"), ("LAB-IGI", "International Gemological Institute", "BE"),
        ("LAB-HRD", "HRD Antwerp", "BE"), ("LAB-AGS", "American Gem Society Laboratories", "US"))

_FIRST = ("Shree", "Kiran", "Venus", "Rosy", "Dharm", "Star", "Laxmi", "Hari", "Sheetal", "Jewel", "Arctic",
          "Zale", "Orion", "Tiffa", "Lazar", "Eshed", "Pluri", "Dian", "Ramat", "Anvers", "Opal", "Sagar", "Meru",
          "Kala", "Vega", "Nila", "Siva", "Indus", "Baro", "Tana")
_SECOND = ("gems", "stars", "brite", "facet", "cut", "lux", "diam", "stone", "crest", "glow")
_SUFFIX = {"IN": "Pvt Ltd", "BE": "BVBA", "IL": "Ltd", "AE": "DMCC", "US": "Inc", "HK": "Ltd", "CN": "Co Ltd",
           "TH": "Co Ltd", "BW": "(Pty) Ltd", "ZA": "(Pty) Ltd", "NA": "(Pty) Ltd", "JP": "KK", "CH": "SA",
           "GB": "Ltd", "FR": "SAS"}


@dataclass(frozen=True)
class Cast:
    """Every party, as columns, plus the sightholders' hidden attributes (index = sightholder number)."""

    party_id: list[str]
    name: list[str]
    role: list[str]
    category: list[str]
    country: list[str]
    address: list[str]
    sightholder_id: np.ndarray  # str, per sightholder
    sightholder_category: np.ndarray  # str
    sightholder_country: np.ndarray  # str
    behaviour: np.ndarray  # str
    skill: np.ndarray  # float, a yield multiplier
    tracks_rough: np.ndarray  # bool: records rough_stone_id and rough_carats
    supply_share: np.ndarray  # float, the intention to offer as a share of a sight
    size_preference: np.ndarray  # float, the centre of the size ranges bought (index into SIZE_RANGES_MCT)
    trader_id: np.ndarray  # str
    rounds_rough: np.ndarray  # bool: its tracking system writes rough_carats to two decimals

    def party(self, party_id: str) -> dict[str, str]:
        i = self.party_id.index(party_id)
        return {"name": self.name[i], "country": self.country[i], "address": self.address[i]}


def _address(rng: np.random.Generator, country: str) -> str:
    return f"{int(rng.integers(1, 400))} {rng.choice(['Diamond', 'Bourse', 'Main', 'Market', 'Harbour'])} Street, " \
           f"{CITIES[country]}"


def _pick(rng: np.random.Generator, shares: dict[str, float]) -> str:
    codes = list(shares)
    p = np.array([shares[c] for c in codes])
    return codes[int(rng.choice(len(codes), p=p / p.sum()))]


def build_cast(rng: np.random.Generator, params: MarketParams) -> Cast:
    """Draw the parties of a market; behaviours are dealt to manufacturers at random."""
    n = params.sightholders
    n_dealers = round(n * params.dealer_share)
    n_retailers = round(n * params.retailer_share)
    categories = np.array(["manufacturer"] * (n - n_dealers - n_retailers) + ["dealer"] * n_dealers
                          + ["retailer"] * n_retailers)
    categories = categories[rng.permutation(n)]
    behaviour = np.where(categories == "dealer", "dealer_declared", "honest").astype(object)
    manufacturers = np.flatnonzero(categories == "manufacturer")
    dealt = rng.permutation(manufacturers)
    position = 0
    for name in sorted(params.behaviour_counts):
        count = params.behaviour_counts[name]
        behaviour[dealt[position:position + count]] = name
        position += count
    skill = np.clip(rng.normal(1.0, params.skill_sd, n), 0.85, 1.12)
    skill[categories == "dealer"] = 1.0
    tracks = rng.random(n) < params.tracking_share
    tracks[np.isin(behaviour, ["flipper_subtle"])] = False
    supply = rng.lognormal(0.0, 0.6, n)
    supply[categories == "retailer"] *= 0.6
    sizes = rng.uniform(0, 9, n)
    countries = np.array([_pick(rng, SIGHTHOLDER_COUNTRIES[c]) for c in categories])
    names_used: set[str] = set()
    sightholder_names = []
    for country in countries:
        while True:
            stem = f"{rng.choice(_FIRST)}{rng.choice(_SECOND)}"
            if stem not in names_used:
                names_used.add(stem)
                break
        sightholder_names.append(f"{stem.capitalize()} {_SUFFIX[country]}")
    sightholder_id = np.array([f"SH-{i + 1:03d}" for i in range(n)])

    party_id: list[str] = []
    name: list[str] = []
    role: list[str] = []
    category: list[str] = []
    country_col: list[str] = []
    address: list[str] = []

    def add(pid: str, pname: str, prole: str, pcountry: str, pcategory: str = "") -> None:
        party_id.append(pid)
        name.append(pname)
        role.append(prole)
        category.append(pcategory)
        country_col.append(pcountry)
        address.append(_address(rng, pcountry))

    for pid, pname, pcountry, _share in PRODUCERS:
        add(pid, pname, "producer", pcountry)
    for i in range(n):
        add(str(sightholder_id[i]), sightholder_names[i], "sightholder", str(countries[i]), str(categories[i]))
    traders = []
    for i, tcountry in enumerate(TRADER_COUNTRIES):
        tid = f"TR-{i + 1:03d}"
        traders.append(tid)
        add(tid, f"{rng.choice(_FIRST)} Rough Trading {_SUFFIX[tcountry]}", "trader", tcountry)
    for pid, pname, pcountry in RETAILERS:
        add(pid, pname, "retailer", pcountry)
    for pid, pname, pcountry in LABS:
        add(pid, pname, "lab", pcountry)
    for code in sorted(set(country_col)):
        add(f"KPA-{code}", f"{country_name(code)} Kimberley Process Authority", "authority", code)
    rounds_rough = rng.random(n) < params.rough_rounding_share  # drawn last: the rest of the cast stays put
    return Cast(
        party_id=party_id, name=name, role=role, category=category, country=country_col, address=address,
        sightholder_id=sightholder_id, sightholder_category=categories, sightholder_country=countries,
        behaviour=behaviour.astype(str), skill=skill, tracks_rough=tracks, supply_share=supply / supply.sum(),
        size_preference=sizes, trader_id=np.array(traders), rounds_rough=rounds_rough,
    )
