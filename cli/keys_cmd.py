"""Keys: make, export, import, rotate, revoke, change passphrase; and whoami."""

from __future__ import annotations

from pathlib import Path

import typer

from mutualcredit_cli import common
from mutualcredit_cli.common import JSON_OPTION

key_app = typer.Typer(
    help="Ed25519 keys (private halves never leave their files).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(key_app, name="key")
    app.command("whoami")(whoami)


def _network_id(network: str | None) -> str:
    if network is not None:  # '' is refused by the grammar, not taken for "not given"
        return network
    return common.open_ledger().network.id


@key_app.command("new")
def key_new(
    handle: str,
    network: str | None = typer.Option(  # noqa: UP007
        None, "--network", help="Network id, when this machine has no copy of the ledger."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Make a key pair in a passphrase-protected file; print the public half to hand over."""
    from mutualcredit.domain.names import validate_handle
    from mutualcredit.services.context import data_home
    from mutualcredit.services.keys import KeyStore, Signer

    validate_handle(handle)
    store = KeyStore(data_home(), _network_id(network))
    store.check_folders()
    signer = Signer.generate(handle)
    if store.exists(handle):
        from mutualcredit.domain.errors import Refused

        raise Refused(
            f"a key file for {handle} already exists at {store.path(handle)}",
            code="key_file_exists",
        )
    path = store.write(signer, common.passphrase(f"New passphrase for {handle}", confirm=True))
    document = {
        "id": handle,
        "handle": handle,
        "public_key": signer.public_key,
        "key_file": str(path),
    }
    if json_output:
        common.print_json(document)
        return
    typer.echo(f"key file: {path}")
    typer.echo(f"public key (give this to your coordinator): {signer.public_key}")


@key_app.command("register")
def key_register(
    handle: str, pubkey: str = typer.Option(..., "--pubkey"), json_output: bool = JSON_OPTION
) -> None:
    """Register a public key for a member who has none active (coordinator or admin)."""
    from mutualcredit.services.key_events import register_key
    from mutualcredit.services.keys import parse_public_key

    ledger = common.open_ledger()
    public_key = parse_public_key(pubkey)
    register_key(ledger, common.acting_signer(ledger), handle=handle, public_key=public_key)
    common.print_json(
        {"id": handle, "handle": handle, "public_key": public_key}
    ) if json_output else typer.echo(f"registered a key for {handle}")


@key_app.command("export")
def key_export(
    handle: str, out: Path = typer.Option(..., "--out"), json_output: bool = JSON_OPTION
) -> None:
    """Copy a key file (still passphrase-encrypted) to hand it to its owner."""
    from mutualcredit.services.keys import unseal, write_private_file

    ledger = common.open_ledger()
    store = common.key_store(ledger)
    document = store.read(handle)
    unseal(
        document,
        common.passphrase(f"Passphrase for {handle}"),
        network_id=store.network_id,
        handle=handle,
        where=str(store.path(handle)),
    )
    write_private_file(out, document, overwrite=False)
    common.print_json(
        {"id": handle, "handle": handle, "out": str(out)}
    ) if json_output else typer.echo(
        f"exported the key of {handle} to {out} (mode 0600, encrypted)"
    )


@key_app.command("import")
def key_import(file: Path, json_output: bool = JSON_OPTION) -> None:
    """Install a key file on this machine (checked with its passphrase)."""
    from mutualcredit.domain.names import validate_handle, validate_network_id
    from mutualcredit.services.context import data_home
    from mutualcredit.services.keys import KeyStore, parse_sealed, read_key_document, unseal

    document = read_key_document(file)
    sealed = parse_sealed(document, where=str(file))
    # The file names the folder and file it goes to: check both before any path is built.
    network = validate_network_id(sealed.network, what=f"{file}: network id")
    handle = validate_handle(sealed.handle, what=f"{file}: handle")
    store = KeyStore(data_home(), network)
    store.check_folders()
    signer = unseal(
        document,
        common.passphrase(f"Passphrase for {handle}"),
        network_id=network,
        handle=handle,
        where=str(file),
    )
    _check_registered(network, signer.handle, signer.public_key)
    path = store.write_document(handle, document)
    common.print_json(
        {"id": handle, "handle": handle, "key_file": str(path), "public_key": signer.public_key}
    ) if json_output else typer.echo(f"imported the key of {handle} to {path}")


def _check_registered(network: str, handle: str, public_key: str) -> None:
    """With a ledger at hand, refuse a key file that is not the member's active key."""
    from mutualcredit.domain.errors import NotFound

    try:
        ledger = common.open_ledger()
    except NotFound:
        return
    from mutualcredit.services.keys import KeyFileInvalid

    if ledger.network.id != network:
        raise KeyFileInvalid(
            f"the key file belongs to network {network}, not to "
            f"{ledger.network.name} ({ledger.network.id})"
        )
    from mutualcredit.services.key_events import active_key

    with ledger.read() as connection:
        key = active_key(connection, handle)
    if key is None or key.public_key != public_key:
        raise KeyFileInvalid(f"the key file is not the active key of {handle} in this ledger")


@key_app.command("rotate")
def key_rotate(handle: str, json_output: bool = JSON_OPTION) -> None:
    """Replace a key with a new one, signed by the old (which is revoked)."""
    import secrets

    from mutualcredit.services.key_events import rotate_key
    from mutualcredit.services.keys import Signer

    ledger = common.open_ledger()
    store = common.key_store(ledger)
    secret = common.passphrase(f"Passphrase for {handle}")
    old = store.unlock(handle, secret)
    new = Signer.generate(handle)
    # The new key is sealed under the same passphrase, which must be long enough for a
    # new key (change a short one first with 'key passphrase'); staged before the ledger
    # learns of it, so a refusal here changes nothing.
    staged = store.write_document(
        handle, store.seal(new, secret), overwrite=True, suffix=".key.new"
    )
    rotate_key(ledger, old, new)
    store.archive(handle, f"revoked-{secrets.token_hex(4)}")
    staged.replace(store.path(handle))
    common.print_json(
        {"id": handle, "handle": handle, "public_key": new.public_key}
    ) if json_output else typer.echo(f"rotated the key of {handle}: {new.public_key}")


@key_app.command("revoke")
def key_revoke(handle: str, json_output: bool = JSON_OPTION) -> None:
    """Revoke a member's active key (the member, a coordinator or the admin)."""
    from mutualcredit.services.key_events import revoke_key

    ledger = common.open_ledger()
    public_key = revoke_key(ledger, common.acting_signer(ledger, default=None), handle=handle)
    common.print_json(
        {"id": handle, "handle": handle, "revoked": public_key}
    ) if json_output else typer.echo(f"revoked the key of {handle}")


@key_app.command("passphrase")
def key_passphrase(handle: str, json_output: bool = JSON_OPTION) -> None:
    """Change the passphrase of a key file (new one from MUTUALCREDIT_NEW_PASSPHRASE)."""
    ledger = common.open_ledger()
    store = common.key_store(ledger)
    signer = store.unlock(handle, common.passphrase(f"Passphrase for {handle}"))
    fresh = common.passphrase(
        f"New passphrase for {handle}", confirm=True, variable="MUTUALCREDIT_NEW_PASSPHRASE"
    )
    store.write_document(handle, store.seal(signer, fresh), overwrite=True)
    common.print_json(
        {"id": handle, "handle": handle, "changed": True}
    ) if json_output else typer.echo(f"changed the passphrase of {handle}")


def whoami(json_output: bool = JSON_OPTION) -> None:
    """Who acts, with which roles, on which network and database."""
    from mutualcredit.services.network import roles_of

    ledger = common.open_ledger()
    handle = common.acting_handle(ledger)
    store = common.key_store(ledger)
    with ledger.read() as connection:
        roles = [r + (f":{c}" if c else "") for r, c in roles_of(connection, handle)]
    document = {
        "id": handle,
        "handle": handle,
        "roles": roles,
        "network": ledger.network.name,
        "network_id": ledger.network.id,
        "database": common.database_target(),
        "key_file": str(store.path(handle)),
        "key_file_present": store.exists(handle),
    }
    if json_output:
        common.print_json(document)
        return
    for name, value in document.items():
        typer.echo(f"{name}: {value}")
