"""The two compiled pieces: the ledger's column-wide SHA-256 (src/roughtrace/ledger/_sha256.c)
and PostgreSQL's binary COPY rows (src/roughtrace/store/_pgcopy.c).

Everything else is declared in pyproject.toml, but for the dashboard's package data. Both extensions are optional: where no C compiler
is found, roughtrace installs without them and hashes through DuckDB and lays COPY rows out with
numpy instead (slower, same bytes).
"""

from setuptools import Extension, setup

setup(
    # the dashboard's templates and static files ship in the package (no CDN, no download at run time)
    package_data={"roughtrace.web": ["templates/*.html", "static/*.css", "static/*.js"]},
    ext_modules=[
        Extension(
            "roughtrace.ledger._sha256",
            ["src/roughtrace/ledger/_sha256.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "roughtrace.store._pgcopy",
            ["src/roughtrace/store/_pgcopy.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
    ]
)
