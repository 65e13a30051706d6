"""``kallglot numbers …``: regulatory requirements, SIP-trunk numbers, KYC bundle expiry."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kallglot.cli.common import cli_transaction, settings_or_exit
from kallglot.core.errors import KallglotError

numbers_app = typer.Typer(help="Phone numbers, KYC bundles and routing.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(numbers_app, name="numbers")


@numbers_app.command("requirements")
def requirements(
    country: Annotated[str | None, typer.Option(help="ISO country code, e.g. DE")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What each country and number type needs (from the carrier data file; unknowns shown)."""
    from kallglot.telephony.numbers import regulatory

    rules = [
        regulatory.requirement(code, kind, end_user)
        for code in ([country.upper()] if country else regulatory.countries())
        for kind in ("local", "national", "mobile", "toll_free")
        for end_user in ("business", "individual")
    ]
    if as_json:
        typer.echo(json.dumps([vars(rule) for rule in rules], indent=1))
        return
    for rule in rules:
        needed = {True: "bundle", False: "no bundle", None: "unknown"}[rule.bundle_required]
        typer.echo(
            f"{rule.country} {rule.number_type:<9} {rule.end_user_type:<10} {needed:<9} "
            + ", ".join(rule.fields + rule.documents)
        )


@numbers_app.command("register-sip")
def register_sip(
    organization_id: Annotated[str, typer.Argument(help="org_…")],
    e164: Annotated[str, typer.Argument(help="the number, in E.164")],
    country: Annotated[str, typer.Option(help="ISO country code")],
    number_type: Annotated[str, typer.Option(help="local, national, mobile, toll_free")] = "local",
) -> None:
    """Register a number the customer brings over their own SIP trunk."""
    from kallglot import audit
    from kallglot.accounts.models import Organization
    from kallglot.core.clock import utcnow
    from kallglot.core.errors import NotFoundError
    from kallglot.telephony.carriers.sip_trunk import SipTrunkCarrier
    from kallglot.telephony.numbers import service

    with cli_transaction(settings_or_exit()) as session:
        if session.get(Organization, organization_id) is None:
            raise NotFoundError(f"no organization {organization_id}")
        number = service.order(
            session,
            organization_id,
            SipTrunkCarrier(),
            e164=e164,
            country=country,
            number_type=number_type,
            bundle_id=None,
            voice_url="",
            monthly_price_cents=0,
            currency="EUR",
            now=utcnow(),
        )
        audit.record(
            session,
            audit.SystemActor(organization_id=organization_id),
            "number.provisioned",
            target=("phone_number", number.id),
            changes={"carrier": "sip_trunk", "country": number.country},
        )
        number_id = number.id
    typer.echo(number_id)


@numbers_app.command("expire-bundles")
def expire_bundles() -> None:
    """Move approved KYC bundles past their expiry date to ``expired``."""
    from kallglot.core.clock import utcnow
    from kallglot.telephony.kyc.service import expire_due

    settings = settings_or_exit()
    with cli_transaction(settings) as session:
        expired = expire_due(session, utcnow(), settings.kyc_retention_years)
    typer.echo(f"expired {len(expired)} bundles")


@numbers_app.command("refresh-bundles")
def refresh_bundles() -> None:
    """Ask the carriers for their decision on every bundle pending review."""
    from kallglot import audit
    from kallglot.core.clock import utcnow
    from kallglot.telephony.carriers import carrier_from_settings
    from kallglot.telephony.kyc import service

    settings = settings_or_exit()
    decided = 0
    with cli_transaction(settings) as session:
        for bundle in service.pending(session):
            try:
                carrier = carrier_from_settings(settings, bundle.carrier)
                moved = service.refresh(
                    bundle,
                    carrier,
                    utcnow(),
                    validity_days=settings.kyc_bundle_validity_days,
                    retention_years=settings.kyc_retention_years,
                )
            except KallglotError as exc:
                typer.echo(f"{bundle.id}: {exc.code}", err=True)
                continue
            if moved is not None:
                decided += 1
                audit.record(
                    session,
                    audit.SystemActor(organization_id=bundle.organization_id),
                    "kyc.decided",
                    target=("kyc_bundle", bundle.id),
                    changes={"status": moved[0], "reason": moved[1]},
                )
    typer.echo(f"{decided} bundles decided")
