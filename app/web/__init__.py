"""Web pages and HTMX fragments, one blueprint module per area."""
