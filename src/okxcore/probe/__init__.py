"""The IP-verification probe: prove the egress IP is one of Shield's, and that every OKX key is bound to it.

The user must learn that egress or binding is wrong BEFORE a trade fails or OKX deletes a key. One run:

1. Asks several independent HTTPS IP-echo services which IP they see, through the very same ShieldSession
   that talks to OKX. Answers are parsed by their content (JSON `{"ip": ..}`, a JSON string, or a bare IP
   in text), never by trusting the URL or the Content-Type. Every unreachable or odd echo is reported.
2. Judges the answers against Shield's static IPs (the Shield secret's `expected_ips`).
3. Calls account/config for every managed key and compares its bound `ip` list with the expected IPs.
   A 50110 answer names the IP OKX saw: that is a second, independent egress observation.
4. Optionally makes ONE direct (non-proxied) echo call for contrast (off by default).
5. Pauses trading when egress is wrong, and lifts a pause it set itself once egress is right again.

Pause policy (fail closed, but not on noise): trading is paused when ANY observed egress IP (an echo
answer, or the IP OKX named in a 50110) is outside the expected set, because then at least some traffic
is leaving from somewhere else. Echo services that disagree while all their answers are Shield IPs do not
pause: Shield load-balances over both static IPs, so two connections may leave from different ones. An
echo that is down, or no echo answering at all, does not pause either (nothing proves egress wrong); it
is reported, and a pause set earlier stays until a run confirms the egress again. The probe only lifts
pauses it set itself (set_by "probe"); a pause set by a person or another function is left alone.

A proxy that is unreachable, rejects its credentials, or stalls ends the run: a CRITICAL report naming the
cause, no direct fallback, and a failure the handler raises after publishing. No secret ever enters a
finding, summary, table, detail or exception text: keys are named by label or secret name only.

The building blocks (echo URLs and answers, consensus, binding comparison) live in okxcore.egress; this
package runs them, decides severities, drives the trading guard and writes the report.
"""

from okxcore.probe.event import (
    MAX_KEYS_PER_RUN,
    ProbeConfig,
    ProbeEvent,
    ProbeSettings,
    parse_probe_event,
    probe_config,
)
from okxcore.probe.ports import GuardStore, ProbeWiring
from okxcore.probe.reporting import PROBE_TITLE, ProbeFailedError, ProbeOutcome, invalid_event_report
from okxcore.probe.run import run_probe

__all__ = [
    "MAX_KEYS_PER_RUN",
    "PROBE_TITLE",
    "GuardStore",
    "ProbeConfig",
    "ProbeEvent",
    "ProbeFailedError",
    "ProbeOutcome",
    "ProbeSettings",
    "ProbeWiring",
    "invalid_event_report",
    "parse_probe_event",
    "probe_config",
    "run_probe",
]
