// Sign-in: password, then (when the account has them) a TOTP code, a security key
// (WebAuthn) or a recovery code.
import { api, clearFlash, flash } from "./api.js";
import { assertion, supported } from "./webauthn.js";

function destination() {
  const next = new URLSearchParams(window.location.search).get("next") || "";
  // Only our own pages: never an open redirect.
  return /^\/app\/[a-z-]+$/.test(next) ? next : "/app/console";
}

export function initLogin(root) {
  const passwordForm = root.querySelector('[data-step="password"]');
  const mfaForm = root.querySelector('[data-step="mfa"]');
  const keyButton = root.querySelector("[data-security-key]");
  let challenge = null;
  let keyOptions = null;

  async function step(form, call, { validate = true } = {}) {
    if (validate && !form.reportValidity()) return;
    const button = form.querySelector("[type=submit]");
    button.disabled = true;
    try {
      const outcome = await call();
      clearFlash(root);
      if (outcome.status === "mfa_required") {
        challenge = outcome.challenge_token;
        keyOptions = outcome.webauthn_options;
        passwordForm.hidden = true;
        mfaForm.hidden = false;
        const withKey = outcome.mfa_methods.includes("webauthn") && keyOptions && supported();
        keyButton.hidden = !withKey;
        mfaForm.querySelector("[data-code-hint]").textContent = outcome.mfa_methods.includes("totp")
          ? "Enter the 6-digit code from your authenticator app, or one of your recovery codes."
          : "Or enter one of your recovery codes.";
        (withKey ? keyButton : mfaForm.elements.code).focus();
      } else {
        window.location.assign(outcome.mfa_enrollment_required ? "/app/account" : destination());
      }
    } catch (error) {
      flash(root, error.message);
    } finally {
      button.disabled = false;
    }
  }

  passwordForm.addEventListener("submit", (event) => {
    event.preventDefault();
    step(passwordForm, () =>
      api("POST", "/v1/auth/login", {
        email: passwordForm.elements.email.value.trim(),
        password: passwordForm.elements.password.value,
      }),
    );
  });
  mfaForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = mfaForm.elements.code.value.replace(/\s/g, "");
    const factor = /^\d{6}$/.test(value) ? { code: value } : { recovery_code: value };
    step(mfaForm, () => api("POST", "/v1/auth/mfa/verify", { challenge_token: challenge, ...factor }));
  });
  keyButton.addEventListener("click", async () => {
    keyButton.disabled = true;
    try {
      const webauthn = await assertion(keyOptions);
      // The key is the factor: the code field is left empty, so it is not validated.
      const verify = () => api("POST", "/v1/auth/mfa/verify", { challenge_token: challenge, webauthn });
      await step(mfaForm, verify, { validate: false });
    } catch (error) {
      flash(root, error.name === "NotAllowedError" ? "The security key prompt was cancelled or timed out." : error.message);
    } finally {
      keyButton.disabled = false;
    }
  });
}
