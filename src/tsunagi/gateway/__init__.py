"""The HTTP edge: which service and operation, who is asking, then protocol → service → protocol."""
