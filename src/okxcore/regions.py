"""Where a key lives that OKX's host answered 50119 ("API key doesn't exist"): the most reported OKX error in the
bot frameworks, because an account opened on my.okx.com (EEA) or app.okx.com (US/AU) has its keys on eea.okx.com
or us.okx.com only. The key is tried (a signed account/config, through Shield like every call) at the other
regions' hosts, and the error says which one knows it, or that none does: the key is gone.
"""

from __future__ import annotations

from collections.abc import Callable

from okxcore.endpoints import OKX_HOSTS, Region
from okxcore.errors import KeyGoneError, KeyInOtherRegionError, OkxAuthError, OkxShieldError

REGIONS: tuple[Region, ...] = ("www", "eea", "us")


def locate_key(gone: KeyGoneError, home: Region, ask: Callable[[Region], object]) -> OkxAuthError:
    """The error to report for `gone` (50119 at `home`'s host) after `ask`ing each other region's host.

    A host that knows the key answers its configuration, or refuses it for a reason of its own (the IP, the
    signature, the passphrase): either way the key lives there, and KeyInOtherRegionError names it. When no host
    knows it, `gone` comes back with `regions_asked` set, so its words say "deleted" rather than "or the wrong
    region". A host that could not be asked (OKX busy, the network) leaves the wrong region possible."""
    if gone.code != "50119":
        return gone
    asked: list[Region] = [home]
    unanswered = False
    for region in REGIONS:
        if region == home:
            continue
        try:
            ask(region)
        except KeyGoneError:
            asked.append(region)
            continue
        except OkxAuthError:
            pass  # the host knows the key and refuses it for another reason: the key lives there
        except OkxShieldError:
            unanswered = True
            continue
        return KeyInOtherRegionError(gone, asked=OKX_HOSTS[home], region=region, host=OKX_HOSTS[region])
    if not unanswered:
        gone.wrong_region_possible = False
        gone.regions_asked = tuple(OKX_HOSTS[region] for region in asked)
        gone.args = (f"OKX error {gone.code}: no OKX region knows this key (asked {', '.join(gone.regions_asked)})",)
        gone.hint = (
            "The key was deleted or revoked: create a new key bound to both Shield IPs and store it in the secret."
        )
    return gone
