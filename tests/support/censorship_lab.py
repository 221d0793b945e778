"""A small censored internet in Linux network namespaces, for end-to-end tests of the monitor.

Why a lab: the classifier's unit tests feed it hand-written measurements, and the engine's
integration tests face hostile servers on loopback. Neither shows that a censor's *actual*
methods — a resolver that lies, a middlebox that drops or resets, an SNI filter, a transparent
blockpage, HTTPS interception, a shaper — applied by the kernel between a probe and a site,
come out of the real engine and classifier as the right verdict, nor that sites nobody
blocks are never flagged. Here every method is a real packet-level mechanism (iptables,
tc, a DNS server), switchable at run time, and probes are real processes in their own network.

Topology (namespace names are ``qg<pid>-<n><role>``; interface names are short and local)::

                      ┌──────────────────────── net ("the internet") ────────────────────────┐
                      │ sites 11.0.0.10-22 (HTTP :80, HTTPS :443), honest DNS 11.0.0.53,     │
                      │ MITM 11.0.0.66 (ISCA certificate), blockpage 11.0.0.99,              │
                      │ SERVICE_IP 11.0.0.200 (free, for other tests' servers)               │
                      └──ctl0──────────────ra0──────────────────────rb0───────────────────────┘
                      11.10.0.1       11.21.0.1                  11.31.0.1
                         │                │                          │
                  ctl 11.10.0.2   ra 11.21.0.2 (ISP A router:   rb 11.31.0.2 (ISP B router:
                  (control)          iptables/tc middlebox,        iptables/tc middlebox,
                                     resolver 11.20.0.1:53)        resolver 11.30.0.1:53)
                                         │ 11.20.0.1                  │ 11.30.0.1
                                   isp-a 11.20.0.2              isp-b 11.30.0.2
                                   (subscriber: probes)         (subscriber: probes)

* Probes run in ``ctl``, ``isp-a`` and ``isp-b``. Their "system" resolver is their ISP's
  (``/etc/netns/<ns>/resolv.conf``, which ``ip netns exec`` mounts over /etc/resolv.conf);
  ctl's is the honest one. ISP probes also ask the honest resolver (``udp://11.0.0.53:53``)
  so that a lie shows as a disagreement, as in OONI's Web Connectivity.
* The middleboxes act on *forwarded* traffic in the router namespaces, so the probe's kernel
  sees what a subscriber's would: a SYN dropped is a connect timeout, a forged RST a reset.
* Every address is in 11.0.0.0/8: the classifier (like OONI) treats DNS answers that are not
  globally routable as bogons, so private ranges would look like tampering. 11/8 is never
  routed here anyway (see Safety).

Switches, all immediate and cumulative, lifted by ``clear(isp)`` / ``reset()``:
``dns_lie`` (the ISP resolver answers the blockpage address, or NXDOMAIN), ``dns_drop`` (DPI
drops queries for a name), ``dns_hijack`` (all port-53 traffic to the ISP resolver),
``tcp_block`` (drop, or RST to the SYN), ``sni_reset`` / ``sni_drop`` (the exact name in the
ClientHello), ``intercept`` (HTTPS to the MITM), ``http_blockpage`` (port 80 to the blockpage
server), ``throttle`` (tc htb on the downlink), ``blackhole``, ``stall_after_connect``, and
``overload(host)`` for the site itself, seen from everywhere.

Reaching servers across the lab (for tests that run a Qorgau server and agents): every
namespace can reach every other one. A server in ``net`` should listen on ``SERVICE_IP``
(11.0.0.200, assigned to net's loopback and unused by the lab itself); a server in ``ctl``
on ``CTL_IP`` (11.10.0.2). :meth:`CensorshipLab.popen` starts a long-lived process in any
namespace and stops it at teardown; :meth:`CensorshipLab.address` names each vantage's own
address. Traffic from isp-a/isp-b crosses their ISP's middlebox, so a blackholed ISP also
cuts its agents' uploads — as it would in the field.

Safety: namespaces are connected only to each other, by veth pairs created *inside* them;
nothing is attached to the root namespace or any real interface, no namespace has a default
route (only 11.0.0.0/8 routes), IPv6 is off. Teardown (also after a failure, and on the
next run after a crash) stops every process the lab started, deletes the namespaces and
their /etc/netns directories. Stale namespaces are removed only when their name carries
this scheme and the pid in it is dead.

Server processes are this module run as ``python -m tests.support.censorship_lab serve
CONFIG``; they read their state (DNS lies, overloaded sites) from JSON files the test rewrites,
and exit when the test process goes away (stdin closes; ``setpriv --pdeathsig`` as well).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import ipaddress
import json
import os
import re
import selectors
import shutil
import signal
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from qorgau.monitor.fingerprints import Fingerprints
    from qorgau.monitor.model import Measurement, Vantage

REPO = Path(__file__).resolve().parents[2]
LAB_FINGERPRINTS = Path(__file__).with_name("lab-blockpages.toml")

# --- addresses ---------------------------------------------------------------------------------

SITES: dict[str, str] = {
    "orda.kz": "11.0.0.10",
    "kaz.orda.kz": "11.0.0.11",
    "eng.orda.kz": "11.0.0.12",
    "vlast.kz": "11.0.0.20",
    "ratel.kz": "11.0.0.21",
    "masa.media": "11.0.0.22",
}
"""Every lab site and its one address (one address per site, so an IP rule hits one site)."""

SITE_TITLES: dict[str, str] = {
    "orda.kz": "Orda.kz — новости Казахстана",
    "kaz.orda.kz": "Orda.kz — Қазақстан жаңалықтары",
    "eng.orda.kz": "Orda.kz — news from Kazakhstan",
    "vlast.kz": "Vlast.kz — независимое издание",
    "ratel.kz": "Ratel.kz — расследования и аналитика",
    "masa.media": "Masa Media — журналистика данных",
}
PAGE_SIZE = 120_000  # bytes of HTML per site: big enough that a shaped link shows
HONEST_DNS = "11.0.0.53"
MITM_IP = "11.0.0.66"
BLOCKPAGE_IP = "11.0.0.99"
BLOCKPAGE_HOST = "block.labtelecom.kz"
BLOCKPAGE_TEXT = "Доступ к информационному ресурсу ограничен"  # see lab-blockpages.toml
SERVICE_IP = "11.0.0.200"
CTL_IP = "11.10.0.2"
ISCA_NAME = "Information Security Certification Authority"  # kz.isca.* in the seed matches it
OVERLOAD_DELAY = 30.0  # longer than any probe timeout: an overloaded site never answers in time

TcpMode = Literal["drop", "reset"]


@dataclass(frozen=True)
class Isp:
    """A censored ISP: a router namespace (middlebox, resolver) and a subscriber namespace."""

    name: str
    sub: str  # role suffix of the subscriber namespace, where probes run
    router: str  # role suffix of the router namespace
    octet: int  # 11.<octet>.0.0/24 inside, 11.<octet + 1>.0.0/24 uplink
    asn: str
    network_name: str

    @property
    def subscriber_ip(self) -> str:
        return f"11.{self.octet}.0.2"

    @property
    def resolver_ip(self) -> str:
        return f"11.{self.octet}.0.1"

    @property
    def uplink_ip(self) -> str:
        return f"11.{self.octet + 1}.0.2"

    @property
    def net_side_ip(self) -> str:
        return f"11.{self.octet + 1}.0.1"


ISPS: dict[str, Isp] = {
    "isp-a": Isp("isp-a", "a", "ra", 20, "AS64500", "LabTelecom A"),
    "isp-b": Isp("isp-b", "b", "rb", 30, "AS64501", "LabTelecom B"),
}
ROLES = ("net", "ctl", "ra", "a", "rb", "b")
_NAMESPACE_OF_VANTAGE = {
    "net": "net",
    "ctl": "ctl",
    "isp-a": "a",
    "isp-b": "b",
    "isp-a-router": "ra",
    "isp-b-router": "rb",
}
_STALE_RE = re.compile(r"qg(\d+)-\d+[a-z]+")
_LAB_PROCESS_MARKERS = (b"tests.support.censorship_lab", b"tests.support.lab_measure")
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")

_sequence = 0  # labs built by this process, for unique names


class LabUnavailable(Exception):
    """This machine cannot host the lab (not root, no namespaces, a missing tool or module).

    Tests turn it into a skip naming what failed; any other failure is a real error.
    """


class LabError(RuntimeError):
    """A lab command or process failed after the environment was found to be usable."""


# --- commands ----------------------------------------------------------------------------------


@functools.cache
def _tool(name: str) -> str | None:
    """``name`` on PATH, else in the sbin directories a non-login root shell may not list."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")


