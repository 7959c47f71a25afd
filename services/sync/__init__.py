"""Generic list-sync machinery shared by the integrations: plans, cursors, run bookkeeping."""
