"""Records > Leads."""

from blueprints.records import make_blueprint

bp = make_blueprint("lead", ("name", "email", "phone", "company", "source", "status",
                             "created_at"))
