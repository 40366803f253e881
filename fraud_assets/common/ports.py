"""Whether something listens on a port: the probe the stack and the local broker wait on."""

import socket


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a program listens on `port`. A probe of a free port in the ephemeral range can
    connect to itself (TCP simultaneous open): that is no listener."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) != 0:
            return False
        return probe.getsockname() != probe.getpeername()
