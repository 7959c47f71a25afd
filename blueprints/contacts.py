"""Records > Contacts."""

from blueprints.records import make_blueprint

bp = make_blueprint("contact", ("first_name", "last_name", "email", "phone", "company",
                                "country", "city", "created_at"))
