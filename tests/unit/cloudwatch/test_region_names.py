"""An alarm's notification names its region as botocore's endpoint data describes it (read without
botocore's loader, which would bring its SDK code into the server)."""

from __future__ import annotations

from botocore.loaders import Loader

from tsunagi.services.cloudwatch import alarms


def test_endpoint_data_is_botocores():
    assert alarms._endpoints() == Loader().load_data("endpoints")


def test_region_names():
    assert alarms.region_name("us-east-1") == "US East (N. Virginia)"
    assert alarms.region_name("eu-west-3") == "Europe (Paris)"
    assert alarms.region_name("xx-nowhere-1") == "xx-nowhere-1"
