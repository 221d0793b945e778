"""Traffic Light Protocol 2.0 (FIRST): who a recipient may pass information on to.

Every incident and indicator carries a TLP; every export (STIX, MISP, the partner API, the
public data) compares it with the recipient's ceiling in one place, ``Tlp.within``.
"""

from __future__ import annotations

from enum import StrEnum


class Tlp(StrEnum):
    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @property
    def rank(self) -> int:
        return _TLP_ORDER.index(self)

    def within(self, ceiling: Tlp) -> bool:
        """Whether information marked ``self`` may go to a recipient cleared up to ``ceiling``."""
        return self.rank <= ceiling.rank


_TLP_ORDER = (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)
