"""The Orda.kz week in the censorship lab, end to end, with real agents and a real desk.

The desk (``qorgau serve`` over HTTPS) runs in the lab's "internet"; ``qorgau probe`` agents run
inside ISP A and ISP B and one as a control outside. The week is scripted in three rounds:

1. nothing is blocked: every host is accessible from every network, no case is opened;
2. orda.kz is blocked by DNS on ISP A and by an SNI filter on ISP B, while its Kazakh and
   English hosts stay reachable: per-host, per-ISP verdicts, one incident, the register entry;
3. the block is lifted and orda.kz is overloaded (DDoS-like): down everywhere on both ISPs,
   the same incident updated, every measurement kept in the evidence vault.

Skipped where network namespaces cannot be made (not root, no iproute2/iptables).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from qorgau.agent_desk import AgentDesk
from qorgau.config import Settings
from qorgau.desk import CaseDesk
from qorgau.monitor_desk import MonitorDesk
from qorgau.store.store import Store, open_store
from qorgau.store.tables import incidents, vault_items
from tests.support.censorship_lab import (
    LAB_FINGERPRINTS,
    SERVICE_IP,
    CensorshipLab,
    LabUnavailable,
    start_lab,
)
from tests.support.tsa import make_server_files

PORT = 8443
SERVER = f"https://{SERVICE_IP}:{PORT}"
OUTLET = "Orda.kz"
HOSTS = ("orda.kz", "kaz.orda.kz", "eng.orda.kz")
NET_A = "KZ AS64500 LabTelecom A"
NET_B = "KZ AS64501 LabTelecom B"


class Week:
    def __init__(self, lab: CensorshipLab, folder: Path, interval_s: int = 60) -> None:
        self.interval_s = interval_s
        self.lab = lab
        self.folder = folder
        self.data = folder / "desk"
        self.env = {
            "QORGAU_DATA_DIR": str(self.data),
            "QORGAU_MONITOR_CA_FILE": str(lab.ca_file),
            "QORGAU_MONITOR_TIMEOUT_S": "3",
            "QORGAU_MONITOR_FINGERPRINTS": str(LAB_FINGERPRINTS),
        }
        subprocess.run(
            [sys.executable, "-m", "qorgau.cli", "init", "--data-dir", str(self.data)],
            env={**os.environ, **self.env},
            check=True,
            capture_output=True,
        )
        self.store: Store = open_store(Settings.from_env({**os.environ, **self.env}))
        self.cases = CaseDesk(self.store)
        self.monitor = MonitorDesk(self.cases)
        self.agents = AgentDesk(self.monitor)
        self.admin = self.cases.system("lab")
        for host in HOSTS:
            self.monitor.add_target(self.admin, OUTLET, f"https://{host}/")
        self.monitor.add_target(self.admin, "Vlast.kz", "https://vlast.kz/")
        self.tokens = {
            "isp-a": self._enrol("lab-isp-a", "KZ", "AS64500", "LabTelecom A", False),
            "isp-b": self._enrol("lab-isp-b", "KZ", "AS64501", "LabTelecom B", False),
            "ctl": self._enrol("lab-control", "DE", "AS64510", "Lab control", True),
        }
        self.ca, chain, key = make_server_files(
            folder / "pki", dns_names=["desk.lab"], ip_addresses=[SERVICE_IP]
        )
        with (folder / "serve.log").open("wb") as log:  # the child keeps its own descriptor
            self.server = self._serve(chain, key, log)
        self._wait_for_server()

    def _serve(self, chain: Path, key: Path, log: Any) -> subprocess.Popen[bytes]:
        return self.lab.popen(
            "net",
            [
                sys.executable,
                "-m",
                "qorgau.cli",
                "serve",
                "--host",
                SERVICE_IP,
                "--port",
                str(PORT),
                "--log-level",
                "warning",
                "--tls-cert",
                str(chain),
                "--tls-key",
                str(key),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def _enrol(self, name: str, cc: str, asn: str, network: str, control: bool) -> str:
        _, token = self.agents.add_agent(
            self.admin,
            name,
            country=cc,
            asn=asn,
            network_name=network,
            is_control=control,
            interval_s=self.interval_s,
        )
        return token

    def _wait_for_server(self) -> None:
        probe = (
            "import httpx,ssl,sys;"
            f"c=ssl.create_default_context(cafile={str(self.ca)!r});"
            f"sys.exit(0 if httpx.get('{SERVER}/api/v1/health',verify=c,timeout=1)"
            ".status_code==200 else 1)"
        )
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise AssertionError((self.folder / "serve.log").read_text())
            done = subprocess.run(
                ["ip", "netns", "exec", self.lab.ns("ctl"), sys.executable, "-c", probe],
                capture_output=True,
            )
            if done.returncode == 0:
                return
            time.sleep(0.3)
        raise AssertionError(f"the desk did not start: {(self.folder / 'serve.log').read_text()}")

    def agent(self, vantage: str, rounds: int | None = 1) -> subprocess.Popen[bytes]:
        """``qorgau probe`` in ``vantage``'s network (``rounds=None``: runs until stopped)."""
        argv = [
            sys.executable, "-m", "qorgau.cli", "probe", "--server", SERVER,
            "--token", self.tokens[vantage],
            "--state-dir", str(self.folder / f"agent-{vantage}"),
            "--server-ca", str(self.ca), "--target-ca", str(self.lab.ca_file),
        ]  # fmt: skip
        if rounds is not None:
            argv += ["--rounds", str(rounds)]
        return self.lab.popen(vantage, argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def round(self, name: str) -> None:
        """One round of every agent at once, each in its own network."""
        procs = {vantage: self.agent(vantage) for vantage in self.tokens}
        for vantage, proc in procs.items():
            output, _ = proc.communicate(timeout=90)
            assert proc.returncode == 0, f"{name}, agent in {vantage}: {output.decode()}"
            assert b"waiting 0" in output, f"{name}, agent in {vantage}: {output.decode()}"

    def states(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(host, network) -> (state, verdict) as the desk shows the outlet."""
        return {
            (h.host, n["network"]): (n["state"], n["verdict"])
            for h in self.monitor.outlet_status(self.admin, OUTLET)
            for n in h.networks
        }

    def monitor_incidents(self) -> list[Any]:
        with self.store.read() as conn:
            return list(
                conn.execute(
                    sa.select(incidents.c.id, incidents.c.title, incidents.c.external_ref).where(
                        incidents.c.external_ref.like("monitor:%")
                    )
                ).mappings()
            )

    def close(self) -> None:
        self.server.terminate()
        self.server.wait(10)
        self.store.close()


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Week]:
    folder = tmp_path_factory.mktemp("orda-week-lab")
    try:
        (folder / "lab").mkdir()
        lab = start_lab(folder / "lab")
    except LabUnavailable as exc:
        pytest.skip(f"the censorship lab cannot run here: {exc}")
    try:
        w = Week(lab, folder)
        try:
            yield w
        finally:
            w.close()
    finally:
        lab.close()


def test_orda_week_in_the_lab(week: Week) -> None:
    lab = week.lab
    # 1. an ordinary day
    week.round("quiet day")
    states = week.states()
    for host in HOSTS:
        for net in (NET_A, NET_B):
            assert states[(host, net)] == ("accessible", "accessible"), (host, net, states)
    assert week.monitor_incidents() == []

    # 2. the main host blocked two ways, the language hosts untouched
    lab.dns_lie("isp-a", "orda.kz")
    lab.sni_reset("isp-b", "orda.kz")
    week.round("orda.kz blocked")
    states = week.states()
    assert states[("orda.kz", NET_A)] == ("blocked", "dns_tampering")
    assert states[("orda.kz", NET_B)] == ("blocked", "tls_interference")
    for host in ("kaz.orda.kz", "eng.orda.kz"):
        for net in (NET_A, NET_B):
            assert states[(host, net)] == ("accessible", "accessible"), (host, net)
    opened = week.monitor_incidents()
    assert len(opened) == 1 and opened[0]["external_ref"] == "monitor:orda.kz"
    register = {e.host: e for e in week.monitor.register(week.cases.anonymous())}
    assert set(register) == {"orda.kz"}
    entry = register["orda.kz"]
    assert entry.currently_blocked
    assert {n["network"] for n in entry.networks} == {NET_A, NET_B}
    assert set(entry.methods) == {"dns_tampering", "tls_interference"}
    timeline = week.monitor.host_timeline(week.admin, "orda.kz")
    dns = next(o for o in timeline if o["network"] == NET_A and o["verdict"] == "dns_tampering")
    assert dns["confirmed"], dns["evidence"]  # the lab's blockpage fingerprint matched

    # 3. the block lifted, then a DDoS-like overload: down everywhere, same case
    lab.clear("isp-a")
    lab.clear("isp-b")
    lab.overload("orda.kz")
    week.round("orda.kz overloaded")
    states = week.states()
    assert states[("orda.kz", NET_A)] == ("down", "down_everywhere")
    assert states[("orda.kz", NET_B)] == ("down", "down_everywhere")
    assert states[("kaz.orda.kz", NET_A)] == ("accessible", "accessible")
    down = next(
        o
        for o in week.monitor.host_timeline(week.admin, "orda.kz")
        if o["verdict"] == "down_everywhere"
    )
    assert any("control" in line for line in down["evidence"]), down["evidence"]
    case = week.monitor_incidents()
    assert len(case) == 1, case  # the same incident, updated, not a second one
    notes = week.cases.notes(week.admin, _public_id(week, case[0]["id"]), 50, 0)[0]
    assert any("unreachable from the control too" in n.body for n in notes)
    with week.store.read() as conn:
        kept = conn.execute(
            sa.select(sa.func.count()).where(
                vault_items.c.incident_id == case[0]["id"], vault_items.c.method == "measurement"
            )
        ).scalar_one()
    # every orda.kz measurement since the case opened is its evidence: 2 ISPs x 2 rounds
    assert kept >= 4
    lab.overload("orda.kz", on=False)


def _public_id(week: Week, incident_id: int) -> str:
    with week.store.read() as conn:
        return str(
            conn.execute(
                sa.select(incidents.c.public_id).where(incidents.c.id == incident_id)
            ).scalar_one()
        )
