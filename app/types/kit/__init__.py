"""The type kit: everything a connector type module imports (DESIGN, "The shape of a type")."""
