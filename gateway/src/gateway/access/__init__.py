"""The access half of the schema (accounts, grants, leases, reviews, the access report).

It follows once access's API lands, in the same rooms as `gateway.identity`: types,
queries, mutations, loaders, subscriptions.
"""
