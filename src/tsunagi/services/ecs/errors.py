"""The errors ECS returns, with its exact codes, and the messages AWS words them with."""

from __future__ import annotations

from tsunagi.protocol.errors import ServiceError, error_class

__all__ = ["ServiceError"]

ClusterNotFound = error_class("ClusterNotFoundException")
ClusterContainsTasks = error_class("ClusterContainsTasksException")
ClusterContainsServices = error_class("ClusterContainsServicesException")
InvalidParameter = error_class("InvalidParameterException")
Client = error_class("ClientException")
Server = error_class("ServerException", status=500, sender_fault=False)
ServiceNotFound = error_class("ServiceNotFoundException")
ServiceNotActive = error_class("ServiceNotActiveException")
ResourceNotFound = error_class("ResourceNotFoundException")
UnsupportedFeature = error_class("UnsupportedFeatureException")

CLUSTER_NOT_FOUND = "Cluster not found."
TASK_DEFINITION_NOT_FOUND = "TaskDefinition not found."
UNABLE_TO_DESCRIBE = "Unable to describe task definition."
TASK_NOT_FOUND = "The referenced task was not found."
SERVICE_NOT_FOUND = "Service not found."
SERVICE_NOT_ACTIVE = "Service was not ACTIVE."
CLUSTER_HAS_TASKS = "The Cluster cannot be deleted while Tasks are active."
CLUSTER_HAS_SERVICES = "The Cluster cannot be deleted while Services are active."
TASK_DEFINITION_MISSING = "The specified task definition does not exist."
