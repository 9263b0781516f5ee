"""Clients for the cloud providers whose capacity the portal resells."""
