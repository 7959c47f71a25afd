"""Feature switches for blueprints: a switched-off area answers 404."""

from __future__ import annotations

from flask import Blueprint
from flask import abort

from services import settings


def require_feature(blueprint: Blueprint, feature: str) -> None:
    @blueprint.before_request
    def _feature_guard():
        if not settings.feature_enabled(feature):
            abort(404)
