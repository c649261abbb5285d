"""Shared set-up for the interop scripts: no network beyond loopback."""

import bittensor.utils.networking as networking

# The SDK asks public services for its external IP; the tests run offline.
# 192.0.2.1 (TEST-NET-1) never equals a loopback target, so URLs stay as given.
networking.get_external_ip = lambda: "192.0.2.1"
