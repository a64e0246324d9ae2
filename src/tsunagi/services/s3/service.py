"""S3 on the store: buckets and their configurations, objects, versions, multipart uploads,
checksums, SSE-S3, POST uploads and event notifications.

Plain Python: params in (botocore's member names), dicts out (the output shapes), :mod:`.errors`
raised; no HTTP (an upload's body is a :class:`~tsunagi.streams.StreamingBody`, its framing already
removed). All SQL is in :mod:`tsunagi.store.s3`; object bytes go through a
:class:`~tsunagi.store.blobs.BlobStore`.

The service is one method per operation over parts that each do one thing, each handed what it
depends on:

- :mod:`.bodies`: object bytes in (hashed, checksummed, encrypted into blobs) and out, blobs freed;
- :mod:`.buckets`: the bucket lookup every operation starts with, bucket operations and configurations;
- :mod:`.notifications`: notification configurations, and the outbox rows an object event causes;
- :mod:`.objects`: object operations, and the commit that makes a version current with its events;
- :mod:`.multipart`: multipart uploads;
- :mod:`.post`: browser-form uploads (PostObject), read and checked by the gateway's S3 route;
- :mod:`.request_metrics`: the AWS/S3 request metrics of buckets with a metrics configuration;
- :mod:`.port`: what the rest of tsunagi may ask of S3.
"""

from __future__ import annotations

from typing import Any

from tsunagi.ports.s3 import S3
from tsunagi.services.base import Platform, RequestContext, Service
from tsunagi.services.s3.bodies import Bodies
from tsunagi.services.s3.buckets import Buckets
from tsunagi.services.s3.kms import KmsKeys
from tsunagi.services.s3.multipart import Multipart
from tsunagi.services.s3.notifications import Notifications
from tsunagi.services.s3.objects import Objects
from tsunagi.services.s3.port import S3PortImpl
from tsunagi.services.s3.post import PostUploads
from tsunagi.services.s3.request_metrics import RequestMetrics
from tsunagi.services.s3.restore import Restores
from tsunagi.store.blobs import open_blob_store
from tsunagi.store.s3 import S3Repo

Params = dict[str, Any]
Result = dict[str, Any]


