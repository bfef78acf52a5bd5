"""The demo network: a small Fora do Eixo-style network, built deterministically.

Three collectives with their own cards at 1:1 — Espaço Cubo (Cuiabá), Palafita
(Macapá) and Massa (São Carlos) — a dozen members, and a few dozen exchanges
of real services, several across collectives, leaving non-zero positions
between collectives, and one payment refused for its limit.  Which exchanges
happen is drawn from ``random.Random(seed)``; everything else is fixed.

Later features add their own steps to :data:`STEPS` (bookings, imports, …).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from mutualcredit.domain.amounts import format_amount
from mutualcredit.domain.errors import Refused
from mutualcredit.services import network as setup
from mutualcredit.services.context import Ledger
from mutualcredit.services.keys import KeyStore, Signer
from mutualcredit.services.payments import pay

DEMO_DB = "mutualcredit-demo.db"
DEMO_PASSPHRASE = "demo-pass"

COLLECTIVES = (
    ("cubo", "Espaço Cubo (Cuiabá)", "CUBO"),
    ("palafita", "Palafita (Macapá)", "PALAFITA"),
    ("massa", "Massa Coletiva (São Carlos)", "MASSA"),
)
# handle, display name, collective, credit line in centavos, coordinator?
MEMBERS = (
    ("ana", "Ana Moura", "cubo", 20_000, True),
    ("bruno", "Bruno Teles", "cubo", 10_000, False),
    ("carla", "Carla Arruda", "cubo", 10_000, False),
    ("davi", "Davi Campos", "cubo", 5_000, False),
    ("caio", "Caio Ribeiro", "palafita", 20_000, True),
    ("elis", "Elis Nascimento", "palafita", 10_000, False),
    ("fabio", "Fábio Pantoja", "palafita", 10_000, False),
    ("gabi", "Gabi Lobato", "palafita", 5_000, False),
    ("heitor", "Heitor Sales", "massa", 20_000, True),
    ("iara", "Iara Fontes", "massa", 10_000, False),
    ("joao", "João Prado", "massa", 10_000, False),
    ("kaue", "Kauê Lima", "massa", 2_000, False),
)
SERVICES = (
    ("1h de estúdio de ensaio", 1_500, "1"),
    ("turno de roadie", 4_000, "4"),
    ("fotografia do show", 6_000, "3"),
    ("hospedagem, 1 noite", 3_500, None),
    ("mixagem de uma faixa", 8_000, "5"),
    ("design do cartaz", 5_000, "3"),
    ("operação de som (PA)", 7_000, "6"),
    ("transporte de backline", 3_000, "2"),
    ("oficina de produção", 4_500, "3"),
    ("refeição da equipe", 2_000, None),
)
EXCHANGES = 32


@dataclass
class Demo:
    ledger: Ledger
    signers: dict[str, Signer]
    rng: random.Random
    seed: int
    lines: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)


Step = Callable[[Demo], None]


def build(
    database: Path, *, seed: int, home: Path, passphrase: str, kdf_n: int | None = None
) -> Demo:
    """Build the demo network in a new SQLite file ``database``."""
    assert not database.exists(), database
    network_id = setup.new_network_id()
    store = KeyStore(home, network_id, **({"kdf_n": kdf_n} if kdf_n else {}))
    admin = Signer.generate("banco")
    store.write(admin, passphrase)
    ledger = setup.init_network(
        str(database),
        setup.NetworkSettings(
            name="Rede Fora do Eixo (demo)",
            card="CARD",
            admin="banco",
            member_limit_lower=0,
            clearing_limit=100_000,
        ),
        admin,
        network_id,
    )
    demo = Demo(ledger=ledger, signers={"banco": admin}, rng=random.Random(seed), seed=seed)
    for step in STEPS:
        step(demo)
    for handle, signer in demo.signers.items():
        if handle != "banco":
            store.write(signer, passphrase)
    return demo


def step_network(demo: Demo) -> None:
    ledger, admin = demo.ledger, demo.signers["banco"]
    for slug, name, code in COLLECTIVES:
        setup.add_collective(ledger, admin, slug=slug, name=name, currency=code, rate=Fraction(1))
    for handle, name, collective, line, coordinator in MEMBERS:
        signer = Signer.generate(handle)
        demo.signers[handle] = signer
        setup.add_member(
            ledger,
            admin,
            handle=handle,
            name=name,
            collective=collective,
            public_key=signer.public_key,
            limit_lower=-line,
            coordinator=coordinator,
        )
    demo.say(
        f"network {ledger.network.name}: card CARD, {len(COLLECTIVES)} collectives "
        f"with their own cards at 1:1, {len(MEMBERS)} members"
    )


def step_fund_payments(demo: Demo) -> None:
    """Each collective's fund pays its coordinator for a month of production work."""
    for handle, _name, collective, _line, coordinator in MEMBERS:
        if coordinator:
            pay(
                demo.ledger,
                demo.signers[handle],
                payer=f"collectives:{collective}:fund",
                payee=handle,
                amount=30_000,
                memo="produção do mês (pago pelo fundo)",
                key=f"demo-fund-{handle}",
                meta={"hours": "20.00"},
            )
    demo.say("each collective's fund paid its coordinator 300.00 for a month of production")


def step_exchanges(demo: Demo) -> None:
    handles = [m[0] for m in MEMBERS]
    home = {m[0]: m[2] for m in MEMBERS}
    made = crossing = 0
    attempts = 0
    while made < EXCHANGES and attempts < 1000:
        attempts += 1
        payer, payee = demo.rng.sample(handles, 2)
        memo, price, hours = demo.rng.choice(SERVICES)
        meta = {"hours": f"{hours}.00"} if hours else {}
        try:
            pay(
                demo.ledger,
                demo.signers[payer],
                payer=payer,
                payee=payee,
                amount=price,
                memo=memo,
                key=f"demo-exchange-{made}",
                meta=meta,
            )
        except Refused:
            continue  # over that member's line: the draw moves on, as a member would
        made += 1
        crossing += home[payer] != home[payee]
    demo.say(
        f"{made} exchanges of services, {crossing} of them across collectives (through clearing)"
    )


def step_refused(demo: Demo) -> None:
    """kaue has a credit line of 20.00 and tries to pay for a whole mixing session."""
    try:
        pay(
            demo.ledger,
            demo.signers["kaue"],
            payer="kaue",
            payee="caio",
            amount=40_000,
            memo="mixagem do disco inteiro",
            key="demo-refused",
        )
    except Refused as error:
        demo.refused.append(f"kaue → caio 400.00: refused ({error.code}): {error.message}")
        demo.say(f"refused as it should be: {error.message}")
        return
    raise AssertionError("the demo's over-limit payment was accepted")


from mutualcredit.imports.demo import step_imports  # noqa: E402
from mutualcredit.services.bookings import demo_step as step_bookings  # noqa: E402
from mutualcredit.services.requests import step_requests  # noqa: E402

STEPS: list[Step] = [
    step_network,
    step_fund_payments,
    step_exchanges,
    step_refused,
    step_bookings,
    step_requests,
    step_imports,
]


def positions(ledger: Ledger) -> list[tuple[str, str]]:
    from mutualcredit.services.queries import list_accounts

    return [
        (row["account"].rsplit(":", 1)[1], row["balance"])
        for row in list_accounts(ledger, prefix="network:clearing:")
    ]


def shown(ledger: Ledger, minor: int) -> str:
    return format_amount(minor, ledger.card.scale)
