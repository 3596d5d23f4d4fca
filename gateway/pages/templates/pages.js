// Gatehouse's hosted pages work without JavaScript; this adds the
// conveniences that need it: copying recovery codes, and passkeys.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.innerText.trim()).then(function () {
        var status = document.getElementById(button.getAttribute("data-status"));
        if (status) status.textContent = button.getAttribute("data-done");
      });
    });
  });
});

// Passkeys (WebAuthn): the passkey controls are hidden until this runs
// and finds WebAuthn. Options come from Gatehouse's JSON endpoints as
// base64url; the browser wants ArrayBuffers, and its answer goes back as
// base64url in a form post, so that a success lands where the form's
// would (the second step, rd).
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function decode(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function encode(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    (list || []).forEach(function (c) { c.id = decode(c.id); });
  }
  function creationOptions(pk) {
    pk.challenge = decode(pk.challenge);
    pk.user.id = decode(pk.user.id);
    ids(pk.excludeCredentials);
    return pk;
  }
  function requestOptions(pk) {
    pk.challenge = decode(pk.challenge);
    ids(pk.allowCredentials);
    return pk;
  }
  function credentialJSON(cred) {
    var r = cred.response;
    var out = { id: cred.id, rawId: encode(cred.rawId), type: cred.type,
      clientExtensionResults: {}, response: { clientDataJSON: encode(r.clientDataJSON) } };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      if (r.userHandle) out.response.userHandle = encode(r.userHandle);
    }
    return JSON.stringify(out);
  }
  // post sends JSON from this page (same-origin: it passes the CSRF rule).
  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {}) }).then(function (res) {
      return res.json().then(function (j) { if (!res.ok) throw j; return j; });
    });
  }
  // submit posts fields as a form, and the page follows the answer.
  function submit(action, fields) {
    var f = document.createElement("form");
    f.method = "post";
    f.action = action;
    f.hidden = true;
    Object.keys(fields).forEach(function (k) {
      if (fields[k] === undefined || fields[k] === "") return;
      var i = document.createElement("input");
      i.type = "hidden";
      i.name = k;
      i.value = fields[k];
      f.appendChild(i);
    });
    document.body.appendChild(f);
    f.submit();
  }
  function get(begun, extra) {
    var o = { publicKey: requestOptions(begun.public_key) };
    Object.keys(extra || {}).forEach(function (k) { o[k] = extra[k]; });
    return navigator.credentials.get(o);
  }
  function control(box, run) {
    box.hidden = false;
    var status = box.querySelector("[data-passkey-status]");
    box.querySelector("[data-passkey-button]").addEventListener("click", function () {
      status.textContent = "";
      run().catch(function (e) {
        if (e && e.name === "AbortError") return;
        status.textContent = (e && e.code && e.message) ? e.message : box.getAttribute("data-failed");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var signIn = document.querySelector("[data-passkey-signin]");
    if (signIn) {
      var prefix = signIn.getAttribute("data-prefix"), pending = null;
      var start = function (extra) {
        return post(prefix + "/login/passkey/begin").then(function (b) {
          return get(b, extra).then(function (cred) {
            submit(prefix + "/login/passkey/finish", { flow_id: b.flow_id, credential: credentialJSON(cred), rd: signIn.getAttribute("data-rd") });
          });
        });
      };
      // Conditional UI: the browser offers passkeys in the email field's autofill.
      if (PublicKeyCredential.isConditionalMediationAvailable) {
        PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
          if (!ok) return;
          pending = new AbortController();
          start({ mediation: "conditional", signal: pending.signal }).catch(function () {});
        });
      }
      control(signIn, function () {
        if (pending) pending.abort();
        pending = null;
        return start();
      });
    }

    var mfa = document.querySelector("[data-passkey-mfa]");
    if (mfa) {
      control(mfa, function () {
        var prefix = mfa.getAttribute("data-prefix"), token = mfa.getAttribute("data-token");
        return post(prefix + "/login/mfa/passkey/begin", { mfa_token: token }).then(function (b) {
          return get(b).then(function (cred) {
            submit(prefix + "/login/mfa", { mfa_token: token, flow_id: b.flow_id, credential: credentialJSON(cred), rd: mfa.getAttribute("data-rd") });
          });
        });
      });
    }

    var reg = document.querySelector("[data-passkey-register]");
    if (reg) {
      control(reg, function () {
        var prefix = reg.getAttribute("data-prefix");
        var name = reg.querySelector("[data-passkey-name]").value.trim();
        var codeInput = reg.querySelector("[data-passkey-mfa-code]");
        var code = codeInput ? codeInput.value.trim() : "";
        var stepUp = Promise.resolve(code || undefined);
        if (codeInput && !code && reg.getAttribute("data-has-passkeys")) {
          // 2FA is on: a passkey confirms it is the account's owner.
          stepUp = post(prefix + "/me/step-up/passkey/begin").then(function (b) {
            return get(b).then(function (cred) {
              return { flow_id: b.flow_id, credential: JSON.parse(credentialJSON(cred)) };
            });
          });
        }
        return stepUp.then(function (mfaCode) {
          return post(prefix + "/me/passkeys/register/begin", { name: name, mfa_code: mfaCode });
        }).then(function (b) {
          return navigator.credentials.create({ publicKey: creationOptions(b.public_key) }).then(function (cred) {
            submit(prefix + "/me/passkeys/register/finish", { flow_id: b.flow_id, credential: credentialJSON(cred), name: name });
          });
        });
      });
    }
  });
})();
