"""The pickers' choices for .servicenow, served under /types/.servicenow/ (app/types/servicenow/views.py)."""

from app.types.servicenow.views import blueprint

bp = blueprint("servicenow_itsm", ".servicenow")
