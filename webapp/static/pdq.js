/* PDQ (with its quality and 8 dihedral variants) and MD5, in the browser; no external code.
 *
 * A port of provenance/hashing.py (itself the reference algorithm of facebook/ThreatExchange):
 * luminance, a Jarosz tent filter (two box passes per axis) and decimation to 64x64, the
 * quality metric, the 16x16 low-frequency DCT block, one bit per coefficient above the median.
 * The picture is decoded by the browser at most 512 px a side, as the server shrinks it.
 * Exposes window.ProvenanceHash = {pdqFromImageData, pdqFromBlob, md5, sha256, hex}.
 */
(function () {
  "use strict";

  var MAX_SIDE = 512;
  var DCT = (function () {
    var m = new Float64Array(16 * 64);
    var scale = Math.sqrt(2 / 64);
    for (var i = 0; i < 16; i++) {
      for (var j = 0; j < 64; j++) {
        m[i * 64 + j] = scale * Math.cos((Math.PI / 2 / 64) * (i + 1) * (2 * j + 1));
      }
    }
    return m;
  })();

  function jaroszWindow(oldSide) { return Math.floor((oldSide + 128 - 1) / 128); }

  // Mean over the clipped window i-(w-half) .. i+half-1 (the reference's box1DFloat), with prefix sums.
  function boxLine(src, dst, n, offset, stride, w, prefix) {
    var half = Math.floor((w + 2) / 2);
    prefix[0] = 0;
    for (var k = 0; k < n; k++) prefix[k + 1] = prefix[k] + src[offset + k * stride];
    for (var i = 0; i < n; i++) {
      var lo = Math.max(i - (w - half), 0), hi = Math.min(i + half - 1, n - 1);
      dst[offset + i * stride] = (prefix[hi + 1] - prefix[lo]) / (hi - lo + 1);
    }
  }

  function downsample64(luma, rows, cols) {
    var a = Float64Array.from(luma), b = new Float64Array(rows * cols);
    var prefix = new Float64Array(Math.max(rows, cols) + 1);
    var wr = jaroszWindow(cols), wc = jaroszWindow(rows), r, c;
    for (var pass = 0; pass < 2; pass++) {
      for (r = 0; r < rows; r++) boxLine(a, b, cols, r * cols, 1, wr, prefix);
      var t = a; a = b; b = t;
    }
    for (pass = 0; pass < 2; pass++) {
      for (c = 0; c < cols; c++) boxLine(a, b, rows, c, cols, wc, prefix);
      t = a; a = b; b = t;
    }
    var out = new Float64Array(64 * 64);
    for (var i = 0; i < 64; i++) {
      var rr = Math.floor(((i + 0.5) * rows) / 64);
      for (var j = 0; j < 64; j++) {
        out[i * 64 + j] = a[rr * cols + Math.floor(((j + 0.5) * cols) / 64)];
      }
    }
    return out;
  }

  function quality(buf) {
    var f = Float32Array.from(buf), sum = 0, i, j;
    for (i = 0; i < 63; i++) for (j = 0; j < 64; j++) sum += Math.abs(Math.trunc(Math.fround(Math.fround(Math.fround(f[i * 64 + j] - f[(i + 1) * 64 + j]) * 100) / 255)));
    for (i = 0; i < 64; i++) for (j = 0; j < 63; j++) sum += Math.abs(Math.trunc(Math.fround(Math.fround(Math.fround(f[i * 64 + j] - f[i * 64 + j + 1]) * 100) / 255)));
    return Math.min(Math.floor(sum / 90), 100);
  }

  function dct16(buf) {
    var tmp = new Float64Array(16 * 64), out = new Float64Array(256), i, j, k, s;
    for (i = 0; i < 16; i++) for (j = 0; j < 64; j++) {
      s = 0;
      for (k = 0; k < 64; k++) s += DCT[i * 64 + k] * buf[k * 64 + j];
      tmp[i * 64 + j] = s;
    }
    for (i = 0; i < 16; i++) for (j = 0; j < 16; j++) {
      s = 0;
      for (k = 0; k < 64; k++) s += tmp[i * 64 + k] * DCT[j * 64 + k];
      out[i * 16 + j] = s;
    }
    return out;
  }

  function hex(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return s;
  }

  // Bit k = i*16 + j set when the coefficient is above the 128th smallest; hex prints bit 255 first.
  function digest(d) {
    var sorted = Float64Array.from(d).sort();
    var median = sorted[127], bytes = new Uint8Array(32);
    for (var b = 0; b < 32; b++) {
      var v = 0;
      for (var t = 0; t < 8; t++) v |= (d[255 - 8 * b - t] > median ? 1 : 0) << (7 - t);
      bytes[b] = v;
    }
    return hex(bytes);
  }

  function transform(d, rowSign, colSign, transpose) {
    var out = new Float64Array(256);
    for (var i = 0; i < 16; i++) for (var j = 0; j < 16; j++) {
      var v = d[i * 16 + j] * rowSign(i) * colSign(j);
      out[transpose ? j * 16 + i : i * 16 + j] = v;
    }
    return out;
  }

  var ONE = function () { return 1; };
  var ODD = function (k) { return (k & 1) ? 1 : -1; };  // +1 on odd indices, -1 on even
  function checker(d) { return transform(d, ODD, ODD, false); }  // (-1)^(i+j) up to a global sign

  /* {pdq, quality, dihedral: [8 hex]} of an ImageData (RGBA). */
  function pdqFromImageData(img) {
    var rows = img.height, cols = img.width, px = img.data;
    if (Math.min(rows, cols) < 5) return { pdq: "0".repeat(64), quality: 0, dihedral: [] };
    var luma = new Float32Array(rows * cols);
    for (var p = 0, q = 0; q < luma.length; p += 4, q++) {
      luma[q] = Math.fround(Math.fround(Math.fround(0.299 * px[p]) + Math.fround(0.587 * px[p + 1])) + Math.fround(0.114 * px[p + 2]));
    }
    var buf = downsample64(luma, rows, cols);
    var d = dct16(buf);
    var ch = checker(d);
    var variants = [
      d,
      transform(d, ONE, ODD, true),
      ch,
      transform(d, ODD, ONE, true),
      transform(d, ODD, ONE, false),
      transform(d, ONE, ODD, false),
      transform(d, ONE, ONE, true),
      transform(ch, ONE, ONE, true)
    ];
    var hashes = variants.map(digest);
    return { pdq: hashes[0], quality: quality(buf), dihedral: hashes };
  }

  /* Decode a picture in the browser (at most 512 px a side) and hash it. */
  function pdqFromBlob(blob) {
    return createImageBitmap(blob).then(function (full) {
      var scale = Math.min(1, MAX_SIDE / Math.max(full.width, full.height));
      var w = Math.max(1, Math.round(full.width * scale)), h = Math.max(1, Math.round(full.height * scale));
      var canvas = document.createElement("canvas");
      canvas.width = w; canvas.height = h;
      var ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.imageSmoothingEnabled = true;
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(full, 0, 0, w, h);
      full.close();
      return pdqFromImageData(ctx.getImageData(0, 0, w, h));
    });
  }

  /* MD5 (RFC 1321) of a Uint8Array, as hex. */
  var S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21];
  var K = new Int32Array(64);
  for (var i0 = 0; i0 < 64; i0++) K[i0] = Math.floor(Math.abs(Math.sin(i0 + 1)) * 4294967296) | 0;

  function md5(data) {
    var n = data.length, total = ((n + 8) >>> 6) + 1, words = new Int32Array(total * 16), i;
    for (i = 0; i < n; i++) words[i >> 2] |= data[i] << ((i % 4) * 8);
    words[n >> 2] |= 0x80 << ((n % 4) * 8);
    words[total * 16 - 2] = (n * 8) | 0;
    words[total * 16 - 1] = Math.floor(n / 536870912);
    var a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
    for (var blk = 0; blk < total * 16; blk += 16) {
      var A = a0, B = b0, C = c0, D = d0, F, g;
      for (i = 0; i < 64; i++) {
        if (i < 16) { F = (B & C) | (~B & D); g = i; }
        else if (i < 32) { F = (D & B) | (~D & C); g = (5 * i + 1) % 16; }
        else if (i < 48) { F = B ^ C ^ D; g = (3 * i + 5) % 16; }
        else { F = C ^ (B | ~D); g = (7 * i) % 16; }
        var tmp = D; D = C; C = B;
        var x = (A + F + K[i] + words[blk + g]) | 0;
        B = (B + ((x << S[i]) | (x >>> (32 - S[i])))) | 0;
        A = tmp;
      }
      a0 = (a0 + A) | 0; b0 = (b0 + B) | 0; c0 = (c0 + C) | 0; d0 = (d0 + D) | 0;
    }
    var out = new Uint8Array(16), st = [a0, b0, c0, d0];
    for (i = 0; i < 16; i++) out[i] = (st[i >> 2] >>> ((i % 4) * 8)) & 0xff;
    return hex(out);
  }

  function sha256(data) {
    return crypto.subtle.digest("SHA-256", data).then(function (buf) { return hex(new Uint8Array(buf)); });
  }

  window.ProvenanceHash = { pdqFromImageData: pdqFromImageData, pdqFromBlob: pdqFromBlob, md5: md5, sha256: sha256, hex: hex };
})();
