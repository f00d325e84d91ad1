"""The pickers' choices for .servicenow-itom, served under /types/.servicenow-itom/ (app/types/servicenow/pickers.py)."""

from app.types.servicenow.pickers import blueprint

bp = blueprint("servicenow_itom", ".servicenow-itom")