def _run(argv: Sequence[str], *, check: bool = True, timeout: float = 20.0) -> str:
    argv = [_tool(argv[0]) or argv[0], *argv[1:]]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{' '.join(argv)}: {exc}") from exc
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def run_ip(*args: str, check: bool = True) -> str:
    """``ip ARGS…`` (iproute2), its output; a failure raises :class:`LabError` when ``check``."""
    return _run(["ip", *args], check=check)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_json(path: Path, data: Any) -> None:
    """Atomically, so a server never reads half a file (a new inode also marks the change)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def clean_stale() -> list[str]:
    """Delete lab namespaces left by crashed runs: only ``qg<pid>-…`` ones whose pid is dead.

    Processes still inside such a namespace are killed only when they are this lab's own
    servers or probes (recognised by their command line); /etc/netns/<name> goes too.
    """
    removed: list[str] = []
    names = {line.split()[0] for line in _run(["ip", "netns", "list"]).splitlines() if line}
    with contextlib.suppress(OSError):
        names |= {p.name for p in Path("/etc/netns").iterdir()}
    for name in sorted(names):
        match = _STALE_RE.fullmatch(name)
        if match is None or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        for pid_text in _run(["ip", "netns", "pids", name], check=False).split():
            try:
                cmdline = Path(f"/proc/{pid_text}/cmdline").read_bytes()
            except OSError:
                continue
            if any(marker in cmdline for marker in _LAB_PROCESS_MARKERS):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid_text), signal.SIGKILL)
        _run(["ip", "netns", "delete", name], check=False)
        shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)
        removed.append(name)
    return removed


# --- certificates --------------------------------------------------------------------------------


def _issue(
    ca_key: Any, ca_cert: Any, names: Sequence[str], folder: Path, stem: str, *extra: Any
) -> tuple[Path, Path]:
    """A server certificate for ``names`` signed by the CA; writes chain (leaf + extra) and key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = folder / f"{stem}.pem"
    chain.write_bytes(b"".join(c.public_bytes(pem) for c in (cert, *extra)))
    key_path = folder / f"{stem}.key"
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return chain, key_path


def _make_pki(folder: Path) -> dict[str, tuple[str, str]]:
    """The lab CA (trusted by the probes via ``ca_file``), one certificate per site, the
    blockpage server's own, and an interception certificate from a fake ISCA the probes do
    not trust — the way Kazakhstan's interception looks to a browser that refused its root."""
    from cryptography.hazmat.primitives import serialization

    from tests.support.tsa import make_ca

    ca_key, ca = make_ca("Qorgau Lab Root CA")
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    certs: dict[str, tuple[str, str]] = {}
    for host in SITES:
        chain, key = _issue(ca_key, ca, [host], folder, f"site-{host}")
        certs[host] = (str(chain), str(key))
    chain, key = _issue(ca_key, ca, [BLOCKPAGE_HOST], folder, "blockpage")
    certs[BLOCKPAGE_HOST] = (str(chain), str(key))
    isca_key, isca = make_ca(ISCA_NAME)
    for host in SITES:  # one per name, as interception equipment mints them on the fly
        chain, key = _issue(isca_key, isca, [host], folder, f"mitm-{host}", isca)
        certs[f"mitm:{host}"] = (str(chain), str(key))
    return certs


# --- the lab -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    """One measurement round: every vantage measured the same URLs at the same time."""

    urls: tuple[str, ...]
    measurements: dict[str, list[Measurement]]  # vantage -> one per URL, control attached
    control: list[Measurement]  # ctl's measurements, in URL order
    elapsed: float  # seconds, the slowest vantage's process included

    def of(self, vantage: str, url: str) -> Measurement:
        return self.measurements[vantage][self.urls.index(url)]


@dataclass
class _Process:
    proc: subprocess.Popen[bytes]
    what: str


