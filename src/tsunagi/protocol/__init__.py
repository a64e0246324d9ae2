"""Wire formats: botocore's service models drive one parser and one serializer per protocol."""
