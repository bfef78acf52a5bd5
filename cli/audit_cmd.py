"""Audit: verify, verify-proof, proof, and checkpoint create|cosign|verify|prove|list.

Every failed verification exits 3 (the ledger, a checkpoint or a proof is not
what it claims): the report goes to stdout, one error line to stderr.
``verify-proof`` and ``checkpoint verify --proof`` need no database.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from mutualcredit.domain.ids import ID_MAX
from mutualcredit_cli import common
from mutualcredit_cli.common import JSON_OPTION

checkpoint_app = typer.Typer(
    help="Signed checkpoints of the ledger (RFC 9162 Merkle roots).", no_args_is_help=True
)
TRUST_OPTION = typer.Option(
    None,
    "--trust",
    metavar="HANDLE=KEY",
    help="Accept only this key (64 hex) for HANDLE; repeat for each trusted signer and author.",
)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
    app.command("verify-proof")(verify_proof)
    app.command("proof")(proof)
    app.add_typer(checkpoint_app, name="checkpoint")


def _read(path: Path, what: str) -> bytes:
    from mutualcredit.domain.checkpoints import DOCUMENT_BYTES_MAX, MalformedDocument

    if not path.exists():
        from mutualcredit.domain.errors import NotFound

        raise NotFound(f"{what} file {path} does not exist", code="file_not_found")
    if not path.is_file():
        from mutualcredit.domain.errors import UsageError

        raise UsageError(f"{what} file {path} is not a regular file", code="file_not_regular")
    with path.open("rb") as handle:
        data = handle.read(DOCUMENT_BYTES_MAX + 1)
    if len(data) > DOCUMENT_BYTES_MAX:
        raise MalformedDocument(f"{what} file {path} is larger than {DOCUMENT_BYTES_MAX} bytes")
    return data


def _checkpoint(path: Path) -> bytes:
    """A checkpoint file's bytes for verify, which reports a malformed one as a problem of
    the ledger's evidence; input nested past any checkpoint's depth is refused here (exit 2)."""
    from mutualcredit.domain.checkpoints import (
        InputTooDeep,
        MalformedDocument,
        load_json_document,
    )

    data = _read(path, "checkpoint")
    try:
        load_json_document(data, what="checkpoint")
    except MalformedDocument:
        pass  # verify names it, with the other problems it finds
    except InputTooDeep as error:
        raise InputTooDeep(f"{path}: {error.message}") from None
    return data


def _load(path: Path, what: str) -> dict[str, Any]:
    from mutualcredit.domain.checkpoints import MalformedDocument, load_json_document

    try:
        return load_json_document(_read(path, what), what=what)
    except MalformedDocument as error:
        raise MalformedDocument(f"{path}: {error.message}") from None


def _check_out(path: Path | None) -> None:
    """Refuse a symlink or directory ``--out`` before anything is signed or stored."""
    if path is not None:
        from mutualcredit.services.output_files import check_output

        check_output(path)


def _write(path: Path, document: dict[str, Any]) -> None:
    """Write a JSON document to ``--out`` (:mod:`mutualcredit.services.output_files`)."""
    import json

    from mutualcredit.services.output_files import write_output

    write_output(path, json.dumps(document, indent=2) + "\n")


def _trusted(entries: list[str] | None) -> dict[str, set[str]] | None:
    if not entries:
        return None
    from mutualcredit.domain.errors import UsageError
    from mutualcredit.domain.names import validate_handle
    from mutualcredit.services.keys import parse_public_key

    trusted: dict[str, set[str]] = {}
    for entry in entries:
        handle, separator, key = entry.partition("=")
        if not separator:
            raise UsageError(f"--trust {entry!r} is not HANDLE=KEY", code="usage")
        trusted.setdefault(validate_handle(handle), set()).add(parse_public_key(key))
    return trusted


# -- verify -----------------------------------------------------------------------------------


def verify(
    checkpoint: list[Path] | None = typer.Option(  # noqa: UP007
        None,
        "--checkpoint",
        metavar="FILE",
        help="Check that the ledger holds exactly the history this checkpoint signed (repeatable).",
    ),
    since: Path | None = typer.Option(  # noqa: UP007
        None,
        "--since-checkpoint",
        metavar="FILE",
        help="As --checkpoint, and skip re-checking signatures of the events it covers.",
    ),
    workers: int | None = typer.Option(  # noqa: UP007
        None,
        "--workers",
        min=1,
        max=256,
        help="Processes checking signatures (default: all cores).",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Check every signature, the chain, totals, limits and resolutions; exit 3 on any problem."""
    from mutualcredit.domain.errors import IntegrityProblem
    from mutualcredit.services.verify import CheckpointInput, open_for_verify, verify_ledger

    inputs = []
    for path in checkpoint or []:
        inputs.append(CheckpointInput(label=str(path), document=_checkpoint(path)))
    if since is not None:
        inputs.append(CheckpointInput(label=str(since), document=_checkpoint(since), since=True))
    ledger = open_for_verify(common.database_target())
    with _progress(enabled=not json_output) as progress:
        report = verify_ledger(ledger, checkpoints=inputs, workers=workers, progress=progress)
    if json_output:
        common.print_json(report.document())
    else:
        _show_report(report)
    if not report.clean:
        codes = sorted({problem.code for problem in report.problems})
        raise IntegrityProblem(
            f"the ledger failed verification: {len(report.problems)} problem"
            f"{'s' if len(report.problems) != 1 else ''} ({', '.join(codes)})",
            code="verification_failed",
        )