@dataclass
class CensorshipLab:
    """A running lab. Build with :func:`start_lab`; always :meth:`close` (or use ``with``)."""

    workdir: Path
    prefix: str = ""
    namespaces: dict[str, str] = field(default_factory=dict)  # role -> namespace name
    ca_file: Path = Path()
    can_throttle: bool = False
    throttle_problem: str = ""
    _processes: list[_Process] = field(default_factory=list)
    _lies: dict[str, dict[str, list[str] | None]] = field(default_factory=dict)
    _overloaded: dict[str, float] = field(default_factory=dict)
    _shaping: dict[str, int] = field(default_factory=dict)  # isp -> next htb class minor
    _zone: dict[str, list[str]] = field(default_factory=dict)
    _setpriv: str | None = None
    _closed: bool = False

    # -- names and addresses -------------------------------------------------------------

    def ns(self, vantage: str) -> str:
        """The namespace name of a vantage: net, ctl, isp-a, isp-b, isp-a-router, isp-b-router."""
        try:
            return self.namespaces[_NAMESPACE_OF_VANTAGE[vantage]]
        except KeyError:
            raise ValueError(
                f"unknown vantage {vantage!r}; use one of {', '.join(_NAMESPACE_OF_VANTAGE)}"
            ) from None

    @staticmethod
    def address(vantage: str) -> str:
        """The vantage's own address, reachable from every other namespace."""
        addresses = {
            "net": SERVICE_IP,
            "ctl": CTL_IP,
            "isp-a": ISPS["isp-a"].subscriber_ip,
            "isp-b": ISPS["isp-b"].subscriber_ip,
            "isp-a-router": ISPS["isp-a"].resolver_ip,
            "isp-b-router": ISPS["isp-b"].resolver_ip,
        }
        return addresses[vantage]

    @staticmethod
    def ip_of(target: str) -> str:
        """A lab site's address (or ``target`` itself when it already is an address)."""
        if target in SITES:
            return SITES[target]
        try:
            return str(ipaddress.ip_address(target))
        except ValueError:
            raise ValueError(f"{target!r} is neither a lab site nor an IP address") from None

    @staticmethod
    def vantage(name: str) -> Vantage:
        """The :class:`~qorgau.monitor.model.Vantage` probes in ``name`` record."""
        from qorgau.monitor.model import Vantage as VantageModel

        if name == "ctl":
            return VantageModel(
                agent_id="lab-ctl",
                country="DE",
                asn="AS64510",
                network_name="Lab control",
                is_control=True,
            )
        isp = ISPS[name]
        return VantageModel(
            agent_id=f"lab-{name}", country="KZ", asn=isp.asn, network_name=isp.network_name
        )

    # -- building ------------------------------------------------------------------------

    def _build(self) -> None:
        global _sequence
        if sys.platform != "linux":
            raise LabUnavailable("network namespaces need Linux")
        if os.geteuid() != 0:
            raise LabUnavailable("creating network namespaces needs root")
        missing = [tool for tool in ("ip", "iptables", "tc") if _tool(tool) is None]
        if missing:
            raise LabUnavailable(
                f"missing {', '.join(missing)} (Debian: apt-get install iproute2 iptables)"
            )
        self._setpriv = _tool("setpriv")
        try:
            clean_stale()
        except LabError as exc:
            raise LabUnavailable(f"'ip netns' cannot be used here: {exc}") from exc
        self.prefix = f"qg{os.getpid()}-{_sequence}"
        _sequence += 1
        for role in ROLES:
            name = f"{self.prefix}{role}"
            try:
                _run(["ip", "netns", "add", name])
            except LabError as exc:
                raise LabUnavailable(f"'ip netns add' is not permitted here: {exc}") from exc
            self.namespaces[role] = name
            self._ip(role, "link", "set", "lo", "up")
            for key in ("all", "default", "lo"):
                self._sysctl(role, f"net.ipv6.conf.{key}.disable_ipv6", "1", required=False)
        try:
            self._veth("net", "ctl0", "ctl", "net0")
        except LabError as exc:
            raise LabUnavailable(f"cannot create veth pairs between namespaces: {exc}") from exc
        try:
            self._sysctl("net", "net.ipv4.ip_forward", "1")
        except LabError as exc:
            raise LabUnavailable(f"cannot enable forwarding in a namespace: {exc}") from exc
        self._address("net", "ctl0", "11.10.0.1/24")
        self._address("ctl", "net0", f"{CTL_IP}/24")
        self._ip("ctl", "route", "add", "11.0.0.0/8", "via", "11.10.0.1")
        for isp in ISPS.values():
            self._veth("net", f"{isp.router}0", isp.router, "net0")
            self._veth(isp.router, "sub0", isp.sub, "isp0")
            self._address("net", f"{isp.router}0", f"{isp.net_side_ip}/24")
            self._address(isp.router, "net0", f"{isp.uplink_ip}/24")
            self._address(isp.router, "sub0", f"{isp.resolver_ip}/24")
            self._address(isp.sub, "isp0", f"{isp.subscriber_ip}/24")
            self._ip(isp.sub, "route", "add", "11.0.0.0/8", "via", isp.resolver_ip)
            self._ip(isp.router, "route", "add", "11.0.0.0/8", "via", isp.net_side_ip)
            self._ip("net", "route", "add", f"11.{isp.octet}.0.0/16", "via", isp.uplink_ip)
            self._sysctl(isp.router, "net.ipv4.ip_forward", "1")
        for ip in (*SITES.values(), HONEST_DNS, MITM_IP, BLOCKPAGE_IP, SERVICE_IP):
            self._ip("net", "addr", "add", f"{ip}/32", "dev", "lo")
        for isp in ISPS.values():
            self._middlebox_chains(isp)
        self._probe_shaping()
        self._resolv_conf()
        self._start_servers()

    def _ip(self, role: str, *args: str) -> str:
        return _run(["ip", "-n", self.namespaces[role], *args])

    def _exec(self, role: str, *argv: str, check: bool = True) -> str:
        return _run(["ip", "netns", "exec", self.namespaces[role], *argv], check=check)

    def _sysctl(self, role: str, key: str, value: str, *, required: bool = True) -> None:
        path = "/proc/sys/" + key.replace(".", "/")
        self._exec(role, "sh", "-c", f"echo {value} > {path}", check=required)

    def _veth(self, role: str, name: str, peer_role: str, peer_name: str) -> None:
        """A veth pair created inside ``role`` with its peer moved straight into ``peer_role``:
        neither end ever exists in the root namespace."""
        peer_ns = self.namespaces[peer_role]
        self._ip(
            role, "link", "add", name, "type", "veth", "peer", "name", peer_name, "netns", peer_ns
        )
        self._ip(role, "link", "set", name, "up")
        self._ip(peer_role, "link", "set", peer_name, "up")

    def _address(self, role: str, dev: str, cidr: str) -> None:
        self._ip(role, "addr", "add", cidr, "dev", dev)

    def _iptables(self, isp: Isp, rule: str) -> None:
        """One iptables command in ``isp``'s router; ``rule`` is split on whitespace (no
        argument the lab uses contains a space: hex strings are written without them)."""
        self._exec(isp.router, _tool("iptables") or "iptables", "-w", "5", *rule.split())

    def _tc(self, isp: Isp, command: str, *, check: bool = True) -> None:
        self._exec(isp.router, _tool("tc") or "tc", *command.split(), check=check)

    def _middlebox_chains(self, isp: Isp) -> None:
        """QG_FWD (forwarded traffic), QG_IN (the router's own resolver) and nat QG_PRE, which
        every censorship switch appends to and :meth:`clear` flushes."""
        try:
            for rule in (
                "-N QG_FWD",
                "-A FORWARD -j QG_FWD",
                "-N QG_IN",
                "-A INPUT -j QG_IN",
                "-t nat -N QG_PRE",
                "-t nat -A PREROUTING -j QG_PRE",
                # Every match and target the switches use, tried once, so that a kernel
                # without them skips the lab here instead of failing one test later.
                f"-A QG_FWD {_sni_match('probe.invalid')} -j REJECT --reject-with tcp-reset",
                f"-A QG_FWD -p udp --dport 53 -m string --algo bm --hex-string "
                f"{_qname_match('probe.invalid')} --icase -j DROP",
                "-A QG_FWD -p tcp -m length --length 1000:65535 -j DROP",
                f"-t nat -A QG_PRE -d {MITM_IP} -p tcp --dport 443 -j DNAT "
                f"--to-destination {MITM_IP}:443",
                "-F QG_FWD",
                "-t nat -F QG_PRE",
            ):
                self._iptables(isp, rule)
        except LabError as exc:
            raise LabUnavailable(
                f"iptables in a namespace lacks what the lab needs (chains, string match, "
                f"REJECT tcp-reset, DNAT): {exc}"
            ) from exc

    def _probe_shaping(self) -> None:
        isp = ISPS["isp-a"]
        try:
            self._tc(isp, "qdisc add dev sub0 root handle 1: htb default 10")
            self._tc(
                isp,
                f"filter add dev sub0 parent 1: protocol ip prio 1 u32 "
                f"match ip src {BLOCKPAGE_IP}/32 flowid 1:10",
            )
            self.can_throttle = True
        except LabError as exc:
            self.throttle_problem = f"tc htb with u32 filters is not available: {exc}"
        self._tc(isp, "qdisc del dev sub0 root", check=False)

    def _resolv_conf(self) -> None:
        """Each namespace's "system" resolver: the ISP's for subscribers, else the honest one.
        glibc's default timeouts (5 s, two attempts) on purpose: a resolver a censor silences
        keeps a getaddrinfo call busy far longer than any probe step, as in the field."""
        for role, name in self.namespaces.items():
            isp = next((i for i in ISPS.values() if i.sub == role), None)
            resolver = isp.resolver_ip if isp else HONEST_DNS
            folder = Path("/etc/netns") / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "resolv.conf").write_text(f"nameserver {resolver}\n", encoding="ascii")

    def _start_servers(self) -> None:
        certs = _make_pki(self.workdir)
        self.ca_file = self.workdir / "ca.pem"
        zone = {host: [ip] for host, ip in SITES.items()} | {BLOCKPAGE_HOST: [BLOCKPAGE_IP]}
        self._zone = zone
        _write_json(self.workdir / "dns-honest.json", {"zone": zone, "lies": {}})
        for isp in ISPS:
            self._lies[isp] = {}
            self._write_lies(isp)
        _write_json(self.workdir / "overload.json", {})
        web: list[dict[str, Any]] = [
            {"ip": ip, "kind": "site", "host": host, "cert": certs[host]}
            for host, ip in SITES.items()
        ]
        web.append(
            {
                "ip": BLOCKPAGE_IP,
                "kind": "blockpage",
                "host": BLOCKPAGE_HOST,
                "cert": certs[BLOCKPAGE_HOST],
            }
        )
        mitm = {host: certs[f"mitm:{host}"] for host in SITES}
        web.append({"ip": MITM_IP, "kind": "mitm", "host": None, "cert": None, "certs": mitm})
        configs: dict[str, dict[str, Any]] = {
            "net": {
                "dns": [{"ip": HONEST_DNS, "state": str(self.workdir / "dns-honest.json")}],
                "web": web,
                "overload": str(self.workdir / "overload.json"),
            }
        }
        for name, isp in ISPS.items():
            configs[isp.router] = {
                "dns": [{"ip": isp.resolver_ip, "state": str(self.workdir / f"dns-{name}.json")}],
                "web": [],
                "overload": None,
            }
        starting = []
        for role, config in configs.items():
            path = self.workdir / f"server-{role}.json"
            _write_json(path, config)
            log = (self.workdir / f"server-{role}.log").open("wb")
            proc = self._spawn(
                self.namespaces[role],
                [sys.executable, "-m", "tests.support.censorship_lab", "serve", str(path)],
                env=None,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
            log.close()
            self._processes.append(_Process(proc, f"server in {role}"))
            starting.append((proc, role))
        for proc, role in starting:
            self._await_ready(proc, role)

    def _await_ready(self, proc: subprocess.Popen[bytes], role: str) -> None:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            if selector.select(timeout=20):
                line = proc.stdout.readline()
                if line.strip() == b"READY":
                    return
        log = (self.workdir / f"server-{role}.log").read_text(errors="replace")[-2000:]
        raise LabError(f"the lab server in {role} did not start: {log}")

    def _spawn(
        self,
        namespace: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None,
        **popen: Any,
    ) -> subprocess.Popen[bytes]:
        prefix = [_tool("ip") or "ip", "netns", "exec", namespace]
        if self._setpriv:  # dies with the test process, even on SIGKILL
            prefix += [self._setpriv, "--pdeathsig", "KILL", "--"]
        environment = {
            k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARIABLES
        }  # nothing outside the lab is reachable, a proxy least of all
        environment.update(env or {})
        popen.setdefault("cwd", REPO)
        return subprocess.Popen([*prefix, *argv], env=environment, **popen)

    # -- processes for other tests ---------------------------------------------------------

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        """Every long-lived process the lab started (its servers, then :meth:`popen`'s)."""
        return [item.proc for item in self._processes]

    def popen(
        self,
        vantage: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        **popen: Any,
    ) -> subprocess.Popen[bytes]:
        """Start a long-lived process inside ``vantage``'s namespace (see :meth:`ns`).

        The lab stops it at teardown (SIGTERM, then SIGKILL after 5 s; anything it left in
        the namespace is killed too), and it dies with the test process. ``env`` is added to
        this process's environment (proxy variables removed: nothing outside the lab can be
        reached); other keyword arguments go to :class:`subprocess.Popen` (``cwd`` defaults
        to the repository). Servers should listen on :meth:`address` of their vantage
        (``SERVICE_IP`` in net, ``CTL_IP`` in ctl): every namespace routes to those.
        """
        proc = self._spawn(self.ns(vantage), argv, env, **popen)
        self._processes.append(_Process(proc, f"{argv[0]} in {vantage}"))
        return proc

    # -- censorship switches ---------------------------------------------------------------

    def _write_lies(self, isp: str) -> None:
        _write_json(self.workdir / f"dns-{isp}.json", {"zone": self._zone, "lies": self._lies[isp]})

    def dns_lie(
        self, isp: str, host: str, answer: str | Sequence[str] | None = BLOCKPAGE_IP
    ) -> None:
        """``isp``'s resolver answers ``answer`` for ``host`` (``None``: NXDOMAIN)."""
        answers = None if answer is None else [answer] if isinstance(answer, str) else list(answer)
        self._lies[isp][host] = answers
        self._write_lies(isp)

    def dns_drop(self, isp: str, host: str) -> None:
        """Drop every DNS query for ``host`` and its subdomains from ``isp``'s subscribers, to
        any resolver (its own included): DPI on the query name, so those lookups time out."""
        spec = ISPS[isp]
        for chain in ("QG_FWD", "QG_IN"):
            for proto in ("udp", "tcp"):
                self._iptables(
                    spec,
                    f"-A {chain} -i sub0 -p {proto} --dport 53 -m string --algo bm "
                    f"--hex-string {_qname_match(host)} --icase -j DROP",
                )

    def dns_hijack(self, isp: str) -> None:
        """Redirect every DNS query leaving ``isp`` to its own resolver, so that asking
        another resolver over plain DNS gets the ISP's answer (seen in Kazakhstan and Russia)."""
        spec = ISPS[isp]
        for proto in ("udp", "tcp"):
            self._iptables(
                spec,
                f"-t nat -A QG_PRE -i sub0 -p {proto} --dport 53 -j DNAT "
                f"--to-destination {spec.resolver_ip}:53",
            )

    def tcp_block(self, isp: str, target: str, mode: TcpMode = "drop") -> None:
        """Block every connection to ``target`` (a site or an IP) on ``isp``: ``drop`` makes
        connects time out, ``reset`` answers each SYN with a forged RST."""
        ip = self.ip_of(target)
        if mode == "drop":
            self._iptables(ISPS[isp], f"-A QG_FWD -d {ip} -j DROP")
        elif mode == "reset":
            self._iptables(ISPS[isp], f"-A QG_FWD -d {ip} -p tcp -j REJECT --reject-with tcp-reset")
        else:
            raise ValueError(f"mode must be 'drop' or 'reset', not {mode!r}")

    def sni_reset(self, isp: str, host: str) -> None:
        """Reset TLS connections whose ClientHello names exactly ``host`` (not its subdomains)."""
        self._iptables(ISPS[isp], f"-A QG_FWD {_sni_match(host)} -j REJECT --reject-with tcp-reset")

    def sni_drop(self, isp: str, host: str) -> None:
        """Drop the ClientHello naming exactly ``host``: the handshake times out, which is how
        OONI found Kazakh ISPs blocking in 2024."""
        self._iptables(ISPS[isp], f"-A QG_FWD {_sni_match(host)} -j DROP")

    def intercept(self, isp: str, host: str) -> None:
        """Send ``host``'s HTTPS on ``isp`` to the MITM server, which presents a certificate
        from the fake "Information Security Certification Authority" and relays the page."""
        self._redirect(isp, host, 443, MITM_IP)

    def http_blockpage(self, isp: str, host: str) -> None:
        """Serve the blockpage instead of ``host``'s plain-HTTP site on ``isp`` (a transparent
        proxy's blockpage: port 80 to the site's address goes to the blockpage server)."""
        self._redirect(isp, host, 80, BLOCKPAGE_IP)

    def _redirect(self, isp: str, host: str, port: int, to: str) -> None:
        self._iptables(
            ISPS[isp],
            f"-t nat -A QG_PRE -i sub0 -d {self.ip_of(host)} -p tcp --dport {port} -j DNAT "
            f"--to-destination {to}:{port}",
        )

    def throttle(self, isp: str, target: str, rate: str = "64kbit") -> None:
        """Shape traffic from ``target`` to ``isp``'s subscribers to ``rate`` (tc htb + u32)."""
        if not self.can_throttle:
            raise LabUnavailable(self.throttle_problem)
        spec = ISPS[isp]
        if isp not in self._shaping:
            self._tc(spec, "qdisc add dev sub0 root handle 1: htb default 10")
            self._tc(
                spec, "class add dev sub0 parent 1: classid 1:10 htb rate 10gbit quantum 60000"
            )
            self._shaping[isp] = 0x20
        minor = f"{self._shaping[isp]:x}"
        self._shaping[isp] += 1
        self._tc(
            spec,
            f"class add dev sub0 parent 1: classid 1:{minor} htb rate {rate} ceil {rate} "
            f"burst 15k quantum 1514",
        )
        self._tc(
            spec,
            f"filter add dev sub0 parent 1: protocol ip prio 1 u32 "
            f"match ip src {self.ip_of(target)}/32 flowid 1:{minor}",
        )

    def blackhole(self, isp: str) -> None:
        """Drop everything ``isp`` forwards, and every query to its resolver."""
        spec = ISPS[isp]
        self._iptables(spec, "-A QG_FWD -j DROP")
        for proto in ("udp", "tcp"):
            self._iptables(spec, f"-A QG_IN -p {proto} --dport 53 -j DROP")

    def stall_after_connect(self, isp: str) -> None:
        """Let TCP handshakes through but drop every segment carrying data: TLS and HTTP stall."""
        self._iptables(ISPS[isp], "-A QG_FWD -p tcp -m length --length 100:65535 -j DROP")

    def overload(self, host: str, on: bool = True, delay: float = OVERLOAD_DELAY) -> None:
        """Make ``host`` behave like a site under a DDoS, for everyone (control included):
        connections are accepted, then nothing happens for ``delay`` seconds (no TLS
        handshake, no HTTP answer), after which it answers 503."""
        ip = self.ip_of(host)
        if on:
            self._overloaded[ip] = delay
        else:
            self._overloaded.pop(ip, None)
        _write_json(self.workdir / "overload.json", self._overloaded)

    def clear(self, isp: str) -> None:
        """Lift every censorship switch on ``isp`` (rules, shaping and DNS lies)."""
        spec = ISPS[isp]
        for rule in ("-F QG_FWD", "-F QG_IN", "-t nat -F QG_PRE"):
            self._iptables(spec, rule)
        if isp in self._shaping:
            self._tc(spec, "qdisc del dev sub0 root", check=False)
            del self._shaping[isp]
        self._lies[isp] = {}
        self._write_lies(isp)
        # Established flows keep their NAT mapping; new ones follow the new rules. Nothing
        # else to flush: the probes open new connections for every measurement.

    def reset(self) -> None:
        """Back to an uncensored, healthy internet: every ISP cleared, no site overloaded."""
        for isp in ISPS:
            self.clear(isp)
        self._overloaded.clear()
        _write_json(self.workdir / "overload.json", {})

    # -- measuring -------------------------------------------------------------------------

    def resolvers(self, vantage: str) -> list[str]:
        """The resolvers a probe in ``vantage`` uses: its system one, and for ISP subscribers
        also the honest resolver, so DNS tampering shows as disagreement."""
        if vantage == "ctl":
            return ["system"]
        return ["system", f"udp://{HONEST_DNS}:53"]

    def start_measure(
        self,
        vantage: str,
        urls: Sequence[str],
        *,
        timeout: float = 3.0,
        resolvers: Sequence[str] | None = None,
        concurrency: int = 16,
    ) -> subprocess.Popen[bytes]:
        """Start ``tests.support.lab_measure`` in ``vantage``; collect with :meth:`collect`."""
        v = self.vantage(vantage)
        options = {
            "--timeout": str(timeout),
            "--ca-file": str(self.ca_file),
            "--concurrency": str(concurrency),
            "--agent-id": v.agent_id or "",
            "--country": v.country or "",
            "--asn": v.asn or "",
            "--network-name": v.network_name or "",
        }
        argv = [sys.executable, "-m", "tests.support.lab_measure"]
        for flag, value in options.items():
            argv += [flag, value]
        if v.is_control:
            argv.append("--control")
        for resolver in resolvers if resolvers is not None else self.resolvers(vantage):
            argv += ["--resolver", resolver]
        argv += ["--", *urls]
        return self._spawn(
            self.ns(vantage),
            argv,
            None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    @staticmethod
    def collect(proc: subprocess.Popen[bytes], limit: float) -> list[Measurement]:
        """The measurements a probe process printed; a process still running after ``limit``
        seconds is killed and reported, because a probe that hangs is a bug in itself."""
        from qorgau.monitor.wire import from_json

        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise LabError(f"a probe did not finish within {limit:.0f} s") from None
        if proc.returncode != 0:
            raise LabError(
                f"the probe failed ({proc.returncode}): {err.decode(errors='replace')[-3000:]}"
            )
        return [from_json(json.loads(line)) for line in out.decode().splitlines() if line]

    def measure(
        self,
        vantage: str,
        urls: Sequence[str],
        *,
        timeout: float = 3.0,
        resolvers: Sequence[str] | None = None,
    ) -> list[Measurement]:
        """Measure ``urls`` from ``vantage`` now; one Measurement per URL, in order."""
        proc = self.start_measure(vantage, urls, timeout=timeout, resolvers=resolvers)
        return self.collect(proc, _process_limit(timeout))

    def measure_round(
        self,
        urls: Sequence[str],
        *,
        vantages: Sequence[str] = ("isp-a", "isp-b"),
        timeout: float = 3.0,
        concurrency: int = 16,
    ) -> Round:
        """Measure ``urls`` from ``vantages`` and from ctl at the same time, and attach to each
        censored measurement the control built from ctl's measurement of the same URL."""
        from qorgau.monitor.control import control_from

        started = time.monotonic()
        procs = {
            v: self.start_measure(v, urls, timeout=timeout, concurrency=concurrency)
            for v in (*vantages, "ctl")
        }
        limit = _process_limit(timeout)
        try:
            results = {v: self.collect(p, limit) for v, p in procs.items()}
        finally:  # one probe failed: the others must not outlive the round
            for proc in procs.values():
                if proc.returncode is None:
                    proc.kill()
                    proc.communicate()
        elapsed = time.monotonic() - started
        control = results.pop("ctl")
        paired = {
            v: [replace(m, control=control_from(c)) for m, c in zip(ms, control, strict=True)]
            for v, ms in results.items()
        }
        return Round(tuple(urls), paired, control, elapsed)

    # -- inspection ------------------------------------------------------------------------

    def isolation_report(self) -> dict[str, dict[str, Any]]:
        """Per namespace: its links (name, kind), its routes, and whether the outside world
        (a public address, the root namespace's resolver) has a route — all for the safety test."""
        report: dict[str, dict[str, Any]] = {}
        for role, name in self.namespaces.items():
            links = json.loads(_run(["ip", "-j", "-d", "-n", name, "link", "show"]))
            routes = json.loads(_run(["ip", "-j", "-n", name, "route", "show"]))
            escapes = []
            for outside in ("1.1.1.1", "8.8.8.8", "10.0.0.1", "192.168.1.1", "172.16.0.1"):
                route = _run(["ip", "-n", name, "route", "get", outside], check=False)
                if route.strip():
                    escapes.append(f"{outside}: {route.strip()}")
            report[role] = {
                "links": [
                    (link["ifname"], link.get("linkinfo", {}).get("info_kind", "loopback"))
                    for link in links
                ],
                "routes": [r["dst"] for r in routes],
                "escapes": escapes,
            }
        return report

    # -- teardown --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every process the lab started, delete its namespaces and /etc/netns entries."""
        if self._closed:
            return
        self._closed = True
        for item in reversed(self._processes):
            if item.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    item.proc.terminate()
        for item in reversed(self._processes):
            try:
                item.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    item.proc.kill()
                item.proc.wait(timeout=5)
            for stream in (item.proc.stdin, item.proc.stdout, item.proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        for name in self.namespaces.values():
            # Anything still inside was started by the lab (a popen'd process's children,
            # say): nothing else can enter these namespaces. Left alone it would keep the
            # namespace alive, nameless, after the delete below.
            for pid_text in _run(["ip", "netns", "pids", name], check=False).split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid_text), signal.SIGKILL)
            _run(["ip", "netns", "delete", name], check=False)
            shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)
        self.namespaces.clear()

    def __enter__(self) -> CensorshipLab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def start_lab(workdir: Path) -> CensorshipLab:
    """Build and start the lab in ``workdir`` (certificates, state files, server logs).

    Raises :class:`LabUnavailable` when this machine cannot host it; everything half-built is
    torn down before any exception leaves.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    lab = CensorshipLab(workdir=workdir)
    try:
        lab._build()
    except BaseException:
        lab.close()
        raise
    return lab


def lab_fingerprints() -> Fingerprints:
    """The shipped Kazakhstan seed plus the lab's blockpage fingerprints."""
    from qorgau.monitor.fingerprints import load_default, load_toml

    return load_default() + load_toml(LAB_FINGERPRINTS)


