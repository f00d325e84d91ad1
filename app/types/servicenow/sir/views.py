"""The pickers' choices for .servicenow-sir, served under /types/.servicenow-sir/ (app/types/servicenow/pickers.py)."""

from app.types.servicenow.pickers import blueprint

bp = blueprint("servicenow_sir", ".servicenow-sir")
