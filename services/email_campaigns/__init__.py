"""Email templates, email campaigns, their SMTP sending and statistics."""