def _process_limit(timeout: float) -> float:
    """How long a probe process may take: its measurement deadline (3 × timeout + 1 s grace)
    plus generous interpreter start-up; past that it is a hang."""
    return 3 * timeout + 1 + 15


def _sni_match(host: str) -> str:
    """iptables arguments matching a ClientHello whose server_name is exactly ``host``.

    In the SNI extension the name follows a type byte (0, host_name) and its two-byte length,
    so matching those three bytes too keeps ``orda.kz`` from matching ``kaz.orda.kz`` (whose
    ClientHello holds "orda.kz" preceded by "kaz.") — the over-blocking a naive filter does.
    """
    name = host.encode("idna")
    prefix = struct.pack("!BH", 0, len(name)).hex()
    return f"-p tcp --dport 443 -m string --algo bm --hex-string |{prefix}|{name.decode()}"


def _qname_match(host: str) -> str:
    """A DNS query name in wire format (length-prefixed labels, then the root's zero byte)
    for ``--hex-string``: ``host`` and its subdomains (whose names end in the same bytes), but
    not other names ending in the same letters (``xorda.kz`` has a different length byte)."""
    wire = b"".join(bytes([len(label)]) + label for label in host.encode("idna").split(b"."))
    return f"|{(wire + bytes(1)).hex()}|"


