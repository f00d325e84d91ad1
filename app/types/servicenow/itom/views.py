"""The pickers' choices for .servicenow-itom, served under /types/.servicenow-itom/ (app/types/servicenow/views.py)."""

from app.types.servicenow.views import blueprint

bp = blueprint("servicenow_itom", ".servicenow-itom")
