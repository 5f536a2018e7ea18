{
    "name": "IOTA Scripts: benchmark baseline",
    "summary": "Test-only: the plain controller bench/endpoints.py measures endpoints against",
    "version": "18.0.1.0.0",
    "license": "LGPL-3",
    "author": "IOTA Scripts",
    "depends": ["base"],
    "installable": True,
    "auto_install": False,
}
