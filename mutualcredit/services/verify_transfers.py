"""``verify``'s replay of the money in chain order, and the checks of resolutions.

The workers (:mod:`verify_workers`) check that every transfer's posting
rows are exactly the postings its author signed, and send those rows back in
chain order; the replay takes them — plain integers — and rebuilds every
account's totals, checking each movement against the account's limits *as
they stood at that event* (limit changes are signed records in the same
chain) with the posting function's rule: counting pending debits against
the lower limit, pending credits against the upper; hold resolutions release
first and are not checked again; forced reversals are not checked.

Then, from the facts the workers gathered: each hold resolved at most once,
not expired early, and showing the status its resolution gives it; each
transfer reversed at most once, and only a posted movement of money; each
batch signed over exactly its transfers; each payment request resolved once,
by its party, before expiry, as its signed request and resolutions say.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from mutualcredit.domain.amounts import format_amount
from mutualcredit.domain.authority import (
    may_resolve,
    reverses_exactly,
    roles_at,
    scaled_exactly,
)
from mutualcredit.domain.transfers import HOLD_RESOLUTION_STATUS, batch_bytes, is_reversible
from mutualcredit.services.keys import verify_signature
from mutualcredit.services.verify_workers import Facts

if TYPE_CHECKING:
    from mutualcredit.services.verify import Verifier

RESOLVED = HOLD_RESOLUTION_STATUS
# Account state, a list for speed: posted debits, posted credits, pending debits,
# pending credits, lower limit, upper limit.
DEBITS, CREDITS, PENDING_DEBITS, PENDING_CREDITS, LOWER, UPPER = range(6)


class Replay:
    def __init__(self, verifier: Verifier, connection: Connection) -> None:
        self.verifier = verifier
        self.connection = connection
        self.ledger = verifier.ledger
        self.problem = verifier.problem
        self.state: dict[int, list[Any]] = {}
        self.names: dict[int, str] = {}
        self.currencies: dict[int, str] = {}
        self.held: dict[int, list[tuple[int, int, str, int]]] = {}
        self.resolved: set[int] = set()
        self._load_accounts()
        self.changes = sorted(
            (seq, name, new_lower, new_upper)
            for name, history in verifier.limit_history.items()
            for seq, _ol, new_lower, _ou, new_upper in history
        )
        self.next_change = 0

    def _load_accounts(self) -> None:
        history = self.verifier.limit_history
        signed = self.verifier.signed_state.limits
        self.ids: dict[str, int] = {}
        self.cached: dict[int, tuple[int, int, int, int]] = {}
        self.kinds: dict[int, str] = {}
        for row in self.connection.execute(
            text(
                "SELECT id, name, currency, kind, limit_lower, limit_upper, posted_debits, "
                "posted_credits, pending_debits, pending_credits FROM account"
            )
        ):
            # The limits it starts from are those of the signed record that made it (an
            # account no record made is reported as such, and starts from the table's).
            lower, upper = signed.get(row.name, (row.limit_lower, row.limit_upper))
            changes = sorted(history.get(row.name, []))
            final = (lower, upper)
            if changes:
                if (changes[0][1], changes[0][3]) != (lower, upper):
                    self.problem(
                        "limit_history_mismatch",
                        f"account {row.name}",
                        f"the limit change at event {changes[0][0]} starts from other "
                        f"limits than the signed record that made {row.name} gave it",
                        event=changes[0][0],
                        account=row.name,
                    )
                final = (changes[-1][2], changes[-1][4])
                for previous, current in zip(changes, changes[1:], strict=False):
                    if (previous[2], previous[4]) != (current[1], current[3]):
                        self.problem(
                            "limit_history_mismatch",
                            f"account {row.name}",
                            f"the limit change at event {current[0]} starts from other "
                            f"limits than event {previous[0]} set",
                            event=current[0],
                            account=row.name,
                        )
            if final != (row.limit_lower, row.limit_upper):
                self.problem(
                    "limit_history_mismatch",
                    f"account {row.name}",
                    f"{row.name}'s limits in the account table are not those its "
                    "signed records set"
                    + (f" (last changed at event {changes[-1][0]})" if changes else "")
                    + ": they were edited",
                    account=row.name,
                )
            account_id = int(row.id)
            self.state[account_id] = [0, 0, 0, 0, lower, upper]
            self.names[account_id] = row.name
            self.currencies[account_id] = row.currency
            self.ids[row.name] = account_id
            self.kinds[account_id] = row.kind
            self.cached[account_id] = (
                int(row.posted_debits),
                int(row.posted_credits),
                int(row.pending_debits),
                int(row.pending_credits),
            )

    # -- the replay --------------------------------------------------------------------------

    def feed(self, facts: Facts) -> None:
        """Replay a worker's range of transfers, the next in chain order."""
        moves = facts.moves
        if not moves:
            return
        state = self.state
        if (
            facts.sums is not None
            and any(account not in state for account in facts.sums)
            or facts.sums is None
            and any(posting[1] not in state for move in moves for posting in move[5])
        ):
            moves = self._known_accounts(moves)
            facts.sums = None
        if facts.sums is not None and self._apply_range(moves[0][0], moves[-1][0], facts.sums):
            return
        last = self.verifier.report.events
        changes = self.changes
        for seq, transfer_id, kind, resolves_id, forced, stored in moves:
            if seq > last:
                break  # a transfer whose event is gone: reported by the chain checks
            while self.next_change < len(changes) and changes[self.next_change][0] < seq:
                self._set_limits(changes[self.next_change])
                self.next_change += 1
            self._apply(seq, transfer_id, kind, resolves_id, forced, stored)

    def _known_accounts(self, moves: list[Any]) -> list[Any]:
        """Moves without their postings to account ids the account table does not hold (an
        account's id was edited): each is named, and the rest replayed."""
        kept = []
        for seq, transfer_id, kind, resolves_id, forced, stored in moves:
            unknown = sorted({posting[1] for posting in stored if posting[1] not in self.state})
            if unknown:
                self.problem(
                    "postings_mismatch",
                    f"transfer {transfer_id}",
                    f"transfer {transfer_id} (event {seq}) has postings to account "
                    f"id{'s' if len(unknown) > 1 else ''} "
                    f"{', '.join(map(str, unknown))}, which the account table does "
                    "not hold: an account's id or a posting was edited",
                    event=seq,
                )
                stored = [posting for posting in stored if posting[1] in self.state]
            kept.append((seq, transfer_id, kind, resolves_id, forced, stored))
        return kept

    def _apply_range(self, first_seq: int, last_seq: int, sums: dict[int, list[int]]) -> bool:
        """Apply a range of plain movements at once, if no order of them could pass a limit:
        each account's debits all taken before its credits stay above its lower limit, and
        its credits all taken first stay below its upper one.  False (nothing applied) if
        not, or if a limit changes within the range: then it is replayed transfer by
        transfer."""
        if last_seq > self.verifier.report.events:
            return False
        changes = self.changes
        while self.next_change < len(changes) and changes[self.next_change][0] < last_seq:
            if changes[self.next_change][0] > first_seq:
                return False
            self._set_limits(changes[self.next_change])
            self.next_change += 1
        state = self.state
        for account_id, (debits, credits) in sums.items():
            account = state[account_id]
            balance = account[CREDITS] - account[DEBITS]
            lower, upper = account[LOWER], account[UPPER]
            if debits and lower is not None and balance - account[PENDING_DEBITS] - debits < lower:
                return False
            if (
                credits
                and upper is not None
                and balance + account[PENDING_CREDITS] + credits > upper
            ):
                return False
        for account_id, (debits, credits) in sums.items():
            account = state[account_id]
            account[DEBITS] += debits
            account[CREDITS] += credits
        return True

    def _set_limits(self, change: tuple[int, str, Any, Any]) -> None:
        account_id = self.ids.get(change[1])
        if account_id is not None:
            self.state[account_id][LOWER] = change[2]
            self.state[account_id][UPPER] = change[3]

    def _apply(
        self,
        seq: int,
        transfer_id: int,
        kind: str,
        resolves_id: Any,
        forced: bool,
        moves: list[tuple[int, int, str, int]],
    ) -> None:
        state = self.state
        if kind in RESOLVED:
            held = self.held.get(resolves_id)
            if held is None or resolves_id in self.resolved:
                return  # reported from the facts: not a hold, or resolved twice
            self.resolved.add(resolves_id)
            for _transfer, account_id, _currency, amount in held:
                account = state[account_id]
                if amount < 0:
                    account[PENDING_DEBITS] += amount
                else:
                    account[PENDING_CREDITS] -= amount
            if kind == "post_hold":
                if not scaled_exactly([row[1:] for row in held], [row[1:] for row in moves]):
                    self.problem(
                        "post_mismatch",
                        f"transfer {transfer_id}",
                        f"transfer {transfer_id} (event {seq}) posts hold "
                        f"{resolves_id} with postings that are not the hold's, in one "
                        "proportion, at most what it held",
                        event=seq,
                    )
                for _transfer, account_id, _currency, amount in moves:
                    state[account_id][DEBITS if amount < 0 else CREDITS] += abs(amount)
            return
        pending = kind == "hold"
        if pending:
            self.held[transfer_id] = moves
        check = not forced
        for _transfer, account_id, _currency, amount in moves:
            account = state[account_id]
            balance = account[CREDITS] - account[DEBITS]
            if check:
                if amount < 0:
                    lower = account[LOWER]
                    if lower is not None and balance - account[PENDING_DEBITS] + amount < lower:
                        self._exceeded(
                            transfer_id,
                            seq,
                            account_id,
                            balance - account[PENDING_DEBITS] + amount,
                            lower,
                        )
                else:
                    upper = account[UPPER]
                    if upper is not None and balance + account[PENDING_CREDITS] + amount > upper:
                        self._exceeded(
                            transfer_id,
                            seq,
                            account_id,
                            balance + account[PENDING_CREDITS] + amount,
                            upper,
                        )
            if pending:
                account[PENDING_DEBITS if amount < 0 else PENDING_CREDITS] += abs(amount)
            else:
                account[DEBITS if amount < 0 else CREDITS] += abs(amount)

    def _exceeded(
        self, transfer_id: int, seq: int, account_id: int, reached: int, limit: int
    ) -> None:
        name, currency = self.names[account_id], self.currencies[account_id]
        scale = self.ledger.currencies[currency].scale
        self.problem(
            "limit_exceeded",
            f"transfer {transfer_id}",
            f"transfer {transfer_id} (event {seq}) took {name} to "
            f"{format_amount(reached, scale)} {currency}, past its limit of "
            f"{format_amount(limit, scale)} {currency} as it stood then",
            event=seq,
            account=name,
        )

    # -- after the replay ----------------------------------------------------------------------

    def totals(self) -> None:
        """The invariants of :mod:`invariants` from the replayed totals (one pass, no SQL).

        ``cached_totals``: each account's cached totals are its replayed ones;
        ``zero_sum``: posted amounts sum to zero per currency; ``positions``: the
        collectives' positions sum to zero.
        """
        sums: dict[str, int] = defaultdict(int)
        positions = 0
        for account_id, state in self.state.items():
            name, currency = self.names[account_id], self.currencies[account_id]
            replayed = tuple(state[:4])
            if replayed != self.cached[account_id]:
                self.problem(
                    "cached_totals",
                    f"account {name}",
                    f"{name}: cached totals (debits, credits, pending debits, pending "
                    f"credits) {self.cached[account_id]} differ from its postings "
                    f"{replayed}",
                    account=name,
                )
            sums[currency] += state[CREDITS] - state[DEBITS]
            if self.kinds[account_id] == "network_clearing":
                positions += state[CREDITS] - state[DEBITS]
        for currency, total in sorted(sums.items()):
            if total:
                self.problem("zero_sum", currency, f"{currency} postings sum to {total:+d}")
        if positions:
            self.problem("positions", "network:clearing", f"positions sum to {positions:+d}")

    def finish(self, connection: Connection, facts: list[Facts]) -> None:
        holds = {h[0]: h for f in facts for h in f.holds}
        resolutions: dict[Any, list[tuple[int, int, Any, str, str, str]]] = defaultdict(list)
        for item in sorted(r for f in facts for r in f.resolutions):
            resolutions[item[2]].append(item)
        self._holds(holds, resolutions)
        self._reversals(connection, [r for f in facts for r in f.reversals])
        self._batches(connection, [b for f in facts for b in f.batches])
        accepts: dict[Any, list[Any]] = defaultdict(list)
        for accept in sorted((a for f in facts for a in f.accepts), key=lambda a: a[0]):
            accepts[accept[1]].append(accept)
        self._requests(connection, accepts)

    def _holds(self, holds: dict[int, Any], resolutions: dict[Any, list[Any]]) -> None:
        for hold_id, found in resolutions.items():
            if hold_id not in holds:
                for transfer_id, seq, _hold, _kind, _at, _author in found:
                    self.problem(
                        "hold_resolution_invalid",
                        f"transfer {transfer_id}",
                        f"transfer {transfer_id} resolves {hold_id}, which is not a hold",
                        event=seq,
                    )
        for hold_id, (_id, status, resolved_at, expires_at, author, credited) in holds.items():
            found = resolutions.get(hold_id, [])
            subject = f"transfer {hold_id}"
            for transfer_id, seq, _hold, kind, _at, resolver in found:
                self._resolution_authority(
                    transfer_id, seq, kind, resolver, hold_id, author, credited
                )
            if len(found) > 1:
                self.problem(
                    "hold_resolved_twice",
                    subject,
                    f"hold {hold_id} is resolved {len(found)} times (transfers "
                    f"{', '.join(str(r[0]) for r in found)})",
                    event=found[1][1],
                )
            wanted = (RESOLVED[found[0][3]], found[0][4]) if found else ("pending", None)
            if (status, resolved_at) != wanted:
                self.problem(
                    "hold_status",
                    subject,
                    f"hold {hold_id} shows {status} but its resolutions say {wanted[0]}",
                    event=found[0][1] if found else None,
                )
            if (
                found
                and found[0][3] == "expire_hold"
                and (expires_at is None or found[0][4] < expires_at)
            ):
                self.problem(
                    "hold_expired_early",
                    f"transfer {found[0][0]}",
                    f"transfer {found[0][0]} expired hold {hold_id} at {found[0][4]}, "
                    f"before its expiry {expires_at}",
                    event=found[0][1],
                )

    def _resolution_authority(
        self,
        transfer_id: int,
        seq: int,
        kind: str,
        author: str,
        hold_id: int,
        hold_author: str,
        credited: list[int],
    ) -> None:
        """The posting function's rule for resolving a hold, with the roles the chain's signed
        records had granted the author at that point."""
        owners = self.verifier.account_facts
        accounts = [owners[account] for account in credited if account in owners]
        if not may_resolve(
            kind, author, hold_author, accounts, roles_at(self.verifier.roles.get(author, ()), seq)
        ):
            self.problem(
                "not_authorised",
                f"transfer {transfer_id}",
                f"transfer {transfer_id} (event {seq}, {kind}) resolves hold "
                f"{hold_id} of {hold_author}, which its author {author} might not "
                "at that point of the chain",
                event=seq,
            )

    def _reversal_postings(self, connection: Connection, by_original: dict[Any, list[int]]) -> None:
        """Each reversal moves exactly the opposite of its original (the posting rows are the
        signed ones: the workers compared them)."""
        wanted = {reversal for found in by_original.values() for reversal in found}
        if not wanted:
            return
        postings: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
        for transfer_id, account_id, currency, amount in connection.execute(
            text(
                "SELECT transfer_id, account_id, currency, amount FROM posting WHERE transfer_id "
                "IN (SELECT id FROM transfer WHERE kind = 'reversal') OR transfer_id IN (SELECT "
                "reverses_id FROM transfer WHERE kind = 'reversal')"
            )
        ):
            postings[int(transfer_id)].append((int(account_id), currency, int(amount)))
        for original, found in by_original.items():
            for reversal in found:
                if isinstance(original, int) and not reverses_exactly(
                    postings.get(original, []), postings.get(reversal, [])
                ):
                    self.problem(
                        "reversal_mismatch",
                        f"transfer {reversal}",
                        f"transfer {reversal} reverses {original} but does not move "
                        "exactly the opposite of its postings",
                    )

    def _reversals(self, connection: Connection, reversals: list[tuple[int, Any, bool]]) -> None:
        by_original: dict[Any, list[int]] = defaultdict(list)
        for transfer_id, original, _force in sorted(reversals):
            by_original[original].append(transfer_id)
        kinds = {}
        if by_original:
            for transfer_id, kind, status in connection.execute(
                text(
                    "SELECT id, kind, status FROM transfer WHERE kind != 'reversal' AND id IN "
                    "(SELECT reverses_id FROM transfer WHERE kind = 'reversal')"
                )
            ):
                kinds[int(transfer_id)] = (kind, status)
        self._reversal_postings(connection, by_original)
        for original, found in by_original.items():
            if len(found) > 1:
                self.problem(
                    "reversed_twice",
                    f"transfer {original}",
                    f"transfer {original} is reversed {len(found)} times (transfers "
                    f"{', '.join(map(str, found))})",
                )
            kind, status = kinds.get(original, ("missing", None))
            if not is_reversible(kind, status):  # a missing original is no kind at all
                self.problem(
                    "reversal_invalid",
                    f"transfer {found[0]}",
                    f"transfer {found[0]} reverses {original} ({kind}), which cannot be reversed",
                )

    def _batches(
        self, connection: Connection, members: list[tuple[int, int, str, str, int]]
    ) -> None:
        rows = {
            int(r.id): r
            for r in connection.execute(
                text("SELECT id, author, key_id, signature, size FROM batch")
            )
        }
        grouped: dict[int, list[tuple[int, str, str, int]]] = defaultdict(list)
        for batch_id, transfer_id, body_hash, author, key_id in members:
            grouped[batch_id].append((transfer_id, body_hash, author, key_id))
        keys = self.verifier.keys
        for batch_id, items in sorted(grouped.items()):
            items.sort()
            subject = f"batch {batch_id}"
            batch = rows.get(batch_id)
            span = f"transfers {items[0][0]}…{items[-1][0]}"
            if (
                batch is None
                or batch.size != len(items)
                or any(
                    author != batch.author or key_id != batch.key_id
                    for _, _, author, key_id in items
                )
            ):
                self.problem(
                    "batch_mismatch",
                    subject,
                    f"batch {batch_id} does not hold the transfers its signature covers ({span})",
                )
                continue
            key = keys.get(int(batch.key_id))
            message = batch_bytes(
                network=self.ledger.network.id,
                author=batch.author,
                body_hashes=[body_hash for _, body_hash, _, _ in items],
            )
            self.verifier.report.signatures += 1
            if key is None or not verify_signature(key.public_key, batch.signature, message):
                self.problem(
                    "batch_signature_invalid",
                    subject,
                    f"the signature of batch {batch_id} ({span}) does not verify: a "
                    "transfer was added, removed or changed",
                )
        for batch_id in sorted(set(rows) - set(grouped)):
            self.problem(
                "batch_mismatch",
                f"batch {batch_id}",
                f"batch {batch_id} has no transfers in the chain",
            )

    def replayed_bodies(self, connection: Connection) -> None:
        """A signed body stored twice: a transfer replayed behind the program's back."""
        for body_hash, count in connection.execute(
            text("SELECT body_hash, COUNT(*) FROM transfer GROUP BY body_hash HAVING COUNT(*) > 1")
        ):
            ids = [
                int(i)
                for (i,) in connection.execute(
                    text("SELECT id FROM transfer WHERE body_hash = :h ORDER BY id"),
                    {"h": body_hash},
                )
            ]
            for transfer_id in ids[1:]:
                self.problem(
                    "idempotency_key_reused",
                    f"transfer {transfer_id}",
                    f"transfer {transfer_id} repeats the signed body of transfer "
                    f"{ids[0]} ({count} copies): a signed transfer was replayed",
                )

    # -- payment requests ----------------------------------------------------------------------

    def _requests(self, connection: Connection, accepts: dict[Any, list[Any]]) -> None:
        verifier = self.verifier
        seen_records = set()
        owners = {
            name: (kind, owner)
            for name, kind, owner in connection.execute(
                text("SELECT name, owner_kind, owner FROM account")
            )
        }
        for row in connection.execute(
            text(
                "SELECT id, record_id, body_hash, author, payer, payee, amount, currency, memo, "
                "created_at, expires_at, status, transfer_id, resolution_record_id, "
                "resolved_at, resolved_by, reason FROM payment_request ORDER BY id"
            )
        ):
            subject = f"request {row.id}"
            seen_records.add(int(row.record_id))
            signed = verifier.request_records.get(int(row.record_id))
            if signed is None:
                self.problem(
                    "request_mismatch", subject, f"request {row.id} has no signed request record"
                )
                continue
            seq, body, body_hash = signed
            scale = (
                self.ledger.currencies[row.currency].scale
                if row.currency in self.ledger.currencies
                else 0
            )
            if (
                body.get("payer"),
                body.get("payee"),
                body.get("amount"),
                body.get("currency"),
                body.get("memo"),
                body.get("expires_at"),
                body.get("author"),
                body.get("created_at"),
                body_hash,
            ) != (
                row.payer,
                row.payee,
                format_amount(int(row.amount), scale),
                row.currency,
                row.memo,
                row.expires_at,
                row.author,
                row.created_at,
                row.body_hash,
            ):
                self.problem(
                    "request_mismatch",
                    subject,
                    f"request {row.id} differs from the request its payee signed (event {seq})",
                    event=seq,
                )
            self._party(owners.get(row.payee), row.author, subject, f"request {row.id}")
            self._resolutions(row, subject, accepts.get(int(row.id), []), owners)
        for record_id, (seq, _body, _hash) in verifier.request_records.items():
            if record_id not in seen_records:
                self.problem(
                    "request_missing",
                    f"record {record_id}",
                    f"the signed request of event {seq} has no request row: it was deleted",
                    event=seq,
                )

    def _resolutions(
        self, row: Any, subject: str, accepts: list[Any], owners: dict[str, tuple[str, str | None]]
    ) -> None:
        closings = self.verifier.closing_records.get(int(row.id), [])
        if len(accepts) > 1:
            self.problem(
                "request_accepted_twice",
                subject,
                f"request {row.id} was accepted {len(accepts)} times (transfers "
                f"{', '.join(str(a[0]) for a in accepts)})",
            )
        elif len(accepts) + len(closings) > 1:
            self.problem(
                "request_resolved_twice",
                subject,
                f"request {row.id} was resolved {len(accepts) + len(closings)} times",
            )
        # (status, accepting transfer, closing record, resolved at, by, reason)
        if accepts:
            wanted: tuple[Any, ...] = (
                "accepted",
                accepts[0][0],
                None,
                accepts[0][3],
                accepts[0][2],
                None,
            )
        elif closings:
            body = closings[0][2]
            wanted = (
                "declined" if closings[0][1] == "request_declined" else "withdrawn",
                None,
                closings[0][0],
                body.get("created_at"),
                body.get("author"),
                body.get("reason"),
            )
        else:
            wanted = ("open", None, None, None, None, None)
        actual = (
            row.status,
            row.transfer_id,
            row.resolution_record_id,
            row.resolved_at,
            row.resolved_by,
            row.reason,
        )
        if actual[:3] != wanted[:3]:
            self.problem(
                "request_status",
                subject,
                f"request {row.id} shows {row.status} but its signed resolutions say {wanted[0]}",
            )
        elif actual[3:] != wanted[3:]:
            names = [
                name
                for name, a, b in zip(
                    ("resolved_at", "resolved_by", "reason"), actual[3:], wanted[3:], strict=True
                )
                if a != b
            ]
            self.problem(
                "column_mismatch",
                subject,
                f"request {row.id}'s {', '.join(names)} differ from its signed "
                "resolution: it was edited",
            )
        payer_id = self.ids.get(row.payer)
        for transfer_id, _request, author, created_at, meta, first in accepts:
            if (
                meta.get("request_hash") != row.body_hash
                or meta.get("from") != row.payer
                or meta.get("to") != row.payee
                or first is None
                or (first[0], first[2]) != (payer_id, -int(row.amount))
            ):
                self.problem(
                    "request_payment_mismatch",
                    f"transfer {transfer_id}",
                    f"transfer {transfer_id} does not pay what request {row.id} asks",
                )
            if row.expires_at is not None and created_at >= row.expires_at:
                self.problem(
                    "request_accepted_expired",
                    subject,
                    f"request {row.id} expired at {row.expires_at} but transfer "
                    f"{transfer_id} accepted it at {created_at}",
                )
            self._party(
                owners.get(row.payer), author, subject, f"transfer {transfer_id} accepting it"
            )
        for record_id, kind, body, _seq in closings:
            account = row.payer if kind == "request_declined" else row.payee
            self._party(
                owners.get(account), str(body.get("author")), subject, f"record {record_id}"
            )
            if body.get("request_hash") != row.body_hash:
                self.problem(
                    "request_mismatch",
                    subject,
                    f"record {record_id} resolves another request than {row.id}",
                )
            if row.expires_at is not None and str(body.get("created_at")) >= row.expires_at:
                self.problem(
                    "request_accepted_expired",
                    subject,
                    f"request {row.id} expired at {row.expires_at} before record "
                    f"{record_id} resolved it",
                )

    def _party(
        self, owner: tuple[str, str | None] | None, author: str, subject: str, what: str
    ) -> None:
        if owner is not None and owner[0] == "member" and owner[1] != author:
            self.problem(
                "request_wrong_party", subject, f"{what} is signed by {author}, not by {owner[1]}"
            )
