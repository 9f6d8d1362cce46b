"""DatabaseTlsVerified: a database client (function or container) must be given a CA bundle, and no marker accepting
an unverified connection. Templates written as CloudFormation JSON: the rule reads nothing CDK-specific."""

from __future__ import annotations

from regiongate.residency.rules import database_tls_verified
from tests.fixtures.residency import EU, failing, passing

HOST = {"Fn::GetAtt": ["AuditStore1234", "Endpoint.Address"]}


def function(variables: dict) -> dict:
    return {
        "Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": variables}}}}
    }


def task(environment: list[dict]) -> dict:
    return {
        "Resources": {
            "Task": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {"ContainerDefinitions": [{"Name": "app", "Environment": environment}]},
            }
        }
    }


def test_a_function_with_a_database_host_and_no_ca_bundle_fails():
    details = failing(
        database_tls_verified.check, function({"DB_HOST": HOST, "DB_NAME": "x"}), EU, "AWS::Lambda::Function"
    )
    assert (
        "Properties/Environment/Variables: DB_HOST is set but no CA bundle (DB_CA_BUNDLE or PGSSLROOTCERT)" in details
    )


def test_an_acknowledged_unverified_marker_fails_even_without_a_ca_variable():
    template = function({"DB_HOST": HOST, "DB_TLS": "unverified-acknowledged"})
    details = failing(database_tls_verified.check, template, EU, "AWS::Lambda::Function")
    assert "Properties/Environment/Variables/DB_TLS: DB_TLS=unverified-acknowledged" in details
    assert "not verified" in details


def test_a_container_with_pgsslmode_require_fails():
    template = task(
        [
            {"Name": "PGHOST", "Value": "db"},
            {"Name": "PGSSLROOTCERT", "Value": "/ca.pem"},
            {"Name": "PGSSLMODE", "Value": "require"},
        ]
    )
    details = failing(database_tls_verified.check, template, EU, "AWS::ECS::TaskDefinition")
    assert "ContainerDefinitions/0/Environment/PGSSLMODE: PGSSLMODE=require" in details


def test_clients_given_a_ca_bundle_pass():
    passing(
        database_tls_verified.check,
        function({"DB_HOST": HOST, "DB_CA_BUNDLE": "/var/task/regiongate/store/rds-ca/global-bundle.pem"}),
        EU,
        "AWS::Lambda::Function",
    )
    passing(
        database_tls_verified.check,
        task([{"Name": "DB_HOST", "Value": "db"}, {"Name": "DB_CA_BUNDLE", "Value": "/app/ca.pem"}]),
        EU,
        "AWS::ECS::TaskDefinition",
    )
    passing(
        database_tls_verified.check,
        function({"DATABASE_URL": "postgresql://u@db/x?sslmode=verify-full&sslrootcert=/ca.pem"}),
        EU,
        "AWS::Lambda::Function",
    )


def test_a_function_that_is_no_database_client_passes():
    passing(database_tls_verified.check, function({"AUDIT_QUEUE_URL": "https://sqs"}), EU, "AWS::Lambda::Function")
