"""Marketing lists: filters, membership, the sending set, and list management."""
