"""The filter languages messages and events are matched with: SNS filter policies
(:mod:`~tsunagi.filters.policy`) and Lambda event source mappings' filter criteria, which use the
same pattern language (:mod:`~tsunagi.filters.criteria`). Pure functions, shared by the services
that validate them and the pipes that apply them."""
