// Sign-in: password, then (when the account has it) a TOTP or recovery code.
import { api, clearFlash, flash } from "./api.js";

function destination() {
  const next = new URLSearchParams(window.location.search).get("next") || "";
  // Only our own pages: never an open redirect.
  return /^\/app\/[a-z-]+$/.test(next) ? next : "/app/console";
}

export function initLogin(root) {
  const passwordForm = root.querySelector('[data-step="password"]');
  const mfaForm = root.querySelector('[data-step="mfa"]');
  let challenge = null;

  async function step(form, call) {
    if (!form.reportValidity()) return;
    const button = form.querySelector("[type=submit]");
    button.disabled = true;
    try {
      const outcome = await call();
      clearFlash(root);
      if (outcome.status === "mfa_required") {
        challenge = outcome.challenge_token;
        passwordForm.hidden = true;
        mfaForm.hidden = false;
        mfaForm.elements.code.focus();
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
}
