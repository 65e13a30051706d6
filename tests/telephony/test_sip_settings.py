"""The SIP gateway's settings: no listener unless configured, bad values refused."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from kallglot.core.errors import ConfigurationError
from kallglot.core.settings import Settings, load_settings
from kallglot.telephony.sip import GatewayConfig


def test_no_sip_listener_unless_configured(client: TestClient) -> None:
    assert client.app.state.sip_gateway is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("listen", ["tcp:127.0.0.1:5070", "udp:127.0.0.1", "127.0.0.1:5070"])
def test_a_listen_address_other_than_udp_host_port_is_refused(listen: str) -> None:
    with pytest.raises(ConfigurationError, match="KALLGLOT_SIP_LISTEN"):
        load_settings(env="test", sip_listen=listen)


def test_an_inverted_rtp_range_or_a_bad_network_is_refused(settings: Settings) -> None:
    inverted = settings.model_copy(
        update={
            "sip_listen": "udp:127.0.0.1:0",
            "sip_rtp_port_min": 30000,
            "sip_rtp_port_max": 20000,
        }
    )
    with pytest.raises(ValueError, match="RTP_PORT"):
        GatewayConfig.from_settings(inverted)
    bad_network = settings.model_copy(
        update={"sip_listen": "udp:127.0.0.1:0", "sip_trusted_networks": ["not-a-network"]}
    )
    with pytest.raises(ValueError, match="does not appear to be"):
        GatewayConfig.from_settings(bad_network)


def test_digest_credentials_come_in_pairs(settings: Settings) -> None:
    half = settings.model_copy(
        update={"sip_listen": "udp:127.0.0.1:0", "sip_digest_username": "pbx"}
    )
    with pytest.raises(ValueError, match="DIGEST"):
        GatewayConfig.from_settings(half)
    both = half.model_copy(update={"sip_digest_password": SecretStr("s3cret")})
    config = GatewayConfig.from_settings(both)
    assert config.digest is not None and config.digest.realm == "127.0.0.1"
