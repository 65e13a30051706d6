"""Enterprise invoicing: validated bank and VAT details, gap-free numbers, VAT treatment, PDF.

VAT: a buyer in the seller's country pays the seller's VAT; an EU business elsewhere with a
valid VAT id is invoiced net under the reverse charge (Art. 196 VAT Directive); a buyer outside
the EU is outside the scope of EU VAT; an EU buyer without a VAT id pays the seller's VAT.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import schwifty
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from stdnum.eu import vat
from stdnum.exceptions import ValidationError as StdnumError

from kallglot.billing.metering import NUMBERS_RENTED, SESSION_MINUTES
from kallglot.billing.models import BillingAccount, Invoice, InvoiceSequence, UsageRecord
from kallglot.core.clock import utcnow
from kallglot.core.errors import InvalidRequestError, ValidationFailedError
from kallglot.core.ids import new_id
from kallglot.core.settings import Settings

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_EU = frozenset(code.upper() for code in vat.MEMBER_STATES) | {"EL"}


def valid_iban(value: str, param: str = "iban") -> str:
    """The IBAN in compact form if its structure and checksum are right."""
    try:
        return str(schwifty.IBAN(value).compact)
    except (schwifty.exceptions.SchwiftyException, ValueError) as exc:
        raise ValidationFailedError(
            f"Not a valid IBAN: {exc}.", code="invalid_iban", param=param
        ) from None


def valid_bic(value: str, param: str = "bic") -> str:
    try:
        return str(schwifty.BIC(value).compact)
    except (schwifty.exceptions.SchwiftyException, ValueError) as exc:
        raise ValidationFailedError(
            f"Not a valid BIC/SWIFT code: {exc}.", code="invalid_bic", param=param
        ) from None


def valid_vat_id(value: str, country: str | None = None, param: str = "vat_id") -> str:
    """The EU VAT id in compact form if its format and check digits are right for its country."""
    try:
        compact = str(vat.validate(value))
    except StdnumError as exc:
        raise ValidationFailedError(
            f"Not a valid EU VAT id: {exc}.", code="invalid_vat_id", param=param
        ) from None
    prefix = "GR" if compact[:2] == "EL" else compact[:2]
    if country and prefix != country.upper():
        raise ValidationFailedError(
            f"The VAT id is from {prefix}, the billing address in {country.upper()}.",
            code="invalid_vat_id",
            param=param,
        )
    return compact


def vat_treatment(settings: Settings, account: BillingAccount) -> tuple[str, float]:
    buyer = (account.country or "").upper()
    seller = settings.billing_seller_country.upper()
    if buyer == seller or (buyer in _EU and not account.vat_id):
        return "standard", settings.billing_vat_rate_percent
    if buyer in _EU:
        return "reverse_charge", 0.0
    return "outside_scope", 0.0


def _locked_sequence(db: Session, year: int) -> InvoiceSequence | None:
    return db.scalar(select(InvoiceSequence).where(InvoiceSequence.year == year).with_for_update())


def _next_number(db: Session, year: int) -> str:
    """The next number of the year; the row lock holds other issuers until this commits."""
    sequence = _locked_sequence(db, year)
    if sequence is None:
        # The year's first invoice: another issuer may be creating the row at this moment.
        # The loser of that race waits for the winner's row instead of failing.
        with contextlib.suppress(IntegrityError), db.begin_nested():
            db.add(InvoiceSequence(year=year, next_number=1))
        sequence = _locked_sequence(db, year)
        assert sequence is not None
    number = sequence.next_number
    sequence.next_number = number + 1
    db.flush()
    return f"KG-{year}-{number:06d}"


def issue_invoice(
    db: Session, settings: Settings, organization_id: str, start: datetime, end: datetime
) -> Invoice:
    """Invoice the organization's usage in [start, end) under its contract."""
    account = db.get(BillingAccount, organization_id)
    if account is None or account.plan != "contract" or not account.company_name:
        raise InvalidRequestError(
            "The organization has no enterprise billing profile.", code="no_billing_profile"
        )
    if end <= start:
        raise ValidationFailedError("The period ends before it starts.", param="period_end")
    totals: dict[str, int] = {
        metric: int(total or 0)
        for metric, total in db.execute(
            select(UsageRecord.metric, func.sum(UsageRecord.quantity))
            .where(
                UsageRecord.organization_id == organization_id,
                UsageRecord.metric.in_([SESSION_MINUTES, NUMBERS_RENTED]),
                UsageRecord.occurred_at >= start,
                UsageRecord.occurred_at < end,
            )
            .group_by(UsageRecord.metric)
        )
    }
    lines: list[dict[str, Any]] = []
    for metric, label, unit_cents in (
        (SESSION_MINUTES, "Translated session minutes", settings.billing_price_cents_per_minute),
        (
            NUMBERS_RENTED,
            "Phone number rental (number-days)",
            settings.billing_number_cents_per_day,
        ),
    ):
        quantity = int(totals.get(metric) or 0)
        lines.append(
            {
                "description": label,
                "quantity": quantity,
                "unit_cents": unit_cents,
                "amount_cents": quantity * unit_cents,
            }
        )
    treatment, rate = vat_treatment(settings, account)
    net = sum(int(line["amount_cents"]) for line in lines)
    tax = round(net * rate / 100)
    now = utcnow()
    invoice = Invoice(
        id=new_id("inv"),
        organization_id=organization_id,
        number=_next_number(db, now.year),
        issued_at=now,
        due_at=now + timedelta(days=settings.billing_invoice_due_days),
        period_start=start,
        period_end=end,
        currency="EUR",
        lines=lines,
        net_cents=net,
        vat_rate_percent=rate,
        vat_cents=tax,
        total_cents=net + tax,
        vat_treatment=treatment,
        buyer={
            "name": account.company_name,
            "address": account.address or {},
            "country": account.country,
            "vat_id": account.vat_id,
            "purchase_order": account.purchase_order,
            "email": account.billing_email,
        },
    )
    db.add(invoice)
    db.flush()
    return invoice


