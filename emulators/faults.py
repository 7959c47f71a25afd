"""Fault injection shared by the emulators.

A test (or the demo) sets faults over HTTP on the running emulator:

    POST /_emulator/faults  {"error_rate": 0.2, "error_status": 503,
                             "throttle_rate": 0.1, "retry_after": 1,
                             "delay": 0.5, "delay_rate": 1.0, "seed": 7,
                             "paths": ["/v2/contacts"]}
    POST /_emulator/reset   back to a clean state (data and faults)
    GET  /_emulator/calls   the calls received so far, for assertions

Rates are shares of matching requests; ``seed`` makes a run repeatable. The decision is
made before the request reaches the API view, so a faulted call changes no state, as a
real gateway error would.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from dataclasses import field

from flask import Flask
from flask import Response
from flask import jsonify
from flask import request

CONTROL_PREFIX = "/_emulator/"


@dataclass
class Faults:
    error_rate: float = 0.0
    error_status: int = 500
    throttle_rate: float = 0.0
    retry_after: int = 1
    delay: float = 0.0
    delay_rate: float = 0.0
    paths: list[str] = field(default_factory=list)
    seed: int | None = None

    def applies_to(self, path: str) -> bool:
        return not self.paths or any(path.startswith(p) for p in self.paths)


class FaultInjector:
    """Holds the active faults and the call log of one emulator app."""

    def __init__(self, throttle_response, error_response):
        # Each emulator renders 429s and 5xx bodies in its own API's format.
        self._throttle_response = throttle_response
        self._error_response = error_response
        self._lock = threading.Lock()
        self.faults = Faults()
        self._random = random.Random()
        self.calls: list[dict] = []

    def configure(self, data: dict) -> Faults:
        allowed = set(Faults.__dataclass_fields__)
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        with self._lock:
            self.faults = Faults(**data)
            self._random = random.Random(self.faults.seed)
        return self.faults

    def reset(self) -> None:
        with self._lock:
            self.faults = Faults()
            self._random = random.Random()
            self.calls.clear()

    def _roll(self, rate: float) -> bool:
        with self._lock:
            return rate > 0 and self._random.random() < rate

    def before_request(self) -> Response | None:
        if request.path.startswith(CONTROL_PREFIX):
            return None
        with self._lock:
            self.calls.append({"method": request.method, "path": request.path,
                               "query": request.query_string.decode()})
        f = self.faults
        if not f.applies_to(request.path):
            return None
        if f.delay and self._roll(f.delay_rate or 1.0):
            time.sleep(f.delay)
        if self._roll(f.throttle_rate):
            return self._throttle_response(f.retry_after)
        if self._roll(f.error_rate):
            return self._error_response(f.error_status)
        return None


def install(app: Flask, injector: FaultInjector, reset_state) -> None:
    """Wire fault injection and the control endpoints into an emulator app.

    ``reset_state`` is called by ``POST /_emulator/reset`` to clear the emulator's data.
    """
    app.before_request(injector.before_request)

    @app.post(CONTROL_PREFIX + "faults")
    def emulator_faults():
        try:
            faults = injector.configure(request.get_json(force=True) or {})
        except (TypeError, ValueError) as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(faults.__dict__)

    @app.post(CONTROL_PREFIX + "reset")
    def emulator_reset():
        injector.reset()
        reset_state()
        return jsonify(ok=True)

    @app.get(CONTROL_PREFIX + "calls")
    def emulator_calls():
        return jsonify(injector.calls)
