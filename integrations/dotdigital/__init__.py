"""Dotdigital: API v2 client, address books, data fields and mappings, list sync."""
