"""Every registered type's declaration is complete and consistent, so the catalogue cannot grow a type
that half works. Reads the registry: adding a type adds its cases here without editing this file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.services import connectors as store
from app.types import all_types
from app.types.fields import form_fields
from app.types.kit import EXAMPLE_CASE, ConnectorType, InvalidSettings, SubActionParams, url_fields
from app.web.widgets import WIDGETS
from tests.type_examples import local_example, slug

TESTS = Path(__file__).resolve().parent
TYPES = all_types()
ids = [t.id for t in TYPES]


@pytest.mark.parametrize("ctype", TYPES, ids=ids)
def test_declaration_names_the_type(ctype: ConnectorType):
    assert ctype.id.startswith(".") and ctype.name.strip() and ctype.description.strip()
    assert ctype.minimum_license_required in ("basic", "standard", "gold", "platinum", "enterprise")
    assert ctype.supported_feature_ids


@pytest.mark.parametrize("ctype", TYPES, ids=ids)
def test_example_connector_is_valid(ctype: ConnectorType):
    config, secrets = ctype.validate_connector(ctype.example["config"], ctype.example["secrets"], allowed_hosts=("*",))
    assert config is not None and secrets is not None


@pytest.mark.parametrize("ctype", TYPES, ids=ids)
def test_url_fields_are_checked_against_the_allowed_hosts(ctype: ConnectorType):
    config, secrets = local_example(ctype, "http://127.0.0.1:9/")
    urls = [f"config.{k}" for k in url_fields(ctype.config)] + [f"secrets.{k}" for k in url_fields(ctype.secrets)]
    if not urls:
        pytest.skip(f"{ctype.id} has no URL fields")
    with pytest.raises(InvalidSettings) as refused:
        ctype.validate_connector(config, secrets, allowed_hosts=("allowed.example",))
    assert set(urls) & set(refused.value.errors)
    assert "not in the allowed hosts list" in " ".join(refused.value.errors.values())


@pytest.mark.parametrize("ctype", TYPES, ids=ids)
def test_an_unparseable_url_is_refused_in_the_types_own_words(ctype: ConnectorType):
    keys = url_fields(ctype.config)
    if not keys:
        pytest.skip(f"{ctype.id} has no URL in its config")
    config, secrets = local_example(ctype, "http://127.0.0.1:9/")
    with pytest.raises(InvalidSettings) as refused:
        ctype.validate_connector({**config, keys[0]: "not a url"}, secrets)
    assert refused.value.errors[f"config.{keys[0]}"].startswith(f"{ctype.config_error_prefix}: unable to parse url")


@pytest.mark.parametrize("ctype", TYPES, ids=ids)
def test_test_params_are_valid(ctype: ConnectorType):
    name, params = ctype.parse_params(ctype.test_params, "c-1", "check")
    assert (name is None) == (not ctype.sub_actions)
    assert params is not None


@pytest.mark.parametrize("ctype", TYPES, ids=ids)
def test_every_sub_action_has_a_handler_and_a_valid_example(ctype: ConnectorType):
    if not ctype.sub_actions:
        assert type(ctype).execute is not ConnectorType.execute, f"{ctype.id} declares neither execute() nor sub-actions"
        assert ctype.params is not SubActionParams
        return
    for name, spec in {**ctype.sub_actions, **ctype.lookups}.items():
        assert callable(getattr(ctype, spec.handler, None)), f"{ctype.id}: {name} has no handler {spec.handler}"
    for name, spec in ctype.sub_actions.items():
        assert spec.example is not None, f"{ctype.id}: sub-action {name} has no example"
        ctype.parse_params({"subAction": name, "subActionParams": spec.example})


@pytest.mark.parametrize("ctype", TYPES, ids=ids)
def test_a_type_that_takes_cases_turns_one_into_valid_push_params(ctype: ConnectorType):
    """A case pushed with the type's default case fields is a `pushToService` the type accepts."""
    assert ("pushToService" in ctype.sub_actions) == (ctype.case_fields is not None), (
        f"{ctype.id}: a type with pushToService declares case_fields, and only such a type")
    if ctype.case_fields is None:
        return
    incident = ctype.case_incident(EXAMPLE_CASE, ctype.case_fields())
    assert isinstance(incident, dict) and incident
    for external_id in (None, "EXT-1"):
        params = {"incident": {**incident, "externalId": external_id}, "comments": [{"commentId": "c1", "comment": "x"}]}
        name, _ = ctype.parse_params({"subAction": "pushToService", "subActionParams": params})
        assert name == "pushToService"


@pytest.mark.parametrize("ctype", TYPES, ids=ids)
def test_every_field_has_a_label_and_a_registered_widget(ctype: ConnectorType):
    models = [ctype.config, ctype.secrets, ctype.params, *(s.params for s in ctype.sub_actions.values())]
    for model in models:
        for field in form_fields(model):
            assert field.label.strip(), f"{ctype.id}.{field.key} needs a label"
            assert field.widget in WIDGETS, f"{ctype.id}.{field.key}: widget {field.widget!r} is not registered"


@pytest.mark.parametrize("ctype", TYPES, ids=ids)
def test_show_when_follows_fields_that_exist(ctype: ConnectorType):
    sections = {"config": ctype.config, "secrets": ctype.secrets}
    models = [*sections.values(), ctype.params, *(s.params for s in ctype.sub_actions.values())]
    for model in models:
        for field in form_fields(model):
            for name in field.show_when or {}:
                section, _, key = name.rpartition(".")
                follows = sections[section] if section else model
                assert key in follows.model_fields, f"{ctype.id}.{field.key} follows {name}, which does not exist"


@pytest.mark.parametrize("ctype", TYPES, ids=ids)
def test_type_has_a_test_module_backed_by_a_fake(ctype: ConnectorType):
    module = TESTS / f"test_type_{slug(ctype)}.py"
    assert module.is_file(), f"{ctype.id} needs its test module {module.name}"
    if not ctype.calls_out:
        return
    imported = {
        node.module for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    fakes = {name for name in imported if name.startswith("tests.fakes.")}
    assert fakes, f"{module.name} tests {ctype.id} against no fake from tests/fakes/"


@pytest.mark.parametrize("ctype", TYPES, ids=ids)
def test_forms_and_pages_render_for_the_example(app, web, ctype: ConnectorType):
    form = web.get(f"/connectors/new/{ctype.id}")
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    for section, model in (("config", ctype.config), ("secrets", ctype.secrets)):
        for field in form_fields(model, secret=section == "secrets"):
            assert f'{section}.{field.key}' in page, f"the form lacks {section}.{field.key}"
    config, secrets = local_example(ctype, "http://127.0.0.1:9/")
    with app.app_context():
        connector_id = store.create(ctype.id, f"Example {ctype.name}", config, secrets).id
    for url in (f"/connectors/{connector_id}", f"/connectors/{connector_id}/edit"):
        assert web.get(url).status_code == 200, url


@pytest.mark.parametrize("ctype", TYPES, ids=ids)
def test_a_refused_secret_is_never_quoted_in_its_error(ctype: ConnectorType):
    config, secrets = local_example(ctype, "http://127.0.0.1:9/")
    for key in url_fields(ctype.secrets):  # a secret URL (Slack's, Teams') that does not parse
        bad = {**secrets, key: "hooks.example.com/services/T0/B0/not-a-url-secret-xyz"}
        with pytest.raises(InvalidSettings) as refused:
            ctype.validate_connector(config, bad)
        assert "not-a-url-secret-xyz" not in str(refused.value.errors)
