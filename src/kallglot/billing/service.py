"""The billing account of an organization: profile, summary."""

from __future__ import annotations

from sqlalchemy.orm import Session

from kallglot.billing.invoices import valid_bic, valid_iban, valid_vat_id
from kallglot.billing.metering import credit_seconds
from kallglot.billing.models import BillingAccount
from kallglot.billing.schemas import BillingOut, BillingProfileIn
from kallglot.crypto.fields import decrypt_field, encrypt_field


def account_for(db: Session, organization_id: str) -> BillingAccount:
    account = db.get(BillingAccount, organization_id)
    if account is None:
        account = BillingAccount(organization_id=organization_id, plan="metered")
        db.add(account)
        db.flush()
    return account


def set_profile(db: Session, organization_id: str, body: BillingProfileIn) -> BillingAccount:
    """Store the enterprise details after validating the VAT id, IBAN and BIC."""
    vat_id = valid_vat_id(body.vat_id, body.address.country) if body.vat_id else None
    iban = valid_iban(body.iban) if body.iban else None
    bic = valid_bic(body.bic) if body.bic else None
    account = account_for(db, organization_id)
    account.plan = body.plan
    account.company_name = body.company_name
    account.billing_email = str(body.billing_email)
    account.address = body.address.model_dump(exclude_none=True)
    account.country = body.address.country
    account.vat_id = vat_id
    account.bic = bic
    account.purchase_order = body.purchase_order
    account.hard_limit_minutes = body.hard_limit_minutes
    account.iban_encrypted = (
        encrypt_field(db, organization_id, "billing_accounts", organization_id, "iban", iban)
        if iban
        else None
    )
    db.flush()
    return account


def summary(db: Session, organization_id: str) -> BillingOut:
    account = account_for(db, organization_id)
    iban = (
        str(decrypt_field(db, "billing_accounts", organization_id, "iban", account.iban_encrypted))
        if account.iban_encrypted
        else None
    )
    return BillingOut(
        organization_id=organization_id,
        plan=account.plan,
        subscription_status=account.subscription_status,
        last_invoice_status=account.last_invoice_status,
        amount_paid_cents=account.amount_paid_cents,
        credit_seconds=credit_seconds(db, organization_id),
        stripe_customer_id=account.stripe_customer_id,
        company_name=account.company_name,
        vat_id=account.vat_id,
        iban_last4=iban[-4:] if iban else None,
        purchase_order=account.purchase_order,
    )
