"""The OpenAPI documents in ``api/`` are valid OpenAPI 3 (``openapi-spec-validator``), the
subscriptions one with its ``$ref``s into the check's document resolved from its own file, and
they declare what CAMARA's event guide requires of a subscriptions API (the responses
CAMARA wants described, the sink's responses to a callback, the ``x-correlator`` header, the
sentence on ``accessTokenExpiresUtc``, CAMARA's error codes).

A stray quote once made ``fraud-hotzone-alert.yaml`` invalid (``type: integer"``) and nothing
noticed: this test is that check.
"""

from __future__ import annotations

import pytest

# openapi-spec-validator (scripts/test installs it; PyYAML comes with it): without it this
# module fails to import, naming what is missing.
import yaml
from openapi_spec_validator import validate

from conftest import ROOT

API = ROOT / "api"
CHECK = API / "fraud-hotzone-alert.yaml"
SUBSCRIPTIONS = API / "fraud-hotzone-alert-subscriptions.yaml"

# CAMARA_event_common.yaml / the event guide, §3.4 Note3: this sentence MUST be in the
# documentation of `accessTokenExpiresUtc` of an explicit subscription.
TOKEN_SENTENCE = (
    "An absolute (UTC) timestamp at which the token shall be considered expired. In the case "
    "of an ACCESS_TOKEN_EXPIRED termination reason, implementation SHOULD notify the client "
    "before the expiration date."
)


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize("path", [CHECK, SUBSCRIPTIONS], ids=lambda p: p.name)
def test_the_document_is_valid_openapi(path):
    # The base URI is the file's own: the subscriptions document's
    # "./fraud-hotzone-alert.yaml#/..." references are resolved and validated too.
    validate(load(path), base_uri=path.as_uri())


def codes(response):
    """The `code` enum of an error response (its allOf's second part)."""
    schema = response["content"]["application/json"]["schema"]
    for part in schema.get("allOf", [schema]):
        code = part.get("properties", {}).get("code", {})
        if "enum" in code:
            return set(code["enum"])
    return set()


def test_rest_timeouts_are_camaras_timeout():
    spec = load(CHECK)
    assert codes(spec["components"]["responses"]["Generic504"]) == {"TIMEOUT"}


def test_subscription_refusals_carry_camaras_codes():
    spec = load(SUBSCRIPTIONS)
    responses = spec["components"]["responses"]
    post = spec["paths"]["/subscriptions"]["post"]["responses"]
    assert post["400"]["$ref"].endswith("/CreateSubscriptionBadRequest400")
    assert post["422"]["$ref"].endswith("/CreateSubscriptionUnprocessableEntity422")
    bad = responses["CreateSubscriptionBadRequest400"]
    assert codes(bad) >= {
        "INVALID_ARGUMENT",
        "INVALID_PROTOCOL",
        "INVALID_CREDENTIAL",
        "INVALID_TOKEN",
        "INVALID_SINK",
    }
    # Every code has an example, and each example's code is declared.
    examples = bad["content"]["application/json"]["examples"]
    assert {e["value"]["code"] for e in examples.values()} <= codes(bad)
    assert codes(bad) - {"OUT_OF_RANGE"} <= set(examples)
    assert codes(responses["CreateSubscriptionUnprocessableEntity422"]) == {
        "MULTIEVENT_SUBSCRIPTION_NOT_SUPPORTED",
        "PRIVATE_KEY_JWT_NOT_CONFIGURED",
    }


def test_the_responses_camara_requires_are_described():
    spec = load(SUBSCRIPTIONS)
    subs = spec["paths"]["/subscriptions"]
    one = spec["paths"]["/subscriptions/{subscriptionId}"]
    # Event guide §3.1: POST describes 201 and 202, DELETE 202 and 204.
    assert {"201", "202"} <= set(subs["post"]["responses"])
    # §2.2.4: POST describes 400, 401, 403, 409 and 429.
    assert {"400", "401", "403", "409", "429"} <= set(subs["post"]["responses"])
    assert {"202", "204"} <= set(one["delete"]["responses"])
    # §3.5: the sink's answers to a callback.
    (callback,) = subs["post"]["callbacks"]["notifications"].values()
    assert {"400", "401", "403", "410", "429"} <= set(callback["post"]["responses"])
    # Every success response declares the x-correlator it echoes.
    successes = [
        subs["post"]["responses"]["201"],
        subs["post"]["responses"]["202"],
        subs["get"]["responses"]["200"],
        one["get"]["responses"]["200"],
        one["delete"]["responses"]["202"],
        one["delete"]["responses"]["204"],
    ]
    for r in successes:
        assert "x-correlator" in r.get("headers", {}), r["description"]


def test_access_token_expires_utc_carries_camaras_sentence():
    spec = load(SUBSCRIPTIONS)
    field = spec["components"]["schemas"]["AccessTokenCredential"]["properties"]["accessTokenExpiresUtc"]
    assert TOKEN_SENTENCE in " ".join(field["description"].split())


def test_a_private_key_jwt_credential_is_in_the_schema_the_422_answers():
    """A client or gateway validating requests against the document can send the
    PRIVATE_KEY_JWT credential whose 422 the document describes."""
    spec = load(SUBSCRIPTIONS)
    schemas = spec["components"]["schemas"]
    kinds = [schemas[ref["$ref"].rsplit("/", 1)[1]] for ref in schemas["SinkCredential"]["oneOf"]]
    types = sorted(t for k in kinds for t in k["properties"]["credentialType"]["enum"])
    assert types == ["ACCESSTOKEN", "PRIVATE_KEY_JWT"]
    jwt = next(k for k in kinds if k["properties"]["credentialType"]["enum"] == ["PRIVATE_KEY_JWT"])
    assert jwt["required"] == ["credentialType"]
    assert "PRIVATE_KEY_JWT_NOT_CONFIGURED" in open(SUBSCRIPTIONS).read()


def test_http_settings_are_camaras_and_echoed():
    spec = load(SUBSCRIPTIONS)
    schemas = spec["components"]["schemas"]
    request = schemas["SubscriptionRequest"]["properties"]["protocolSettings"]
    assert request["allOf"][0]["$ref"].endswith("/HTTPSettings")
    assert schemas["Subscription"]["properties"]["protocolSettings"]["$ref"].endswith(
        "/HTTPSettings"
    )
    settings = schemas["HTTPSettings"]
    assert settings["properties"]["method"]["enum"] == ["POST"]
    assert settings["properties"]["headers"]["additionalProperties"]["maxLength"] == 512