# =============================================================================================
# The server side: ``python -m tests.support.censorship_lab serve CONFIG`` in a namespace.


class _Watched:
    """A JSON state file the test rewrites (atomically); re-read only when it changed."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self._key: tuple[int, int, int] | None = None
        self._data: dict[str, Any] = {}

    def get(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        key = (st.st_mtime_ns, st.st_ino, st.st_size)
        if key != self._key:
            self._data = json.loads(self.path.read_text(encoding="utf-8"))
            self._key = key
        return self._data


def _dns_reply(wire: bytes, state: dict[str, Any]) -> bytes | None:
    import dns.flags
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

    try:
        query = dns.message.from_wire(wire)
    except Exception:  # garbage on port 53 gets no answer, like most resolvers
        return None
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.RA
    if not query.question:
        reply.set_rcode(dns.rcode.FORMERR)
        return cast(bytes, reply.to_wire())
    question = query.question[0]
    name = question.name.to_text(omit_final_dot=True).lower()
    lies: dict[str, list[str] | None] = state.get("lies", {})
    zone: dict[str, list[str]] = state.get("zone", {})
    if name in lies:
        answers = lies[name]
    elif name in zone:
        answers = zone[name]
    else:
        answers = None
    if answers is None:
        reply.set_rcode(dns.rcode.NXDOMAIN)
        return cast(bytes, reply.to_wire())
    wanted = question.rdtype
    if wanted in (dns.rdatatype.A, dns.rdatatype.AAAA):
        version = 4 if wanted == dns.rdatatype.A else 6
        ips = [ip for ip in answers if ipaddress.ip_address(ip).version == version]
        if ips:
            rtype = dns.rdatatype.to_text(wanted)
            reply.answer.append(dns.rrset.from_text(question.name, 60, "IN", rtype, *ips))
    return cast(bytes, reply.to_wire())


class _UdpDns(asyncio.DatagramProtocol):
    def __init__(self, state: _Watched) -> None:
        self.state = state
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = _dns_reply(data, self.state.get())
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


def _tcp_dns(state: _Watched) -> Any:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = _dns_reply(await reader.readexactly(length), state.get())
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except Exception:  # clients leave whenever they like
            pass
        finally:
            writer.close()

    return handler


def _site_page(host: str) -> bytes:
    title = SITE_TITLES.get(host, host)
    parts = [
        f'<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><h1>{title}</h1>\n"
    ]
    size, n = len(parts[0]), 0
    while size < PAGE_SIZE:
        n += 1
        paragraph = (
            f"<p>{host}, материал {n}: журналисты рассказывают о событиях в стране, "
            f"проверяют факты и публикуют документы.</p>\n"
        )
        parts.append(paragraph)
        size += len(paragraph.encode())
    parts.append("</body></html>\n")
    return "".join(parts).encode()


def _blockpage() -> bytes:
    return (
        '<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Доступ ограничен'
        "</title></head><body><h1>Доступ ограничен</h1>"
        f"<p>{BLOCKPAGE_TEXT} в соответствии с законодательством Республики Казахстан.</p>"
        "<p>LabTelecom</p></body></html>\n"
    ).encode()


def _http_response(status: str, body: bytes, *headers: str) -> bytes:
    head = [
        f"HTTP/1.1 {status}",
        "Server: nginx",
        "Content-Type: text/html; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *headers,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


_OVERLOADED = (
    b"<html><head><title>503 Service Temporarily Unavailable</title></head>"
    b"<body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>\n"
)


class _World:
    """What the net server needs to answer any request: pages, state, TLS contexts."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.overload = _Watched(config.get("overload"))
        self.pages = {host: _site_page(host) for host in SITES}
        self.blockpage = _blockpage()

    def answer(self, kind: str, own_host: str | None, request_host: str, overloaded: bool) -> bytes:
        if overloaded:
            return _http_response("503 Service Temporarily Unavailable", _OVERLOADED)
        if kind == "blockpage":
            return _http_response("200 OK", self.blockpage, "X-Filter: LabTelecom")
        host = request_host if kind == "mitm" else (own_host or request_host)
        page = self.pages.get(host)
        if page is None:
            return _http_response("404 Not Found", b"<html><title>404</title></html>\n")
        return _http_response("200 OK", page, f"X-Lab-Site: {host}", "Cache-Control: max-age=60")


