"""Local stand-ins for the remote marketing APIs (Dotdigital v2, Mailchimp Marketing v3).

Each emulator is a small Flask app with in-memory state and fault injection. Tests,
benchmarks and the demo point the integrations' base URL at them.
"""
