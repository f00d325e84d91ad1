"""The pickers' choices for .servicenow, served under /types/.servicenow/ (app/types/servicenow/pickers.py)."""

from app.types.servicenow.pickers import blueprint

bp = blueprint("servicenow_itsm", ".servicenow")
