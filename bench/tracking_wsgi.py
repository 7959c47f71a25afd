"""The app as gunicorn serves it for bench.tracking, plus a bare 204 endpoint to compare.

The bare endpoint goes through the same app (its before/after request hooks included), so
the ratio measures what the collector itself costs.
"""

from __future__ import annotations

from flask import Response

import web.security
from app import create_app

app = create_app()
web.security.PUBLIC_ENDPOINTS = web.security.PUBLIC_ENDPOINTS | {"bench_bare"}


@app.route("/bench-bare", endpoint="bench_bare", methods=["GET", "POST"])
def bench_bare() -> Response:
    return Response(status=204)