class S3Service(Service):
    name = "s3"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.repo = S3Repo(self.store)
        blobs = open_blob_store(self.store, platform.config.data_dir, synchronous=platform.config.sqlite_synchronous)
        self.bodies = Bodies(self.repo, blobs, KmsKeys(platform.ports, self.clock))
        self.request_metrics = RequestMetrics(self.repo, platform.ports)
        self.buckets = Buckets(self.repo, self.bodies, self.clock, self.request_metrics.changed)
        self.notifications = Notifications(self.store, self.repo, self.buckets, platform.ports, platform.outbox,
                                           self.clock, policies=platform.config.policies)
        self.objects = Objects(self.store, self.repo, self.buckets, self.bodies, self.notifications,
                               platform.outbox, self.clock)
        self.multipart = Multipart(self.store, self.repo, self.buckets, self.bodies, self.objects,
                                   self.notifications, platform.outbox, self.clock)
        self.posts = PostUploads(self.buckets, self.bodies, self.objects)
        self.restores = Restores(self.objects, self.clock)
        platform.ports.provide(S3, S3PortImpl(self.repo, self.objects, self.buckets, self.request_metrics))

    # == lifecycle ===========================================================================
    async def start(self) -> None:
        self.request_metrics.listen()
        await self.bodies.start()

    async def stop(self) -> None:
        self.request_metrics.unlisten()
        self.bodies.stop()

    async def on_reset(self) -> None:
        self.request_metrics.forget()
        await self.bodies.on_reset()

    # == buckets and their configurations ===========================================================
    async def create_bucket(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.create_bucket(ctx, params)

    async def delete_bucket(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.delete_bucket(ctx, params)

    async def head_bucket(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.head_bucket(ctx, params)

    async def list_buckets(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.list_buckets(ctx, params)

    async def get_bucket_location(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_location(ctx, params)

    async def put_bucket_policy(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_bucket_policy(ctx, params)

    async def get_bucket_policy(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_policy(ctx, params)

    async def delete_bucket_policy(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.delete_bucket_policy(ctx, params)

    async def get_bucket_policy_status(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_policy_status(ctx, params)

    async def put_public_access_block(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_public_access_block(ctx, params)

    async def get_public_access_block(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_public_access_block(ctx, params)

    async def delete_public_access_block(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.delete_public_access_block(ctx, params)

    async def put_bucket_encryption(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_bucket_encryption(ctx, params)

    async def get_bucket_encryption(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_encryption(ctx, params)

    async def delete_bucket_encryption(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.delete_bucket_encryption(ctx, params)

    async def put_bucket_tagging(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_bucket_tagging(ctx, params)

    async def get_bucket_tagging(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_tagging(ctx, params)

    async def delete_bucket_tagging(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.delete_bucket_tagging(ctx, params)

    async def put_bucket_cors(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_bucket_cors(ctx, params)

    async def get_bucket_cors(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_cors(ctx, params)

    async def delete_bucket_cors(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.delete_bucket_cors(ctx, params)

    async def put_bucket_versioning(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_bucket_versioning(ctx, params)

    async def get_bucket_versioning(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_versioning(ctx, params)

    async def get_bucket_acl(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_acl(ctx, params)

    async def put_bucket_acl(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_bucket_acl(ctx, params)

    async def put_bucket_lifecycle_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_bucket_lifecycle_configuration(ctx, params)

    async def get_bucket_lifecycle_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_lifecycle_configuration(ctx, params)

    async def delete_bucket_lifecycle(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.delete_bucket_lifecycle(ctx, params)

    async def put_bucket_website(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_bucket_website(ctx, params)

    async def get_bucket_website(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_website(ctx, params)

    async def delete_bucket_website(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.delete_bucket_website(ctx, params)

    async def put_bucket_ownership_controls(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_bucket_ownership_controls(ctx, params)

    async def get_bucket_ownership_controls(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_ownership_controls(ctx, params)

    async def delete_bucket_ownership_controls(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.delete_bucket_ownership_controls(ctx, params)

    # == event notifications ========================================================================
    async def put_bucket_notification_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.notifications.put_bucket_notification_configuration(ctx, params)

    async def get_bucket_notification_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.notifications.get_bucket_notification_configuration(ctx, params)

    # == objects ====================================================================================
    async def put_object(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.put_object(ctx, params)

    async def get_object(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.get_object(ctx, params)

    async def head_object(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.head_object(ctx, params)

    async def delete_object(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.delete_object(ctx, params)

    async def delete_objects(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.delete_objects(ctx, params)

    async def copy_object(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.copy_object(ctx, params)

    async def list_objects(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.list_objects(ctx, params)

    async def list_objects_v2(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.list_objects_v2(ctx, params)

    async def list_object_versions(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.list_object_versions(ctx, params)

    async def get_object_tagging(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.get_object_tagging(ctx, params)

    async def put_object_tagging(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.put_object_tagging(ctx, params)

    async def delete_object_tagging(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.delete_object_tagging(ctx, params)

    async def get_object_acl(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.get_object_acl(ctx, params)

    async def put_object_acl(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.put_object_acl(ctx, params)

    async def restore_object(self, ctx: RequestContext, params: Params) -> Result:
        return await self.restores.restore_object(ctx, params)

    async def get_object_attributes(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.get_object_attributes(ctx, params)

    async def get_object_retention(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.get_object_retention(ctx, params)

    async def put_object_retention(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.put_object_retention(ctx, params)

    async def get_object_legal_hold(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.get_object_legal_hold(ctx, params)

    async def put_object_legal_hold(self, ctx: RequestContext, params: Params) -> Result:
        return await self.objects.put_object_legal_hold(ctx, params)

    async def put_bucket_metrics_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_bucket_metrics_configuration(ctx, params)

    async def get_bucket_metrics_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_metrics_configuration(ctx, params)

    async def delete_bucket_metrics_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.delete_bucket_metrics_configuration(ctx, params)

    async def list_bucket_metrics_configurations(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.list_bucket_metrics_configurations(ctx, params)

    async def put_bucket_inventory_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_bucket_inventory_configuration(ctx, params)

    async def get_bucket_inventory_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_inventory_configuration(ctx, params)

    async def delete_bucket_inventory_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.delete_bucket_inventory_configuration(ctx, params)

    async def list_bucket_inventory_configurations(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.list_bucket_inventory_configurations(ctx, params)

    async def put_bucket_accelerate_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_bucket_accelerate_configuration(ctx, params)

    async def get_bucket_accelerate_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_bucket_accelerate_configuration(ctx, params)

    async def put_object_lock_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.put_object_lock_configuration(ctx, params)

    async def get_object_lock_configuration(self, ctx: RequestContext, params: Params) -> Result:
        return await self.buckets.get_object_lock_configuration(ctx, params)

    # == multipart uploads ==========================================================================
    async def create_multipart_upload(self, ctx: RequestContext, params: Params) -> Result:
        return await self.multipart.create_multipart_upload(ctx, params)

    async def upload_part(self, ctx: RequestContext, params: Params) -> Result:
        return await self.multipart.upload_part(ctx, params)

    async def upload_part_copy(self, ctx: RequestContext, params: Params) -> Result:
        return await self.multipart.upload_part_copy(ctx, params)

    async def complete_multipart_upload(self, ctx: RequestContext, params: Params) -> Result:
        return await self.multipart.complete_multipart_upload(ctx, params)

    async def abort_multipart_upload(self, ctx: RequestContext, params: Params) -> Result:
        return await self.multipart.abort_multipart_upload(ctx, params)

    async def list_parts(self, ctx: RequestContext, params: Params) -> Result:
        return await self.multipart.list_parts(ctx, params)

    async def list_multipart_uploads(self, ctx: RequestContext, params: Params) -> Result:
        return await self.multipart.list_multipart_uploads(ctx, params)

    # == browser-form uploads (not in botocore's model) =============================================
    async def post_object(self, ctx: RequestContext, params: Params) -> Result:
        return await self.posts.post_object(ctx, params)


__all__ = ["S3Service"]
