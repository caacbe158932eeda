"""The one compiled piece: the ledger's column-wide SHA-256 (src/roughtrace/ledger/_sha256.c).

Everything else is declared in pyproject.toml. The extension is optional: where no C compiler is
found, roughtrace installs without it and hashes through DuckDB instead (slower, same hashes).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "roughtrace.ledger._sha256",
            ["src/roughtrace/ledger/_sha256.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
