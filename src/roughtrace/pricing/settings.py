"""The settings of the price index and quotes (area `prices`)."""

from __future__ import annotations

from decimal import Decimal

from ..settings import Setting, at_least, one_of

PERIODS: tuple[str, ...] = ("week", "month", "quarter", "year")

PRICE_PERIOD = Setting(
    "price_period", "month",
    "Length of one index period: week, month, quarter or year. Changing it rebuilds the whole index.", "prices",
    one_of(*PERIODS))
PRICE_MIN_TRADES = Setting(
    "price_min_trades", 5,
    "Transactions a cell needs in the quote's period before a quote is the cell's own figure (method `cell`).",
    "prices")
PRICE_OUTLIER_IQR = Setting(
    "price_outlier_iqr", Decimal("3"),
    "Outlier rule: a trade is an outlier when its price per carat lies more than this many interquartile ranges "
    "(on the log scale) outside the cell's quartiles; outliers are counted but leave the median and spread. "
    "0 switches the rule off.",
    "prices")
PRICE_BAND_WIDTH = Setting(
    "price_band_width", Decimal("1"),
    "Half-width of a quote's low-high band, in robust standard deviations of log price per carat "
    "(1 covers about two trades in three).", "prices")
PRICE_RIDGE = Setting(
    "price_ridge", Decimal("0.3"),
    "Ridge penalty of the hedonic model: main terms get a third of it, size and period steps all of it, "
    "grade x carat terms three times and grade x grade and grade x size terms thirty times it.", "prices")
PRICE_MODEL_SAMPLE = Setting(
    "price_model_sample", 100000,
    "Most transactions the hedonic model's regression is fitted on (an even sample when there are more); "
    "cell effects count every transaction.", "prices")
PRICE_EFFECTS_CAP = Setting(
    "price_effects_cap", 2000,
    "Most transactions of one index cell (shape family x size bracket x colour x clarity) whose prices the model's "
    "cell effects are taken from: beyond it, that many chosen evenly by the same draw as the regression's sample; "
    "each cell's trade counts stay exact. Bounds the rows the fit reads to cells x this.", "prices", at_least(1))

SETTINGS: tuple[Setting, ...] = (
    PRICE_PERIOD, PRICE_MIN_TRADES, PRICE_OUTLIER_IQR, PRICE_BAND_WIDTH, PRICE_RIDGE,
    PRICE_MODEL_SAMPLE, PRICE_EFFECTS_CAP,
)
