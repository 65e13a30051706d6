// Security keys and passkeys (WebAuthn) in the browser: registering one on the account
// page, and signing in with it as the second factor. The server's options are the JSON of
// py_webauthn (base64url binary fields); the browser's answers go back as JSON.
import { api, clearFlash, flash } from "./api.js";
import { loadTable } from "./widgets.js";

function fromBase64url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)).buffer;
}

function toBase64url(buffer) {
  let text = "";
  for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const withIds = (list) => (list || []).map((item) => ({ ...item, id: fromBase64url(item.id) }));

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: withIds(json.excludeCredentials),
  };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: withIds(json.allowCredentials) };
}

function credentialJson(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const response = {};
  for (const key of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]) {
    if (credential.response[key]) response[key] = toBase64url(credential.response[key]);
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response,
    authenticatorAttachment: credential.authenticatorAttachment,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

export function supported() {
  return typeof window.PublicKeyCredential === "function" && Boolean(navigator.credentials);
}

/** The assertion for a sign-in challenge (``webauthn_options`` of the login answer). */
export async function assertion(options) {
  const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
  return credentialJson(credential);
}

/** The account page's "Add a security key" form. */
export function initSecurityKeys(form) {
  const codes = form.querySelector("[data-recovery-codes]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!supported()) {
      flash(form, "This browser cannot use security keys.");
      return;
    }
    const button = form.querySelector("[type=submit]");
    button.disabled = true;
    try {
      const options = await api("POST", "/v1/auth/mfa/webauthn/register/options", {});
      const credential = await navigator.credentials.create({ publicKey: creationOptions(options.public_key) });
      const added = await api("POST", "/v1/auth/mfa/webauthn/register", {
        credential: credentialJson(credential),
        name: form.elements.name.value.trim() || "Security key",
      });
      clearFlash(form);
      flash(form, `Security key "${added.credential.name}" added.`, "success");
      if (added.recovery_codes.length) {
        codes.textContent = `Recovery codes (shown once): ${added.recovery_codes.join(" ")}`;
        codes.hidden = false;
      }
      const table = document.getElementById("security-keys");
      if (table) await loadTable(table);
    } catch (error) {
      // A cancelled or timed-out browser prompt is a DOMException: say so plainly.
      flash(form, error.name === "NotAllowedError" ? "The security key prompt was cancelled or timed out." : error.message);
    } finally {
      button.disabled = false;
    }
  });
}
