"""ServiceNow: ITSM `.servicenow`, SecOps `.servicenow-sir` and ITOM `.servicenow-itom` (connector-types.md §12–14).

- `schemas`: the config and secrets the three share, with Kibana's cross-field rules;
- `client`: the ServiceNow API as Kibana's shared service calls it (auth, paths, error texts);
- `incidents`: what ITSM and SecOps share (pushToService, getFields, getIncident, getChoices);
- `itsm`, `sir`, `itom`: one package per type, each with the views of its choice pickers (built by the shared `views`).
"""
