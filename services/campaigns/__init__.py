"""Marketing campaigns: saving with code history, merging, and the lookups tracking needs."""
