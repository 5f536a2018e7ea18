import os

from . import controllers

# bench/observability.py's baseline: the product with its metrics and tracing
# hooks taken out (see strip_observability.py); never set outside that benchmark
if os.environ.get("IOTA_BENCH_STRIP_OBSERVABILITY") == "1":
    from . import strip_observability
