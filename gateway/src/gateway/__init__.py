"""Chorus's GraphQL gateway: one API for the web and mobile front ends over the services."""
