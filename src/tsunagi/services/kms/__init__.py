"""KMS: keys, aliases, grants, key policies and cryptography, with key material sealed at rest."""
