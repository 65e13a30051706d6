"""SIP/RTP gateway: a user agent server that answers calls into Kallglot sessions."""

from kallglot.telephony.sip.gateway import GatewayConfig, SipGateway

__all__ = ["GatewayConfig", "SipGateway"]