def _money(cents: int) -> str:
    return f"{cents / 100:,.2f} EUR"


_TREATMENT_NOTE = {
    "standard": "",
    "reverse_charge": "Reverse charge: VAT to be accounted for by the recipient "
    "(Art. 196 Council Directive 2006/112/EC).",
    "outside_scope": "Not subject to EU VAT (services supplied outside the EU).",
}


def render_pdf(invoice: Invoice, settings: Settings) -> bytes:
    """The invoice as a PDF (DejaVu fonts: any buyer name or address prints)."""
    # fpdf pulls in fontTools and takes seconds to import: only rendering pays for it.
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 18)
    pdf.cell(0, 10, f"Invoice {invoice.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    buyer = invoice.buyer
    address = ", ".join(str(v) for v in (buyer.get("address") or {}).values())
    seller = [
        settings.billing_seller_name,
        settings.billing_seller_address,
        f"VAT ID: {settings.billing_seller_vat_id}",
    ]
    billed = [
        f"Bill to: {buyer['name']}",
        address,
        f"VAT ID: {buyer.get('vat_id') or '-'}",
        f"Purchase order: {buyer.get('purchase_order') or '-'}",
        f"Billing contact: {buyer.get('email') or '-'}",
    ]
    dates = [
        f"Issued: {invoice.issued_at:%Y-%m-%d}   Due: {invoice.due_at:%Y-%m-%d}",
        f"Service period: {invoice.period_start:%Y-%m-%d} to {invoice.period_end:%Y-%m-%d}",
    ]
    for line in [*seller, "", *billed, "", *dates, ""]:
        pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    with pdf.table(
        col_widths=(90, 25, 35, 40), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT")
    ) as table:
        table.row(["Description", "Quantity", "Unit price", "Amount"])
        for item in invoice.lines:
            table.row(
                [
                    str(item["description"]),
                    str(item["quantity"]),
                    _money(int(item["unit_cents"])),
                    _money(int(item["amount_cents"])),
                ]
            )
        table.row(["Net", "", "", _money(invoice.net_cents)])
        table.row([f"VAT {invoice.vat_rate_percent:g}%", "", "", _money(invoice.vat_cents)])
        table.row(["Total due", "", "", _money(invoice.total_cents)])
    pdf.ln(4)
    note = _TREATMENT_NOTE[invoice.vat_treatment]
    if note:
        pdf.multi_cell(0, 5, note, new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(
        0,
        5,
        f"Pay by bank transfer to {settings.billing_seller_name}, "
        f"IBAN {schwifty.IBAN(settings.billing_seller_iban).formatted}, "
        f"BIC/SWIFT {settings.billing_seller_bic}, reference {invoice.number}.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())
