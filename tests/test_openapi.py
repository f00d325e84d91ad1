"""The OpenAPI document: valid, complete, secret-free in responses, and true — schemathesis checks the app
against its own document, in-process, bounded in examples and time."""

from __future__ import annotations

import base64
import os
import re
import socket
from collections import Counter
from functools import cache
from itertools import islice
from typing import Any

import hypothesis
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from app.api import openapi
from app.db import db
from app.services import accounts
from app.services import connectors as store
from app.settings import FileConfig, OutboundSettings, PreconfiguredConnector
from app.types import all_types
from tests.conftest import make_app
from tests.type_examples import seeds

REF = openapi.REF


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi.build_document()


def _schemas(doc):
    return doc["components"]["schemas"]


def _validator(doc, component: str):
    return jsonschema_rs.Draft202012Validator({"$ref": REF + component, "components": doc["components"]})


def _refs(node: Any):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _reachable(doc, node: Any) -> set[str]:
    """Component schema names reachable from `node`, following refs (responses and parameters too)."""
    seen: set[str] = set()
    todo = [node]
    while todo:
        for ref in _refs(todo.pop()):
            kind, name = ref.split("/")[2], ref.split("/")[3]
            if kind == "schemas" and name not in seen:
                seen.add(name)
                todo.append(doc["components"]["schemas"][name])
            elif kind == "responses":
                todo.append(doc["components"]["responses"][name])
    return seen


def _operations(doc):
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            yield path, method, op


# ---- the document is valid OpenAPI ----------------------------------------------------------------


def test_the_document_validates_against_the_openapi_3_1_schema(doc):
    assert doc["openapi"].startswith("3.1")
    OPENAPI_31_VALIDATOR.validate(doc)
    broken = {**doc, "paths": {"/x": {"get": {"responses": {"200": {}}}}}}  # a response needs a description
    with pytest.raises(jsonschema_rs.ValidationError):
        OPENAPI_31_VALIDATOR.validate(broken)


def test_every_ref_resolves_and_every_component_is_a_valid_json_schema(doc):
    for ref in _refs(doc):
        assert ref.startswith("#/components/"), ref
        _, _, kind, name = ref.split("/")
        assert name in doc["components"][kind], ref
    for name, schema in _schemas(doc).items():
        jsonschema_rs.meta.validate(schema)  # raises on an invalid schema
        assert not any(k for k in _walk_keys(schema) if k in ("widget", "placeholder", "help")), name
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in _schemas(doc))


