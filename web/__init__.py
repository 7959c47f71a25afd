"""Request-level plumbing shared by every blueprint: htmx rendering, security, menu."""
