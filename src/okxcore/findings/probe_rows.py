"""The probe's rows of the findings table."""

from __future__ import annotations

from okxcore.findings.rule import (
    ERROR,
    EXTRA_IPS,
    FAIL,
    INVALID_EVENT,
    PASS,
    SHIELD_IP_MISSING,
    UNBOUND_KEPT,
    WARN,
    C,
    H,
    I,
    L,
    M,
    Rule,
    r,
)

ROWS: dict[str, Rule] = {
    "probe.event": INVALID_EVENT,
    "probe.config": r(H, ERROR, "the probe did not run: the function's configuration is invalid"),
    "probe.run": r(
        C,
        ERROR,
        "the probe stopped before it finished",
        "Run it locally (okx-shield invoke probe) to see the traceback; report it if it persists.",
    ),
    "probe.shield_secret": r(C, ERROR, "the Shield secret cannot be used, so no call can leave through Shield"),
    "probe.okx_target": r(C, ERROR, "the configured OKX target is refused, so no signed call may be sent"),
    "probe.proxy": r(C, ERROR, "the Shield proxy could not carry the call; nothing reached OKX"),
    "probe.egress.echo": r(
        L,
        WARN,
        "an echo service gave no usable answer through Shield",
        "Usually the echo service's own trouble; if it persists, replace it in ECHO_URLS.",
    ),
    "probe.egress.expected_ips": r(
        H,
        FAIL,
        "no expected static IPs are configured, so the probe cannot tell whether traffic leaves through Shield",
        'Add "expected_ips": ["IP1", "IP2"] (both static IPs from the Shield dashboard) to the Shield secret, '
        "or set the stack parameter ExpectedStaticIps (SHIELD_EXPECTED_IPS).",
    ),
    "probe.egress.consensus:unknown": r(
        H,
        FAIL,
        "no echo service answered through Shield: the egress IP is unknown",
        "Check the echo services in ECHO_URLS and Shield's status; trading was not paused for this alone "
        "(nothing proves the egress wrong).",
    ),
    "probe.egress.consensus:mismatch": r(
        C,
        FAIL,
        "the egress IP is not a Shield static IP",
        "Traffic is not leaving through Shield's static IPs: check the Shield URL in the secret (copy the "
        "Connection URL again) and that expected_ips lists the dashboard's static IPs.",
    ),
    "probe.egress.consensus:single": r(
        M,
        WARN,
        "the egress is a Shield static IP, but only one echo service confirmed it",
        "Replace echo services that keep failing in ECHO_URLS.",
    ),
    "probe.egress.consensus:match": r(I, PASS, "the egress is a Shield static IP"),
    "probe.egress.disagreement": r(
        M,
        WARN,
        "the echo services disagree about the egress IP",
        "If one service keeps disagreeing, replace it in ECHO_URLS; if the answers include a non-Shield IP, "
        "some traffic is leaving another way.",
    ),
    "probe.egress.okx_seen": r(
        C,
        FAIL,
        "OKX saw calls from an IP that is not a Shield static IP",
        "Traffic to OKX is not leaving through Shield's static IPs: check the Shield URL in the secret (host "
        "and port from the dashboard) and expected_ips.",
    ),
    "probe.keys.discovery:none_configured": r(
        L,
        WARN,
        "no OKX keys are configured for the probe, so no key binding was checked",
        "Set KEY_SECRET_NAMES (comma-separated secret names) or KEY_SECRET_PREFIX, or list key_secret_names in "
        "the schedule's Input.",
    ),
    "probe.keys.discovery:none_found": r(
        L,
        WARN,
        "no key secrets were found, so no key binding was checked",
        "Store each OKX key as a secret under that prefix, or fix KEY_SECRET_PREFIX / KEY_SECRET_TAG.",
    ),
    "probe.keys.discovery:failed": r(H, ERROR, "the key secrets could not be listed"),
    "probe.keys.discovery:too_many": r(
        M,
        WARN,
        "more key secrets than one run checks",
        "Split the keys over several schedules with key_secret_names.",
    ),
    "probe.keys.budget": r(
        M,
        WARN,
        "some keys were not checked: the run used up its time budget",
        "Raise the probe's Timeout (ProbeFunction in template.yaml: the key checks get the timeout less 20 s), or "
        "shard: split the keys over several probe schedules, each with its own key_secret_names. If OKX or Shield "
        "only answered slowly this once, the next run checks them.",
    ),
    "probe.keys.secret": r(H, ERROR, "the key secret cannot be read or is malformed"),
    "probe.keys.binding:unbound_risky": r(
        C,
        FAIL,
        "a trade/withdraw key bound to no IP: OKX deletes such keys (deletion risk)",
        "Bind both Shield static IPs to the key in OKX's API management.",
    ),
    "probe.keys.binding:unbound_safe": UNBOUND_KEPT,
    "probe.keys.binding:unverified": r(
        M,
        WARN,
        "the key's binding could not be verified: no expected_ips and no echo answer to compare with",
        'Add "expected_ips" (both Shield static IPs) to the Shield secret.',
    ),
    "probe.keys.binding:missing": SHIELD_IP_MISSING,
    "probe.keys.binding:ip_not_allowed": r(
        H,
        FAIL,
        "OKX rejected the call with 50110: the IP it came from is not bound to the key",
        "Bind both Shield static IPs to the key in OKX's API management.",
    ),
    "probe.keys.binding:ok": r(I, PASS, "the key is bound to every Shield static IP"),
    "probe.keys.extra_ips": EXTRA_IPS,
    "probe.guard:set": r(
        C,
        ERROR,
        "the trading guard could not be set",
        "Check the state table's name and the function's DynamoDB permissions.",
    ),
    "probe.guard:read": r(
        H,
        ERROR,
        "the trading guard could not be read",
        "Check the state table's name and the function's DynamoDB permissions.",
    ),
}
