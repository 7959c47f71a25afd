"""Models, one module per area; importing this package registers them all."""

from models.jobs import JobRun
from models.jobs import JobStatus
from models.settings import Setting
from models.users import LoginAttempt
from models.users import Role
from models.users import User

__all__ = ["JobRun", "JobStatus", "LoginAttempt", "Role", "Setting", "User"]
