/* The removal-request form: hash the chosen pictures in the browser and send only the hashes.
 * The picture input has no name, so the browser never submits it; "upload instead" reveals a
 * separate, named input whose file the server hashes in memory and discards. */
(function () {
  "use strict";
  var form = document.getElementById("takedown-form");
  if (!form) return;
  var pictures = document.getElementById("pictures"), hashes = document.getElementById("hashes");
  var status = document.getElementById("hash-status"), submit = document.getElementById("submit");
  var serverMode = document.getElementById("hash-mode-server"), upload = document.getElementById("upload-file");
  var H = window.ProvenanceHash;

  function hashOne(file) {
    return file.arrayBuffer().then(function (buf) {
      var bytes = new Uint8Array(buf);
      return Promise.all([H.sha256(bytes), H.pdqFromBlob(file).catch(function () { return null; })]).then(function (r) {
        var out = [];
        if (r[1] && r[1].dihedral.length) {
          out.push({ kind: "pdq", value: r[1].pdq, quality: r[1].quality });
          r[1].dihedral.slice(1).forEach(function (v) { out.push({ kind: "pdqv", value: v, quality: r[1].quality }); });
        }
        out.push({ kind: "md5", value: H.md5(bytes) });
        out.push({ kind: "sha256", value: r[0] });
        return out;
      });
    });
  }

  pictures.addEventListener("change", function () {
    var files = Array.prototype.slice.call(pictures.files || []);
    hashes.value = "";
    if (!files.length) { status.textContent = ""; return; }
    submit.disabled = true;
    status.textContent = "Computing fingerprints on this device\u2026";
    Promise.all(files.map(hashOne)).then(function (lists) {
      var all = [].concat.apply([], lists);
      hashes.value = JSON.stringify(all);
      form.setAttribute("data-hashed", String(files.length));
      status.textContent = files.length + " picture(s) fingerprinted on this device; only the fingerprints will be sent.";
    }).catch(function () {
      status.textContent = "This picture could not be read here; you may upload it instead.";
    }).then(function () { submit.disabled = false; });
  });

  serverMode.addEventListener("change", function () {
    upload.hidden = !serverMode.checked;
    pictures.disabled = serverMode.checked;
    if (serverMode.checked) { hashes.value = ""; pictures.value = ""; status.textContent = ""; }
  });
})();