class _progress:
    """A rich progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bar = Progress(
            "checking signatures",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=common.console(stderr=True),
            transient=True,
        )
        self.bar.__enter__()
        self.task = self.bar.add_task("signatures", total=None)
        return self.update

    def update(self, done: int, total: int) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _show_report(report: Any) -> None:
    out = common.console()
    for item in report.checkpoints:
        out.print(
            common.text(
                f"checkpoint {item['label']}: {item['size']} events at {item['time']}, signed by "
                f"{', '.join(item['signers'])}: {item['outcome']}"
            )
        )
    if report.problems:
        grid = common.table("code", "concerns", "problem")
        for problem in report.problems:
            grid.add_row(problem.code, common.text(problem.subject), common.text(problem.message))
        out.print(grid)
    state = "clean" if report.clean else f"{len(report.problems)} problems"
    out.print(
        common.text(
            f"{report.events} events, {report.transfers} transfers, {report.records} records, "
            f"{report.signatures} signatures checked: {state}"
        )
    )


# -- proofs -----------------------------------------------------------------------------------


def proof(
    transfer_id: int = typer.Argument(..., metavar="TX", min=1, max=ID_MAX, help="Transfer id."),
    checkpoint: Path = typer.Option(
        ..., "--checkpoint", metavar="FILE", help="The checkpoint the proof leads to."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        metavar="FILE",  # noqa: UP007
        help="Write the proof here instead of stdout.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Write an inclusion proof of a transfer (carrying its signed body) for a checkpoint."""
    from mutualcredit.services.audit import inclusion_proof

    _check_out(out)
    ledger = common.open_ledger()
    document = inclusion_proof(ledger, transfer_id, _read(checkpoint, "checkpoint"))
    if out is None:
        common.print_json(document)
        return
    _write(out, document)
    if json_output:
        common.print_json(
            {
                "id": transfer_id,
                "out": str(out),
                "seq": document["seq"],
                "checkpoint_size": document["checkpoint_size"],
            }
        )
    else:
        typer.echo(
            f"proof that transfer {transfer_id} (event {document['seq']}) is in the "
            f"checkpoint of {document['checkpoint_size']} events written to {out}"
        )


def verify_proof(
    proof_file: Path = typer.Argument(..., metavar="PROOF"),
    checkpoint: Path = typer.Option(..., "--checkpoint", metavar="FILE"),
    trust: list[str] | None = TRUST_OPTION,  # noqa: UP007
    json_output: bool = JSON_OPTION,
) -> None:
    """Check, without a database, that a proof's transfer is in the checkpoint's ledger."""
    from mutualcredit.services.audit import verify_proof_offline

    report = verify_proof_offline(
        _load(proof_file, "proof"), _load(checkpoint, "checkpoint"), _trusted(trust)
    )
    if json_output:
        common.print_json(report)
        return
    body = report["body"]
    signers = ", ".join(
        f"{s['signer']} (key {s['key'][:16]}…)" for s in report["checkpoint"]["signers"]
    )
    lines = [
        f"valid: event {report['seq']} ({report['event_type']}) is in the ledger of "
        f"{report['checkpoint']['size']} events of network {report['network_name']} "
        f"({report['network']})",
        f"checkpoint of {report['checkpoint']['time']} signed by {signers}",
        f"body signed by {report['author']['handle']} (key {report['author']['key'][:16]}…)",
    ]
    if isinstance(body.get("postings"), list):
        lines.append(f"{body.get('kind')} {body.get('created_at')}: {body.get('memo', '')!r}")
        lines += [
            f"  {p.get('account')} {p.get('amount')} {p.get('currency')}" for p in body["postings"]
        ]
    if trust is None:
        lines.append("keys were taken from the documents; pin them with --trust HANDLE=KEY")
    out = common.console()
    for line in lines:
        out.print(common.text(line))