def _walk_keys(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "properties":
                yield key
            yield from _walk_keys(value if key != "properties" else list(value.values()))
    elif isinstance(node, list):
        for value in node:
            yield from _walk_keys(value)


def test_operation_ids_are_unique_and_every_operation_documents_auth_errors(doc):
    ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(ids) == len(set(ids))
    for path, method, op in _operations(doc):
        assert "401" in op["responses"], (method, path)
        xsrf = [p for p in op.get("parameters", []) if p.get("$ref") == "#/components/parameters/kbn_xsrf"]
        assert bool(xsrf) == (method != "get"), (method, path)
        if method != "get":
            assert "400" in op["responses"]
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                assert response == {"$ref": f"#/components/responses/{code}"}, (method, path, code)
    assert doc["components"]["parameters"]["kbn_xsrf"]["required"] is True
    for code, response in doc["components"]["responses"].items():
        assert response["content"]["application/json"]["schema"] == {"$ref": REF + "error_response"}, code
    assert _schemas(doc)["error_response"]["required"] == ["statusCode", "error", "message"]


def test_security_schemes_name_the_real_header(doc):
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKeyAuth"] == {**schemes["apiKeyAuth"], "type": "apiKey", "in": "header", "name": "Authorization"}
    assert "ApiKey " in schemes["apiKeyAuth"]["description"]
    assert schemes["basicAuth"]["type"] == "http" and schemes["basicAuth"]["scheme"] == "basic"
    assert doc["security"] == [{"apiKeyAuth": []}, {"basicAuth": []}]


def _flask_to_openapi(rule: str) -> str:
    return rule.replace("<space_id>", "{spaceId}").replace("<connector_id>", "{connectorId}")


def test_every_api_route_is_documented_and_nothing_else(app, doc):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((_flask_to_openapi(rule.rule), method.lower()))
    documented = {(path, method) for path, method, _ in _operations(doc)}
    assert routes == documented
    assert ("/api/openapi.json", "get") in documented and ("/s/{spaceId}/api/openapi.json", "get") in documented
    for path, method, op in _operations(doc):
        if path.startswith("/s/{spaceId}"):
            twin = doc["paths"][path.removeprefix("/s/{spaceId}")][method]
            assert op["operationId"] == twin["operationId"] + "WithSpaceId"
            assert op["parameters"][0] == {"$ref": "#/components/parameters/space_id"}
            assert "404" in op["responses"]


# ---- every type, from the registry -----------------------------------------------------------------


def test_every_registered_type_has_its_components_and_is_in_every_union(doc):
    schemas = _schemas(doc)
    types = all_types()
    assert types
    create = schemas["create_connector_request"]
    response = schemas["connector_response"]
    for t in types:
        p = openapi.type_prefix(t)
        for role in ("config", "secrets", "params", "create_connector_request", "update_connector_request",
                     "connector_response"):
            assert f"{p}_{role}" in schemas, (t.id, role)
        assert create["discriminator"]["mapping"][t.id] == REF + f"{p}_create_connector_request"
        assert response["discriminator"]["mapping"][t.id] == REF + f"{p}_connector_response"
        assert {"$ref": REF + f"{p}_params"} in schemas["execute_connector_request"]["properties"]["params"]["anyOf"]
        assert {"$ref": REF + f"{p}_update_connector_request"} in schemas["update_connector_request"]["anyOf"]
        # The config's fields are the model's fields (one declaration).
        assert set(schemas[f"{p}_config"].get("properties", {})) == set(t.config.model_fields)
        assert set(schemas[f"{p}_secrets"].get("properties", {})) == set(t.secrets.model_fields)
    assert schemas["connector_type_id"]["enum"] == [t.id for t in types]
    assert [f["id"] for f in doc["x-connector-types"]] == [t.id for t in types]


def test_discriminator_mappings_point_at_branches_that_fix_the_property(doc):
    schemas = _schemas(doc)
    found = 0
    for name, schema in schemas.items():
        if "discriminator" not in schema:
            continue
        found += 1
        prop = schema["discriminator"]["propertyName"]
        mapping = schema["discriminator"]["mapping"]
        assert sorted(mapping.values()) == sorted(b["$ref"] for b in schema["oneOf"]), name
        for value, ref in mapping.items():
            branch = schemas[ref.removeprefix(REF)]
            assert prop in branch["required"]
            assert branch["properties"][prop]["enum"] == [value], (name, value)
    assert found >= 3  # create request, connector response, and each sub-action type's params


def test_sub_action_params_are_a_union_over_sub_actions(doc):
    schemas = _schemas(doc)
    for t in all_types():
        if not t.sub_actions:
            continue
        p = openapi.type_prefix(t)
        params = schemas[f"{p}_params"]
        assert set(params["discriminator"]["mapping"]) == set(t.sub_actions)
        for sub_name, sub in t.sub_actions.items():
            branch = schemas[params["discriminator"]["mapping"][sub_name].removeprefix(REF)]
            assert branch["properties"]["subAction"] == {**branch["properties"]["subAction"], "enum": [sub_name]}
            target = schemas[branch["properties"]["subActionParams"]["$ref"].removeprefix(REF)]
            assert set(target["properties"]) == set(sub.params.model_fields)


def test_secrets_appear_in_request_bodies_and_never_in_responses(doc):
    secret_components = {f"{openapi.type_prefix(t)}_secrets" for t in all_types()}
    in_requests: set[str] = set()
    for path, method, op in _operations(doc):
        for code, response in op["responses"].items():
            reachable = _reachable(doc, response)
            assert not reachable & secret_components, (method, path, code)
            for name in reachable:
                assert "secrets" not in _schemas(doc)[name].get("properties", {}), (method, path, code, name)
        in_requests |= _reachable(doc, op.get("requestBody", {}))
    assert secret_components <= in_requests
    for t in all_types():
        request = _schemas(doc)[f"{openapi.type_prefix(t)}_create_connector_request"]
        assert request["properties"]["secrets"]["writeOnly"] is True


def test_connector_and_execute_responses_list_kibanas_fields(doc):
    schemas = _schemas(doc)
    for t in all_types():
        props = schemas[f"{openapi.type_prefix(t)}_connector_response"]["properties"]
        assert set(props) == {"id", "name", "connector_type_id", "config", "is_preconfigured", "is_deprecated",
                              "is_missing_secrets", "is_system_action", "is_connector_type_deprecated",
                              "referenced_by_count"}
    execute = schemas["execute_connector_response"]["properties"]
    assert set(execute) == {"connector_id", "status", "data", "message", "service_message", "retry"}
    assert execute["status"]["enum"] == ["ok", "error"]
    assert set(execute["retry"]["type"]) == {"boolean", "string", "null"}


def test_every_example_matches_its_schema(doc):
    checked = 0
    for _path, _method, op in _operations(doc):
        for _media, content in op.get("requestBody", {}).get("content", {}).items():
            schema = content["schema"]["$ref"].removeprefix(REF)
            for _name, example in content.get("examples", {}).items():
                _validator(doc, schema).validate(example["value"])
                checked += 1
    assert checked > 0
    # Every type has a create example, so the docs page can show one.
    create = doc["paths"]["/api/actions/connector"]["post"]["requestBody"]["content"]["application/json"]
    assert set(create["examples"]) == {openapi.type_prefix(t) for t in all_types()}


def _admin_headers(app) -> dict[str, str]:
    with app.app_context():
        encoded = accounts.create_api_key("openapi test", "admin", None).encoded
    return {"Authorization": f"ApiKey {encoded}", "kbn-xsrf": "true"}


def test_the_create_examples_work_against_the_api(app, doc):
    client, headers = app.test_client(), _admin_headers(app)
    create = doc["paths"]["/api/actions/connector"]["post"]["requestBody"]["content"]["application/json"]
    for name, example in create["examples"].items():
        response = client.post("/api/actions/connector", json=example["value"], headers=headers)
        assert response.status_code == 200, (name, response.get_json())
        assert "secrets" not in response.get_json()
        _validator(doc, "connector_response").validate(response.get_json())


def _documented(doc, method: str, path: str, response) -> None:
    """The status is documented for the operation and the body has the documented shape."""
    op = doc["paths"][path][method]
    code = str(response.status_code)
    assert code in op["responses"], (method, path, code, response.get_data(as_text=True)[:300])
    documented = op["responses"][code]
    if "$ref" in documented:
        documented = doc["components"]["responses"][documented["$ref"].rsplit("/", 1)[1]]
    schema = documented["content"]["application/json"]["schema"]
    jsonschema_rs.Draft202012Validator({**schema, "components": doc["components"]}).validate(response.get_json())


def test_each_documented_error_is_what_the_api_answers(app, doc):
    client, admin = app.test_client(), _admin_headers(app)
    with app.app_context():
        viewer = {"Authorization": "ApiKey " + accounts.create_api_key("viewer", "viewer", None).encoded}
    body = {"name": "log", "connector_type_id": ".server-log"}
    create, one = "/api/actions/connector", "/api/actions/connector/{connectorId}"
    cases = [
        ("post", create, client.post(create, json=body, headers={"Authorization": admin["Authorization"]}), 400),
        ("post", create, client.post(create, json=body), 401),
        ("post", create, client.post(create, json=body, headers={**viewer, "kbn-xsrf": "true"}), 403),
        ("post", create, client.post(create, data=b"x" * (5 * 1024 * 1024), headers=admin,
                                     content_type="application/json"), 413),
        ("get", one, client.get("/api/actions/connector/nope", headers=admin), 404),
        ("post", one, client.post("/api/actions/connector/preconfigured-x", json=body, headers=admin), 200),
        ("post", one, client.post("/api/actions/connector/preconfigured-x", json=body, headers=admin), 409),
    ]
    for method, path, response, status in cases:
        assert response.status_code == status, (method, path, response.get_data(as_text=True)[:200])
        if status != 200:
            _documented(doc, method, path, response)
    wrong = "Basic " + base64.b64encode(b"admin:wrong-password").decode()
    statuses = [client.get("/api/actions/connectors", headers={"Authorization": wrong}) for _ in range(7)]
    assert statuses[0].status_code == 401 and statuses[-1].status_code == 429
    _documented(doc, "get", "/api/actions/connectors", statuses[-1])


def test_export_flags_must_be_booleans_as_documented(app, doc):
    # Found by schemathesis' negative_data_rejection check: "true" (a string) was silently read as false.
    client, admin = app.test_client(), _admin_headers(app)
    for flag in ("excludeExportDetails", "includeReferencesDeep"):
        response = client.post("/api/saved_objects/_export", json={"type": ["action"], flag: "true"}, headers=admin)
        assert response.status_code == 400
        assert response.get_json()["message"] == f"[request body.{flag}]: expected value of type [boolean] but got [str]"
        _documented(doc, "post", "/api/saved_objects/_export", response)
        ok = client.post("/api/saved_objects/_export", json={"type": ["action"], flag: True}, headers=admin)
        assert ok.status_code == 200 and ok.mimetype == "application/ndjson"


# ---- served ---------------------------------------------------------------------------------------


def test_any_signed_in_principal_gets_the_document_at_both_paths(app, viewer, doc):
    for url in ("/api/openapi.json", "/s/default/api/openapi.json"):
        response = viewer.get(url)
        assert response.status_code == 200 and response.mimetype == "application/json"
        assert response.get_json() == doc
    with app.app_context():
        encoded = accounts.create_api_key("docs reader", "viewer", None).encoded
    response = app.test_client().get("/api/openapi.json", headers={"Authorization": f"ApiKey {encoded}"})
    assert response.status_code == 200
    anonymous = app.test_client().get("/api/openapi.json")
    assert anonymous.status_code == 401 and set(anonymous.get_json()) == {"statusCode", "error", "message"}
    assert app.test_client().get("/s/other/api/openapi.json", headers={
        "Authorization": f"ApiKey {encoded}"}).status_code == 404


def test_the_docs_page_renders_for_a_viewer(viewer, doc):
    response = viewer.get("/api-docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'href="/api/openapi.json"' in page
    assert 'href="/api-docs"' in page and 'aria-current="page">API</a>' in page  # the nav link
    for path, _method, op in _operations(doc):
        if not path.startswith("/s/"):
            assert f"<code>{path.replace('/', '/<wbr>')}</code>" in page, path
            assert f'id="op-{op["operationId"]}"' in page
    assert "Authorization: ApiKey $SWITCHBOARD_API_KEY" in page and "kbn-xsrf: true" in page
    for t in all_types():
        p = openapi.type_prefix(t)
        assert f'id="type-{p}"' in page
        for field in [*t.config.model_fields, *t.secrets.model_fields]:
            assert f"<code>{field}</code>" in page, (t.id, field)
        for sub_name in t.sub_actions:
            assert f'"subAction": "{sub_name}"' in page
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "duplicate element ids"
    for anchor in re.findall(r'href="#([^"]+)"', page):
        assert anchor in ids, anchor


def test_the_docs_page_needs_sign_in(app):
    response = app.test_client().get("/api-docs")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


# ---- schemathesis: the app against its own document ------------------------------------------------
#
# Driven through schemathesis' Python API (`from_wsgi`, `as_strategy`, `get_strategies_from_examples`,
# `iter_coverage_cases`, `call_and_validate`) under plain pytest parametrization, one test per operation.
# Its pytest plugin's lazy `from_fixture` loader reads `Function._nodeid`, which pytest 9 removed.

# Generated valid requests per operation; SWITCHBOARD_FUZZ_EXAMPLES=400 digs deeper (minutes, not seconds).
MAX_EXAMPLES = int(os.environ.get("SWITCHBOARD_FUZZ_EXAMPLES", "25"))
MAX_NEGATIVE = max(10, MAX_EXAMPLES // 2)  # invalid ones
MAX_COVERAGE_CASES = max(20, MAX_EXAMPLES)  # a spread-out sample of schemathesis' boundary cases
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
OPERATIONS = [(path, method.upper()) for path, methods in openapi.build_document()["paths"].items() for method in methods]


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released): runs there are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLOSED_PORT = _closed_port()
# Connectors the fuzzer's path parameters aim at half the time; recreated before each operation's run.
SEEDS = seeds(f"http://127.0.0.1:{CLOSED_PORT}/")
# The document's own example id; its examples are aimed at the seed of their type too.
DOCUMENTED_ID = openapi.build_document()["components"]["parameters"]["connector_id"]["example"]
SEED_OF_TYPE = {type_id: connector_id for connector_id, (type_id, _, _) in SEEDS.items()}
KNOWN_IDS = [*SEEDS, "preconfigured-log"]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    file_config = FileConfig(
        # Fuzzed connectors may point anywhere; only 127.0.0.1 is allowed, so no run leaves the machine.
        outbound=OutboundSettings(allowed_hosts=("127.0.0.1",), connect_timeout=1, read_timeout=1),
        preconfigured={"preconfigured-log": PreconfiguredConnector(name="Preconfigured log",
                                                                   connector_type_id=".server-log")},
    )
    app = make_app(tmp_path_factory.mktemp("fuzz"), file_config=file_config)
    with app.app_context():
        encoded = accounts.create_api_key("schemathesis", "admin", None).encoded
    yield app, encoded
    with app.app_context():
        db.engine.dispose()


def _seed(app) -> None:
    with app.app_context():
        for connector_id, (type_id, config, secrets) in SEEDS.items():
            if store.get(connector_id) is None:
                store.create(type_id, f"Fuzz {connector_id}", config, secrets, connector_id)


def _with_id(path_parameters: dict[str, Any], connector_id: str) -> dict[str, Any]:
    return {**path_parameters, "connectorId": connector_id}


@cache
def _shape_validators(kind: str) -> list[tuple[str, Any]]:
    """(type id, validator) for each type's update body (`update`) or run params (`params`)."""
    doc = openapi.build_document()
    suffix = "update_connector_request" if kind == "update" else "params"
    return [(t.id, _validator(doc, f"{openapi.type_prefix(t)}_{suffix}")) for t in all_types()]


def _aim(case, path: str, method: str) -> None:
    """A body of one type sent to a seeded connector of another type only tests the 400; aim it at its own."""
    current = (case.path_parameters or {}).get("connectorId")
    if current not in (*SEEDS, DOCUMENTED_ID) or not isinstance(case.body, dict):
        return
    if method == "PUT":
        kind, value = "update", case.body
    elif path.endswith("/_execute"):
        kind, value = "params", case.body.get("params")
    else:
        return
    for type_id, validator in _shape_validators(kind):
        if validator.is_valid(value):
            case.path_parameters["connectorId"] = SEED_OF_TYPE[type_id]
            return


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    app, encoded = fuzz_app
    headers = {"Authorization": f"ApiKey {encoded}"}
    # Credentials are ours (admin key), not generated from the security schemes.
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=config, headers=dict(headers))

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        # Half the time aim at a connector that exists, so get/update/delete/_execute do real work.
        creates = context.operation.method.lower() == "post" and context.operation.path.endswith("/{connectorId}")
        if not path_parameters or "connectorId" not in path_parameters or creates:
            return st.just(path_parameters)
        known = st.builds(_with_id, st.just(path_parameters), st.sampled_from(KNOWN_IDS))
        return st.one_of(st.just(path_parameters), known)

    return app, schema, {**headers, "kbn-xsrf": "true"}


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_the_api_keeps_its_own_document(api_schema, path, method):
    """Schemathesis, in-process against the WSGI app: the document's examples, a sample of its boundary
    ("coverage") cases, then generated valid and invalid requests. No 5xx, and every status code, content
    type and body as the document says."""
    app, schema, headers = api_schema
    _seed(app)
    operation = schema[path][method]
    spec = openapi.document()["paths"][path][method.lower()]
    statuses: Counter[int] = Counter()

    def call(case):
        _aim(case, path, method)
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        statuses[response.status_code] += 1

    def run(strategy, settings):
        @settings
        @hypothesis.given(strategy)
        def generated(case):
            call(case)

        generated()

    settings = hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests every run
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],  # no shrinking: report the first failure
        suppress_health_check=list(hypothesis.HealthCheck),  # slow or filtered draws are fine; the bound is ours
        print_blob=False,
    )
    examples = schema.get_strategies_from_examples(operation)
    if examples:
        run(st.one_of(examples), hypothesis.settings(settings, max_examples=4 * len(examples)))
    if path.startswith(openapi.SPACE_PREFIX):
        # The same views as the /api forms, which get the full run: check the prefix with a few valid requests.
        run(operation.as_strategy(generation_mode=GenerationMode.POSITIVE), hypothesis.settings(settings, max_examples=10))
    else:
        coverage = list(islice(schema.iter_coverage_cases(
            operation, generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=schema.config.generation_for(operation=operation),
        ), 5 * MAX_COVERAGE_CASES))
        for case in coverage[:: max(1, len(coverage) // MAX_COVERAGE_CASES)][:MAX_COVERAGE_CASES]:
            call(case)
        run(operation.as_strategy(generation_mode=GenerationMode.POSITIVE), settings)
        if "requestBody" in spec or any(p.get("in") == "query" for p in spec.get("parameters", [])):
            # Invalid bodies and queries; paths and headers are plain strings here, so nothing to break there.
            run(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
                hypothesis.settings(settings, max_examples=MAX_NEGATIVE))

    # The run was real: authenticated throughout, and (for the full /api runs) the operation succeeded at
    # least once. Ten draws for a /s/ twin need not hit a seeded connector with a body of its type.
    assert not statuses.keys() & {401, 403}, statuses
    if not path.startswith(openapi.SPACE_PREFIX):
        assert any(200 <= code < 300 for code in statuses), statuses
