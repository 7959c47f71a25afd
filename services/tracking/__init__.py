"""Website tracking: the snippet, the collector's hit parsing, ingestion and processing."""