# -- checkpoints ------------------------------------------------------------------------------


@checkpoint_app.command("create")
def checkpoint_create(
    out: Path | None = typer.Option(
        None,
        "--out",
        metavar="FILE",  # noqa: UP007
        help="Write the checkpoint here instead of stdout.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Sign the ledger's size, Merkle root and chain hash (the admin or a coordinator)."""
    from mutualcredit.services.audit import create_checkpoint

    _check_out(out)
    ledger = common.open_ledger()
    document = create_checkpoint(ledger, common.acting_signer(ledger))
    _emit(document, out, json_output, "checkpoint")


def _emit(document: dict[str, Any], out: Path | None, json_output: bool, what: str) -> None:
    if out is None:
        common.print_json(document)
        return
    _write(out, document)
    if json_output:
        common.print_json(document)
    else:
        signers = ", ".join(s["signer"] for s in document["signatures"])
        typer.echo(
            f"{what} of {document['size']} events (root {document['root'][:16]}…), "
            f"signed by {signers}, written to {out}"
        )


@checkpoint_app.command("cosign")
def checkpoint_cosign(
    file: Path = typer.Argument(..., metavar="FILE"),
    out: Path | None = typer.Option(
        None,
        "--out",
        metavar="FILE",  # noqa: UP007
        help="Write the co-signed checkpoint here (default: FILE).",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Check a checkpoint against this ledger, then add your signature to it."""
    from mutualcredit.services.audit import cosign_checkpoint

    _check_out(out or file)
    ledger = common.open_ledger()
    document = cosign_checkpoint(ledger, common.acting_signer(ledger), _read(file, "checkpoint"))
    _emit(document, out or file, json_output, "co-signed checkpoint")


@checkpoint_app.command("verify")
def checkpoint_verify(
    old: Path = typer.Argument(..., metavar="OLD"),
    new: Path = typer.Argument(..., metavar="NEW"),
    proof_file: Path | None = typer.Option(  # noqa: UP007
        None, "--proof", metavar="FILE", help="A consistency proof: then no database is used."
    ),
    trust: list[str] | None = TRUST_OPTION,  # noqa: UP007
    json_output: bool = JSON_OPTION,
) -> None:
    """Check that NEW only appended to OLD (with the ledger, or offline with --proof)."""
    from mutualcredit.services.audit import verify_extension

    old_document, new_document = _load(old, "checkpoint"), _load(new, "checkpoint")
    if proof_file is not None:
        report = verify_extension(
            None,
            old_document,
            new_document,
            _load(proof_file, "consistency proof"),
            _trusted(trust),
        )
    else:
        report = verify_extension(common.open_ledger(), old_document, new_document, None)
    if json_output:
        common.print_json(report)
        return
    typer.echo(
        f"valid: the ledger of {report['new_size']} events extends the ledger of "
        f"{report['old_size']} events (checked with the {report['mode']})"
    )


@checkpoint_app.command("prove")
def checkpoint_prove(
    old: Path = typer.Argument(..., metavar="OLD"),
    new: Path = typer.Argument(..., metavar="NEW"),
    out: Path = typer.Option(..., "--out", metavar="FILE"),
    json_output: bool = JSON_OPTION,
) -> None:
    """Write the proof that NEW extends OLD, for 'checkpoint verify OLD NEW --proof FILE'."""
    from mutualcredit.services.audit import consistency_proof

    _check_out(out)
    document = consistency_proof(
        common.open_ledger(), _read(old, "checkpoint"), _read(new, "checkpoint")
    )
    _write(out, document)
    if json_output:
        common.print_json(document)
    else:
        typer.echo(
            f"consistency proof from {document['old_size']} to {document['new_size']} "
            f"events written to {out}"
        )


@checkpoint_app.command("list")
def checkpoint_list(json_output: bool = JSON_OPTION) -> None:
    """Checkpoints made or co-signed with this ledger."""
    from mutualcredit.services.audit import stored_checkpoints

    documents = stored_checkpoints(common.open_ledger())
    if json_output:
        common.print_json(documents)
        return
    grid = common.table("size", "time", "root", "signers")
    for document in documents:
        grid.add_row(
            str(document["size"]),
            document["time"],
            document["root"][:16] + "…",
            ", ".join(s["signer"] for s in document["signatures"]),
        )
    common.console().print(grid)
