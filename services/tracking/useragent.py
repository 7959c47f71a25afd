"""User-agent strings → client, OS and device, with ua-parser (cached: agents repeat)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse

_MOBILE_OS = {"Android", "iOS", "iPadOS", "Windows Phone", "BlackBerry OS", "KaiOS",
              "Firefox OS", "Tizen", "HarmonyOS"}
_BOT_WORDS = ("bot", "crawler", "spider", "slurp", "headless", "lighthouse")


@dataclass(frozen=True)
class Agent:
    client: str
    client_version: str
    os: str
    os_version: str
    device: str
    desktop: bool
    mobile: bool
    bot: bool


def _version(part) -> str:
    if part is None:
        return ""
    return ".".join(p for p in (part.major, part.minor) if p)[:32]


@lru_cache(maxsize=4096)
def parse_agent(user_agent: str) -> Agent:
    result = parse(user_agent or "")
    client = result.user_agent.family if result.user_agent else ""
    os_name = result.os.family if result.os else ""
    device = result.device.family if result.device else ""
    lowered = (user_agent or "").lower()
    bot = device == "Spider" or any(word in lowered for word in _BOT_WORDS)
    mobile = not bot and (os_name in _MOBILE_OS or "mobile" in lowered)
    desktop = not bot and not mobile and bool(os_name) and os_name != "Other"
    return Agent(client=(client or "")[:64], client_version=_version(result.user_agent),
                 os=(os_name or "")[:64], os_version=_version(result.os),
                 device=(device or "")[:64], desktop=desktop, mobile=mobile, bot=bot)
