"""IAM: users, groups, access keys, login profiles, roles and their trust policies, instance profiles,
service-linked roles, inline and managed policies with versions, tags; and the credentials of every
access key (its own and STS's), which the rest of tsunagi reads through the IAM port."""
