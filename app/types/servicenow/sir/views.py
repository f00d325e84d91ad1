"""The pickers' choices for .servicenow-sir, served under /types/.servicenow-sir/ (app/types/servicenow/views.py)."""

from app.types.servicenow.views import blueprint

bp = blueprint("servicenow_sir", ".servicenow-sir")
