"""``sizing.gateway_task_vcpus``: the config value (regions.yaml, tenant files), the task size it gives and the
number of server processes the gateway container reads from its environment (``REGIONGATE_GATEWAY_PROCESSES``)."""

from __future__ import annotations

import copy

import pytest
import yaml

from regiongate.config import tenants
from regiongate.config.regions import (
    DEFAULT_CONFIG_PATH,
    GATEWAY_TASK_VCPUS,
    ConfigError,
    Sizing,
    load_catalogue,
    parse_catalogue,
)
from regiongate.contract import environment
from regiongate.contract.environment import SettingsError
from regiongate.gateway.container_infrastructure import task_size
from tests.unit.contract.test_environment import container_environment

SHIPPED = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())

# Fargate's task CPU/memory combinations (MiB) for the CPU values offered (the Fargate task size table).
FARGATE_MEMORY = {
    1024: range(2048, 8192 + 1, 1024),
    2048: range(4096, 16384 + 1, 1024),
    4096: range(8192, 30720 + 1, 1024),
}


def with_vcpus(value) -> dict:
    data = copy.deepcopy(SHIPPED)
    data["regions"]["eu"].setdefault("sizing", {})["gateway_task_vcpus"] = value
    return data


def test_the_default_is_one_vcpu_as_shipped():
    assert Sizing().gateway_task_vcpus == 1
    assert {r.sizing.gateway_task_vcpus for r in load_catalogue().regions} == {1}


@pytest.mark.parametrize("vcpus", GATEWAY_TASK_VCPUS)
def test_a_region_may_choose_its_task_vcpus(vcpus):
    assert parse_catalogue(with_vcpus(vcpus)).region("eu").sizing.gateway_task_vcpus == vcpus


@pytest.mark.parametrize("value", [0, 3, 8, "2", True])
def test_other_vcpus_are_refused_naming_the_key_and_the_valid_values(value):
    with pytest.raises(ConfigError, match=r"regions\.eu\.sizing\.gateway_task_vcpus: .* valid: 1, 2, 4") as info:
        parse_catalogue(with_vcpus(value), "regions.yaml")
    assert info.value.key == "regions.eu.sizing.gateway_task_vcpus"


def test_a_tenant_file_may_set_it(tmp_path):
    catalogue = load_catalogue()
    path = tenants.tenant_path(tenants.DEFAULT_TENANTS_DIR, "acme")
    data = yaml.safe_load(path.read_text())
    assert data["sizing"]["gateway_task_vcpus"] == 1  # the shipped example spells the default out
    data["sizing"]["gateway_task_vcpus"] = 4
    assert tenants.parse_tenant(data, tmp_path / "acme.yaml", catalogue).region.sizing.gateway_task_vcpus == 4


@pytest.mark.parametrize("vcpus", GATEWAY_TASK_VCPUS)
def test_every_offered_task_size_is_a_fargate_combination_with_2_gib_per_vcpu(vcpus):
    cpu, memory = task_size(vcpus)
    assert (cpu, memory) == (1024 * vcpus, 2048 * vcpus)
    assert memory in FARGATE_MEMORY[cpu]


def test_a_task_size_that_is_not_offered_is_refused():
    with pytest.raises(ValueError, match="1, 2 or 4 vCPUs, got 3"):
        task_size(3)


# --- the environment contract -------------------------------------------------------------------------------


def test_without_the_variable_the_container_runs_one_process():
    assert environment.GATEWAY_PROCESSES not in container_environment()
    assert environment.GatewayContainerEnvironment.from_env(container_environment()).processes == 1


@pytest.mark.parametrize("processes", [1, 2, 4])
def test_what_the_construct_sets_is_what_the_container_reads(processes):
    env = {**container_environment(), **environment.gateway_processes_environment(processes)}
    assert env[environment.GATEWAY_PROCESSES] == str(processes)
    assert environment.GatewayContainerEnvironment.from_env(env).processes == processes


@pytest.mark.parametrize("value", ["0", "-1", "two", "65", "1.5", "\u0663"])
def test_a_number_of_processes_that_is_not_one_is_named(value):
    env = {**container_environment(), environment.GATEWAY_PROCESSES: value}
    with pytest.raises(SettingsError, match=rf"^{environment.GATEWAY_PROCESSES} must be a number of server processes"):
        environment.GatewayContainerEnvironment.from_env(env)


def test_the_builder_refuses_what_the_container_would_refuse():
    with pytest.raises(ValueError, match="processes must be from 1 to 64, got 0"):
        environment.gateway_processes_environment(0)


@pytest.mark.parametrize("vcpus", GATEWAY_TASK_VCPUS)
def test_a_task_opens_the_same_database_connections_whatever_its_processes(vcpus):
    from regiongate.gateway.container_infrastructure import MAX_TASKS
    from regiongate.gateway.runtime.container import TASK_DATABASE_CONNECTIONS, database_connections_per_process

    per_task = vcpus * database_connections_per_process(vcpus)  # one process per vCPU
    assert per_task == TASK_DATABASE_CONNECTIONS == 16
    assert MAX_TASKS * per_task <= 160  # the service at its most, under the default db.t4g.medium's ~400


@pytest.mark.parametrize("processes", [1, 2, 4])
def test_each_container_process_opens_its_share_of_the_task_connections(processes, monkeypatch):
    from regiongate.common import logs
    from regiongate.gateway.runtime import app, container  # app first: it binds postgres_store when imported
    from regiongate.store import connections

    assert app.postgres_store is connections.postgres_store  # the real one, which the patch below leaves alone

    opened: list[int] = []

    class Stop(Exception):
        pass

    def postgres_store(settings, region_name, pool_size=2):
        opened.append(pool_size)
        raise Stop("what the process would open is known")  # nothing further is started

    monkeypatch.setattr(connections, "postgres_store", postgres_store)
    monkeypatch.setattr(logs, "write_in_background", lambda: None)  # no log-writer thread left behind by the test
    env = {**container_environment(), **environment.gateway_processes_environment(processes)}
    with pytest.raises(Stop, match=r"^what the process would open is known$"):
        container.serve(environment.GatewayContainerEnvironment.from_env(env))
    assert opened == [16 // processes]
