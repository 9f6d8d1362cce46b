"""Stores AWS creates outside the template because of a property in it: RDS Enhanced Monitoring's log group."""

from __future__ import annotations

import pytest

from regiongate.residency.inventory import RDS_ENHANCED_MONITORING, service_created_items


def template(interval):
    props = {"Engine": "postgres"} if interval is None else {"Engine": "postgres", "MonitoringInterval": interval}
    return {"Resources": {"Db": {"Type": "AWS::RDS::DBInstance", "Properties": props}}}


@pytest.mark.parametrize("interval", [None, 0, {"Ref": "Interval"}])
def test_no_log_group_without_enhanced_monitoring_or_when_the_template_cannot_say(interval):
    assert service_created_items(template(interval), kinds={RDS_ENHANCED_MONITORING: "host"}, region="eu-west-1") == []


def test_enhanced_monitoring_means_an_rds_created_log_group_in_the_instances_region():
    (item,) = service_created_items(template(60), kinds={RDS_ENHANCED_MONITORING: "host"}, region="eu-west-1")
    assert (item.logical_id, item.kinds, item.region) == ("RDSOSMetrics (of Db)", ("host",), "eu-west-1")
    assert "created by RDS" in item.resource_type and "not a key of this stack" in item.key


def test_an_app_that_maps_no_kind_gets_no_rows():
    assert service_created_items(template(60), kinds={}, region="eu-west-1") == []
