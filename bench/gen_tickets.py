"""Generate an N-row ticket export shaped like the Grito Rock sample.

UTF-8 with a byte-order mark, ';' delimiter, CRLF line ends, Portuguese
headers, ``dd/mm/YYYY HH:MM`` local dates, decimal commas with '.' thousands
separators, a quoted buyer name containing the delimiter now and then, and the
same mix of statuses and payment methods.  Deterministic for a given --seed;
external ids are unique.

    .venv/bin/python bench/gen_tickets.py --rows 1000000 --seed 1 -o /tmp/tickets-1m.csv
"""

from __future__ import annotations

import argparse
import random
from datetime import datetime, timedelta

HEADER = (
    "Número do pedido;Data do pedido;Nome do comprador;E-mail;Tipo de ingresso;"
    "Valor do ingresso;Taxa de conveniência;Status do pedido;Forma de pagamento"
)
TICKETS = [
    ("Inteira", "40,00", "4,00"),
    ("Meia-entrada", "20,00", "2,00"),
    ("Solidário (1kg de alimento)", "25,00", "2,50"),
    ("Passaporte 2 dias", "70,00", "7,00"),
    ("Lote de grupo (30 inteiras)", "1.200,00", "120,00"),
]
TICKET_WEIGHTS = [58, 57, 61, 64, 1]
STATUSES = ["Aprovado", "Estornado", "Pendente", "Cancelado"]
STATUS_WEIGHTS = [193, 18, 17, 13]
PAYMENTS = ["Pix", "Dinheiro na bilheteria", "Boleto", "Cartão de crédito"]
FIRST = ["Luíza", "João", "Tainá", "José", "Ana", "Caio", "Márcia", "Raí"]
LAST = ["Carvalho", "Gonçalves", "Souza", "Santos", "Araújo", "Lima"]


def rows(count: int, seed: int):
    rng = random.Random(seed)
    start = datetime(2026, 9, 1)
    for number in range(count):
        ticket, price, fee = rng.choices(TICKETS, TICKET_WEIGHTS)[0]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        name = f"{first} {last}"
        if number % 997 == 0:
            name = f'"Coletivo {last}; produção"'
        when = start + timedelta(minutes=rng.randrange(90 * 24 * 60))
        yield ";".join(
            [
                f"GR26-{1000000 + number}",
                when.strftime("%d/%m/%Y %H:%M"),
                name,
                f"{first.lower()}.{last.lower()}@exemplo.com.br",
                ticket,
                price,
                fee,
                rng.choices(STATUSES, STATUS_WEIGHTS)[0],
                rng.choice(PAYMENTS),
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-o", "--output", required=True)
    arguments = parser.parse_args()
    with open(arguments.output, "w", encoding="utf-8-sig", newline="") as handle:
        handle.write(HEADER + "\r\n")
        for row in rows(arguments.rows, arguments.seed):
            handle.write(row + "\r\n")


if __name__ == "__main__":
    main()
