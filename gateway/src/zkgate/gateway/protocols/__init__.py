"""Protocols built on the gateway's base service; the service never imports them back."""
