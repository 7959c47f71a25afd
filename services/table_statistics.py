"""Fresh planner statistics for a table a long job is filling.

A job that writes thousands of rows into a table that was empty when PostgreSQL last
analyzed it gets its later statements planned as if the table were still tiny: lookups
by a list of ids become scans of every row, and the job slows as it grows. Autovacuum
analyzes too late for a run that lasts seconds or minutes. ANALYZE each time the run
has doubled the rows it wrote keeps the plans right for a handful of ANALYZEs a run.
(ANALYZE needs the table's owner; for anyone else PostgreSQL skips it with a warning.)
"""

from __future__ import annotations

from sqlalchemy import text

from extensions import db


class GrowthAnalyzer:
    def __init__(self, table_name: str, floor: int = 500):
        self.table_name = table_name
        self.floor = floor
        self.written = 0  # rows this run wrote into the table
        self.analyzed_at = 0  # ... when it last analyzed it

    def wrote(self, rows: int) -> None:
        """Count ``rows`` more (already committed); ANALYZE when the count has doubled."""
        self.written += rows
        if db.engine.dialect.name != "postgresql" or self.written < 2 * max(
                self.analyzed_at, self.floor):
            return
        db.session.execute(text(f'ANALYZE "{self.table_name}"'))
        db.session.commit()
        self.analyzed_at = self.written
