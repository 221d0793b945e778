/* Security keys (WebAuthn): ask the server for options, let the browser talk to the key,
   send the answer back. A button carries everything it needs in data-* attributes (where to
   ask, where to answer, the CSRF token, messages already in the reader's language), so no
   inline script is needed and the page's CSP stays script-src 'self'. */
(function () {
  "use strict";
  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }
  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function publicKeyOptions(options) {
    options.challenge = toBytes(options.challenge);
    if (options.user) { options.user.id = toBytes(options.user.id); }
    ["excludeCredentials", "allowCredentials"].forEach(function (name) {
      (options[name] || []).forEach(function (c) { c.id = toBytes(c.id); });
    });
    return options;
  }
  function credentialJSON(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) { out.response.userHandle = toB64url(r.userHandle); }
    }
    return out;
  }
  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok) { throw new Error(data.error || resp.statusText); }
        return data;
      });
    });
  }
  document.querySelectorAll("button[data-webauthn]").forEach(function (button) {
    var out = document.getElementById(button.getAttribute("data-status-id"));
    var creating = button.getAttribute("data-webauthn") === "register";
    function say(text) { if (out) { out.textContent = text; } }
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(button.getAttribute("data-unsupported"));
      button.disabled = true;
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var csrf = button.getAttribute("data-csrf");
      button.disabled = true;
      say(button.getAttribute("data-waiting"));
      post(button.getAttribute("data-options"), csrf).then(function (options) {
        var request = { publicKey: publicKeyOptions(options) };
        return creating ? navigator.credentials.create(request) : navigator.credentials.get(request);
      }).then(function (cred) {
        var body = { credential: credentialJSON(cred) };
        var label = document.getElementById(button.getAttribute("data-label-id") || "");
        if (label) { body.label = label.value; }
        var next = button.getAttribute("data-next");
        if (next) { body.next = next; }
        return post(button.getAttribute("data-finish"), csrf, body);
      }).then(function (data) {
        window.location.assign(creating ? window.location.pathname : data.next);
      }).catch(function (error) {
        button.disabled = false;
        say((error && error.name === "NotAllowedError") ? button.getAttribute("data-cancelled") : (error.message || String(error)));
      });
    });
  });
})();
