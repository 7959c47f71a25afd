"""Remote API clients and sync: the shared HTTP base (http.py), Dotdigital and Mailchimp."""
