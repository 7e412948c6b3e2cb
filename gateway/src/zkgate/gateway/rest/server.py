"""Serving the REST routes on their own port, with the gRPC port's TLS settings."""

from __future__ import annotations

import ssl

from aiohttp import web

from zkgate.gateway.config import GatewayConfig


def rest_ssl_context(config: GatewayConfig) -> ssl.SSLContext | None:
    """TLS from the same PEM files as the gRPC port; with a client CA, mTLS as there."""
    if not config.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert_file, config.tls_key_file)
    if config.tls_client_ca_file:
        context.load_verify_locations(config.tls_client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class RestServer:
    def __init__(self, app: web.Application, config: GatewayConfig) -> None:
        # No access log: every request would be a line, and the gRPC half logs none either.
        self._runner = web.AppRunner(app, access_log=None)
        self._host, self._port = config.host, config.rest_port
        self._ssl = rest_ssl_context(config)
        self.port = 0

    async def start(self) -> int:
        """Binds the port (0 lets the system choose) and returns it."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._ssl)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        await self._runner.cleanup()