class _WebListener:
    """One web port of one address, accepting by hand so that nothing is read too early.

    ``asyncio.start_server(ssl=…)`` would finish the TLS handshake before any code of ours
    runs, and ``StreamWriter.start_tls`` afterwards loses a ClientHello the stream already
    buffered. Accepting the raw socket and handing it to ``connect_accepted_socket`` only
    when ready keeps early bytes in the kernel: an overloaded site really does sit on the
    ClientHello, and a healthy one can never race it.
    """

    def __init__(
        self, world: _World, spec: dict[str, Any], port: int, context: ssl.SSLContext | None
    ) -> None:
        self.world, self.spec, self.port, self.context = world, spec, port, context
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        import socket

        loop = asyncio.get_running_loop()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.spec["ip"], self.port))
        listener.listen(512)
        listener.setblocking(False)
        self.ready.set_result(None)
        while True:
            conn, _ = await loop.sock_accept(listener)
            task = asyncio.create_task(self.serve(conn))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def start(self) -> None:
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.runner = asyncio.create_task(self.run())
        await asyncio.wait([self.ready, self.runner], return_when=asyncio.FIRST_COMPLETED)
        if self.runner.done():
            self.runner.result()  # binding failed: say why

    async def serve(self, conn: Any) -> None:
        loop = asyncio.get_running_loop()
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(120):
                delay = self.world.overload.get().get(self.spec["ip"])
                if delay:
                    await asyncio.sleep(float(delay))  # a site under attack gets to us late
                reader = asyncio.StreamReader()
                protocol = asyncio.StreamReaderProtocol(reader)
                tls: dict[str, Any] = {}
                if self.context is not None:
                    tls = {"ssl": self.context, "ssl_handshake_timeout": 15}
                transport, _ = await loop.connect_accepted_socket(lambda: protocol, conn, **tls)
                writer = asyncio.StreamWriter(transport, protocol, reader, loop)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 15)
                host = ""
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    key, _, value = line.partition(":")
                    if key.strip().lower() == "host":
                        host = value.strip().lower().rsplit(":", 1)[0]
                spec = self.spec
                writer.write(self.world.answer(spec["kind"], spec["host"], host, bool(delay)))
                await writer.drain()
        except (OSError, TimeoutError, EOFError, asyncio.IncompleteReadError):
            pass  # probes hang up mid-handshake on purpose; so do censors
        except Exception as exc:  # a bug of the lab: into the server's log
            print(f"{self.spec['ip']}:{self.port}: {exc!r}", file=sys.stderr, flush=True)
        finally:
            if writer is not None:
                writer.close()
            else:
                conn.close()


