"""Imports each area's module that registers settings, so the registry is complete."""

from .checks import settings as _checks  # noqa: F401
from .ingest import limits as _limits  # noqa: F401
from .intelligence import settings as _intelligence  # noqa: F401
from .ledger import settings as _ledger  # noqa: F401
from .pricing import settings as _prices  # noqa: F401
from .valuation import settings as _valuation  # noqa: F401
