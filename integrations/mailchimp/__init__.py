"""Mailchimp: Marketing API v3 client, audiences and merge fields, segment sync, imports."""
