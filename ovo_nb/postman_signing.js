// ovo-nb: the signatures of every OVO request in this collection (written by `ovo-nb postman`;
// the project's README, "Using Postman", explains each choice).
//
// Postman runs this collection-level script BEFORE each request's own pre-request script. So it
//  1. resolves every {{variable}} of the URL and the body once, dynamic ones ({{$guid}},
//     {{$timestamp}}) included, and writes the result back into the request: what is signed is
//     what is sent;
//  2. minifies the JSON body (whitespace outside strings removed, key order kept), sends that, and
//     hashes exactly those bytes;
//  3. sets X-TIMESTAMP (Jakarta time, +07:00), X-EXTERNAL-ID (digits only) and X-SIGNATURE of the
//     kind the API takes: asymmetric token, asymmetric request (SHA256withRSA with the private key,
//     through jsrsasign), symmetric (HMAC-SHA512 with the client secret) or OVO's non-SNAP one.
// A request's own pre-request script must not change the URL, the body or Authorization afterwards:
// the signature would no longer match what is sent.

// The vocabulary: endpoint paths and their signature kinds, strings-to-sign, written by ovo-nb
// from ovo_nb.snap and ovo_nb.signing so the collection signs exactly as the Python client does.
var OVO = __OVO_VOCABULARY__;

/** SNAP's minify(body): the JSON text without whitespace outside strings, nothing else changed. */
function minify(text) {
    var out = [], inString = false, escaped = false;
    for (var i = 0; i < text.length; i++) {
        var ch = text.charAt(i);
        if (inString) {
            out.push(ch);
            if (escaped) { escaped = false; } else if (ch === '\\') { escaped = true; } else if (ch === '"') { inString = false; }
        } else if (ch === '"') {
            inString = true;
            out.push(ch);
        } else if (ch !== ' ' && ch !== '\t' && ch !== '\r' && ch !== '\n') {
            out.push(ch);
        }
    }
    return out.join('');
}

/** X-TIMESTAMP: yyyy-MM-ddTHH:mm:ss.SSS+07:00, Jakarta time (a UTC 'Z' or +00:00 is refused). */
function jakartaTimestamp(millis) {
    return new Date(millis + OVO.jakartaOffsetMinutes * 60000).toISOString().slice(0, 23) + OVO.jakartaOffset;
}

/** X-EXTERNAL-ID: digits only, unique per day: epoch milliseconds and six random digits. */
function externalId(millis) {
    return String(millis) + ('000000' + Math.floor(Math.random() * 1000000)).slice(-6);
}

/** The string-to-sign of `kind`, from the template ovo_nb.signing defines. */
function stringToSign(kind, parts) {
    return OVO.stringToSign[kind].map(function (piece, i) { return i % 2 ? parts[piece] : piece; }).join('');
}

/** The token a symmetric signature covers: Authorization without its 'Bearer '. */
function bareToken(authorization) {
    var text = String(authorization || '').trim();
    return /^bearer /i.test(text) ? text.slice(7).trim() : text;
}

/** jsrsasign, from its source in the collection variable (never fetched at run time), kept in this
 * function's scope: its own CryptoJS never shadows Postman's. */
function loadJsrsasign(source) {
    var navigator = {}, window = {};  // jsrsasign's browser checks look for these
    return eval(source + '\n;({ KJUR: KJUR, KEYUTIL: KEYUTIL, hextob64: hextob64 });');  // eslint-disable-line no-eval
}

function need(name) {
    var value = pm.variables.get(name);
    if (value === undefined || value === null || String(value) === '') {
        throw new Error('ovo-nb: the variable ' + name + ' is empty: ' + OVO.needs[name]);
    }
    return String(value);
}

function sign() {
    var sdk = require('postman-collection');
    var CryptoJS = require('crypto-js');
    var resolved = pm.variables.replaceIn(pm.request.url.toString());
    var kind = OVO.kinds[new sdk.Url(resolved).getPath()];
    if (!kind) {
        return;  // not an OVO API: a webview step through the sandbox's admin API
    }
    pm.request.url.update(resolved);
    var body = '';
    if (pm.request.body && pm.request.body.mode === 'raw' && pm.request.body.raw) {
        body = minify(pm.variables.replaceIn(pm.request.body.raw));
        pm.request.body.update(body);
    }
    var now = Date.now();
    var timestamp = jakartaTimestamp(now);
    var text = stringToSign(kind, {
        client_id: need('clientId'),
        method: pm.request.method.toUpperCase(),
        path: pm.request.url.getPathWithQuery(),
        token: bareToken(pm.variables.replaceIn(pm.request.headers.get('Authorization') || '')),
        digest: CryptoJS.SHA256(body).toString(CryptoJS.enc.Hex),
        timestamp: timestamp
    });
    var encoding = OVO.fixedEncoding[kind] || need('signatureEncoding');
    var signature;
    if (OVO.rsa.indexOf(kind) >= 0) {
        var jsrsasign = loadJsrsasign(need('jsrsasign'));
        var signer = new jsrsasign.KJUR.crypto.Signature({ alg: 'SHA256withRSA' });
        signer.init(jsrsasign.KEYUTIL.getKey(need('privateKey')));
        signer.updateString(text);
        var hex = signer.sign();
        signature = encoding === 'hex' ? hex : jsrsasign.hextob64(hex);
    } else {
        var mac = CryptoJS[OVO.hmac[kind]](text, need('clientSecret'));
        signature = mac.toString(encoding === 'hex' ? CryptoJS.enc.Hex : CryptoJS.enc.Base64);
    }
    pm.variables.set('xTimestamp', timestamp);
    pm.variables.set('xExternalId', externalId(now));
    pm.variables.set('xSignature', signature);
}

if (typeof pm !== 'undefined') {
    sign();
}