def _mitm_context(certs: dict[str, list[str]]) -> ssl.SSLContext:
    """A server context that presents, for whichever lab name the ClientHello asks for, that
    name's certificate from the fake ISCA (chain: leaf, ISCA root)."""
    contexts: dict[str, ssl.SSLContext] = {}
    for host, (chain, key) in certs.items():
        contexts[host] = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        contexts[host].load_cert_chain(chain, key)
    default = next(iter(contexts.values()))

    def pick(obj: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        if name in contexts:
            obj.context = contexts[name]

    default.sni_callback = pick
    return default


async def _serve(config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    for spec in config["dns"]:
        state = _Watched(spec["state"])
        await loop.create_datagram_endpoint(
            lambda state=state: _UdpDns(state), local_addr=(spec["ip"], 53)
        )
        await asyncio.start_server(_tcp_dns(state), spec["ip"], 53)
    world = _World(config)
    listeners: list[_WebListener] = []  # referenced, so their tasks live as long as we do
    for spec in config["web"]:
        if spec["kind"] == "mitm":
            context = _mitm_context(spec["certs"])
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*spec["cert"])
        ports: list[tuple[int, ssl.SSLContext | None]] = [(443, context)]
        if spec["kind"] != "mitm":
            ports.append((80, None))
        for port, port_context in ports:
            listener = _WebListener(world, spec, port, port_context)
            await listener.start()
            listeners.append(listener)
    print("READY", flush=True)
    await asyncio.Event().wait()


def _exit_with_parent() -> None:
    """The test holds our stdin; when it goes (even killed), so do we."""
    sys.stdin.buffer.read()
    os._exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "serve":
        print("usage: python -m tests.support.censorship_lab serve CONFIG.json", file=sys.stderr)
        return 2
    config = json.loads(Path(args[1]).read_text(encoding="utf-8"))
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(_serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "BLOCKPAGE_IP",
    "CTL_IP",
    "HONEST_DNS",
    "ISPS",
    "MITM_IP",
    "SERVICE_IP",
    "SITES",
    "CensorshipLab",
    "LabError",
    "LabUnavailable",
    "Round",
    "clean_stale",
    "lab_fingerprints",
    "run_ip",
    "start_lab",
]
