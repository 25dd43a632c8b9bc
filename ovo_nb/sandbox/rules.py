"""The rule catalogue: every checkable rule of OVO's FAQ and SNAP_SPEC the sandbox enforces.

Each rule has an id, the sentence it comes from, and what implements it (a constant or the
code). Tests declare the rules they check with ``@pytest.mark.rule("ID")``; a test fails when
a rule has none, and ``docs/FIDELITY.md`` is generated from this table and those markers.
``ovo-nb sandbox --rules`` prints it. Rules marked *assumed* settle something the public
material leaves open; each is one named constant, listed in the README's "Assumed" section.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RULES", "Rule", "catalogue_text", "rule"]


@dataclass(frozen=True)
class Rule:
    """One rule: what the sandbox refuses or does, why, and where."""

    id: str
    rule: str
    source: str
    implemented_by: str
    assumed: bool = False


RULES: tuple[Rule, ...] = (
    # ------------------------------------------------------------------ the gateway
    Rule("GW-ORDER", "Checks run in order, first failure wins: body, signature headers, client, timestamp, "
         "signature, X-EXTERNAL-ID, token, other headers and fields, business rules",
         "SPEC: Validation order in the sandbox, first failure wins (OVO answered a broken token with the "
         "signature error)", "sandbox/gateway.py PRE_STATE_STEPS, IN_STATE_STEPS"),
    Rule("GW-BODY-JSON", "A SNAP POST body is one JSON object; anything else is 400xx00",
         "SPEC: body parses -> ...; ASPI 400xx00 'message parsing failed'", "gateway.parse_body"),
    Rule("GW-BODY-UNIQUE-KEYS", "A JSON body naming a key twice in one object ('amount' 1.00, then 5000000.00) is "
         "400xx00 naming the key, never read as one of its values; admin bodies likewise (400)",
         "RFC 8259 4: names within an object SHOULD be unique, and parsers differ on which value wins; product: "
         "hostile input", "_types.read_json"),
    Rule("GW-HEADERS", "X-TIMESTAMP, X-SIGNATURE and X-CLIENT-KEY (token APIs) or X-PARTNER-ID are required: "
         "400xx02", "SPEC: Headers; required signature headers present", "gateway.signature_headers"),
    Rule("GW-TIMESTAMP-FORMAT", "X-TIMESTAMP is yyyy-MM-ddTHH:mm:ss[.SSS]+07:00 (Jakarta); malformed is 400xx01, "
         "another offset (UTC Z) is a tolerance", "SPEC: X-TIMESTAMP yyyy-MM-ddTHH:mm:ss.SSSTZD, Jakarta time; "
         "accept it without milliseconds too", "snap.parse_timestamp; gateway.timestamp (JAKARTA_OFFSET)"),
    Rule("GW-TIMESTAMP-WINDOW", "X-TIMESTAMP more than 5 minutes from OVO's clock is 401xx00",
         "SPEC: The server rejects a timestamp too far from its clock (assumed window: 5 minutes)",
         "snap.TIMESTAMP_WINDOW", assumed=True),
    Rule("GW-CLIENT", "An unknown client id is 401xx00 Unauthorized. Unknown Client",
         "SPEC: 401xx00 Unauthorized (unknown client)", "gateway.client"),
    Rule("GW-IP-WHITELIST", "A production partner's call from an address outside its whitelist is 401xx00",
         "FAQ: production credentials need an IP whitelist", "gateway.client"),
    Rule("GW-BEARER", "Authorization is 'Bearer <token>'; a bare token is refused as an invalid token",
         "SPEC: Authorization: Bearer <token>", "gateway.bearer"),
    Rule("GW-DEVICE-ID", "X-DEVICE-ID (at most 400) is required on transactional calls: 400xx02 / 400xx01",
         "SPEC: X-DEVICE-ID string of at most 400, mandatory (tech doc)", "gateway.device_headers"),
    Rule("GW-CHANNEL-ID", "CHANNEL-ID (at most 5) is required on transactional endpoints",
         "SPEC: CHANNEL-ID (assumed: required on transactional endpoints)", "_types.REQUIRE_CHANNEL_ID",
         assumed=True),
    Rule("GW-PATHS", "SNAP APIs answer under /OVOSNAP/v1.0 and v2.0 and the devsite's /api/v1.0; the B2B token "
         "under v1.0 only; another path is 4040002 Invalid Routing",
         "SPEC: OVO serves the SNAP APIs under /OVOSNAP/v2.0/..., except the B2B token under /OVOSNAP/v1.0",
         "snap.Endpoint.all_paths"),
    Rule("GW-CODE-SHAPE", "responseCode is HTTP status + service code + case code, and the HTTP status equals "
         "its first three digits", "SPEC: Response codes", "snap.response_code; core.Sandbox._json"),
    Rule("GW-UNBIND-07", "Unbinding's authorization failures answer with service code 07",
         "SPEC: OVO's gateway answers account-endpoint signature failures with service code 07 (FAQ sample "
         "4010700 on unbinding)", "core.Sandbox._error_service"),
    # ------------------------------------------------------------------ signatures
    Rule("SIG-TOKEN", "The token APIs take SHA256withRSA over clientId|X-TIMESTAMP",
         "FAQ: Asymetric: B2B2C Binding, B2B2C Refresh, Get Access Token B2B; SPEC: asymmetric token",
         "signing.compose_string_to_sign"),
    Rule("SIG-BINDING", "Account binding takes SHA256withRSA over METHOD:path:bodyHash:X-TIMESTAMP; the FAQ's "
         "one-colon-short form is a tolerance", "FAQ: stringTosign ... HTTPMethod + ':' + EndpointUrl + "
         "Lowercase(HexEncode(SHA-256(minify(RequestBody)))) + ':' + TimeStamp", "signatures.verify_signature"),
    Rule("SIG-SYMMETRIC", "Unbinding, balance, debit, status and refund take HMAC-SHA512 with the client secret "
         "over METHOD:path:token:bodyHash:X-TIMESTAMP", "FAQ: Symetric: Unbinding, Balance inquiry, DD Payment, "
         "DD Check Status, DD Refund", "signing.compose_string_to_sign"),
    Rule("SIG-OVO", "Lookup, generate token and top-up options take OVO's signature (HMAC-SHA256 over "
         "clientId:X-TIMESTAMP:path)", "FAQ: API that use OVO signature (assumed form: not public)",
         "signing.ovo_string_to_sign", assumed=True),
    Rule("SIG-ENCODING", "A signature may be Base64 or lowercase hex", "SPEC: The sandbox accepts both",
         "signing._decode_candidates"),
    Rule("SIG-MINIFIED", "The body hash is SHA-256 of minify(body); a hash of the raw or re-serialised body is a "
         "tolerance", "SPEC: bodyHash = lowercase(hex(SHA-256(minify(body)))); a strict mode keeps only the "
         "minified form", "signatures.BodyForms"),
    Rule("SIG-EXPLAINED", "A signature failure answers 'Signature Failed' and names the client's mistake",
         "FAQ sample: Unauthorized. Signature Failed: AGW-002-05.", "_types.SIGNATURE_FAILED; signatures._diagnose"),
    # ------------------------------------------------------------------ X-EXTERNAL-ID
    Rule("EXT-FORMAT", "X-EXTERNAL-ID is digits, at most 36: 400xx01", "SPEC: X-EXTERNAL-ID string of at most 36",
         "gateway.external_id"),
    Rule("EXT-DAY", "A repeated X-EXTERNAL-ID the same Jakarta day is 409xx00; the window resets at Jakarta "
         "midnight", "SPEC: unique per partner; the uniqueness window resets every 24 hours (tech doc)",
         "gateway.external_id"),
    Rule("EXT-5XX", "After an answer of 500 or more the same X-EXTERNAL-ID may be sent again",
         "SNAP_NOTES: snapapi frees an id after a >= 500 answer (assumed)", "core.Sandbox._api", assumed=True),
    # ------------------------------------------------------------------ tokens
    Rule("TOK-KIND", "Each API takes its token: access token for balance, debit #1, status and unbinding #1; "
         "singleUseToken for debit #2; linkageToken for the new B2B2C token; B2B token for refund",
         "SPEC: Endpoints table, Authorization: Bearer; FAQ: Tokenization", "gateway.customer_token, b2b_token"),
    Rule("TOK-STATUS-CUSTOMER", "Debit status takes the customer's access token only: a B2B token is 401xx02",
         "FAQ: systemToken/b2b_accessToken ... will be use only for refund", "handlers/debit.debit_status"),
    Rule("TOK-CODES", "A missing token is 401xx03 (B2B) / 401xx04 (customer); an unknown, expired, revoked or "
         "wrong-kind token 401xx01 / 401xx02", "SPEC: 401xx01..04", "_state.State.check_token"),
    Rule("TOK-LIFETIMES", "linkageToken 5 minutes, accessToken 15 days, singleUseToken 15 minutes, B2B token "
         "15 minutes, refreshToken no expiry", "FAQ: What is the expiry of each token?",
         "snap.*_TOKEN_LIFETIME"),
    Rule("TOK-SINGLE-USE", "A singleUseToken completes one payment, once", "FAQ: singleUseToken ... validate the "
         "payment transactions", "handlers/debit._debit_again"),
    Rule("TOK-AUTH-CODE", "A webview authCode is exchanged once, by its own flow, within its lifetime",
         "FAQ: Generate Token using the authCode from OVO webview (assumed lifetime 15 minutes)",
         "snap.AUTH_CODE_LIFETIME", assumed=True),
    # ------------------------------------------------------------------ linkage
    Rule("LINK-LOOKUP", "Binding needs a lookup of the phone first (valid one day)", "FAQ: lookup API is "
         "mandatory to be develop by partner before the linkage initiation", "snap.LOOKUP_VALIDITY",
         assumed=True),
    Rule("LINK-CAN-REGISTER", "A phone without an OVO account looks up CAN_REGISTER and cannot bind (404xx11)",
         "FAQ: How if getting response as CAN_REGISTER", "handlers/account.lookup"),
    Rule("LINK-INDONESIAN", "Only Indonesian mobile numbers, ASCII digits: 400xx01 otherwise",
         "FAQ: Only allow Indonesian mobile number", "snap.normalize_phone"),
    Rule("LINK-ONE", "One OVO account per partner account: a second binding is refused while one is active, "
         "and a newer completed binding supersedes an older one", "FAQ: only allowed for 1 partner account to be "
         "linked with 1 OVO account", "handlers/account.activate_binding"),
    Rule("LINK-CLOSED", "A CLOSED account cannot bind (403xx18) and its tokens break", "FAQ: refreshToken getting "
         "broken ... if the OVO account status from customer is CLOSED", "ops.update_customer"),
    Rule("LINK-UNBIND-REVOKES", "Unbinding revokes every token of the phone, closes its webviews and cancels the "
         "payments waiting for a PIN: nothing started before it moves money", "FAQ: refreshToken: No Expiry "
         "(unless user do the unbinding)", "_state.State.unbind"),
    Rule("LINK-PHONE-CHANGE", "A phone number change breaks the customer's tokens", "FAQ: What will happen if the "
         "customer change the OVO phone number?", "ops.update_customer"),
    Rule("LINK-APP-UNLINK", "Unlinking in the OVO app breaks the partner's tokens without telling it",
         "FAQ: broken if customer do unlink on partner platform, within OVO Apps", "ops.unlink_in_app"),
    Rule("LINK-UNBIND-TWO-CALLS", "Unbinding is two calls: the access token opens the unbinding webview, its "
         "linkageToken and authCode finish it", "SPEC: Unbinding is two calls", "handlers/account.account_unbinding"),
    # ------------------------------------------------------------------ OTP and PIN
    Rule("OTP-VALUE", "The OTP is the last 4 digits of the phone", "FAQ: the OTP use the last 4 digit number",
         "snap.stage_otp"),
    Rule("OTP-GENERATIONS", "At most 5 OTPs (binding and unbinding together), then 403xx11 for 30 minutes",
         "FAQ: How many for the max attempt OTP to be generated? 5 times ... 30 minutes",
         "snap.OTP_MAX_GENERATIONS, OTP_BLOCK"),
    Rule("OTP-FAILURES", "5 wrong OTPs block the customer for 30 minutes (still blocked at 29:59, free at 30:01)",
         "FAQ: max attempt for user input the wrong OTP during a binding process? 5 times ... 30 minutes",
         "snap.OTP_MAX_FAILURES, OTP_BLOCK"),
    Rule("PIN-BLOCKS", "3 wrong Security PINs block for 1 hour; 6 block permanently", "FAQ: wrong Security PIN "
         "during a binding/Payment process? 3 times ... 1 hours ... 6 times permanently",
         "snap.PIN_BLOCK_AFTER, PIN_LOCK_AFTER, PIN_BLOCK"),
    Rule("PIN-BINDING-2FA", "The binding webview asks the OTP, then the Security PIN; a PIN-blocked customer "
         "cannot bind", "FAQ: authType=2FA; wrong Security PIN during a binding/Payment process",
         "webview.STEPS"),
    # ------------------------------------------------------------------ webview
    Rule("WV-PARAMS", "A webview URL carries action, authType, client-id, phoneNumber, refId, token, destination "
         "and submissionType=redirect; a missing one is named", "FAQ: include all the query parameters from the "
         "body response along with the token, partner callback URL, and submission type",
         "webview.REQUIRED_PARAMS"),
    Rule("WV-DESTINATION", "The destination must be a registered callback URL", "FAQ: the callback URL should "
         "have a static value & should be registered in OVO environment", "webview.session_for"),
    Rule("WV-TOKEN", "An expired or revoked token cannot open a webview (linkage over 5 minutes, access token "
         "after unbinding)", "SPEC: A revoked or expired token cannot open a webview", "webview.TOKEN_KIND"),
    Rule("WV-TIMEOUT", "A webview page lives 15 minutes from when the customer opens it", "FAQ: How long the "
         "timeout for webview? less than 15 minutes", "snap.WEBVIEW_LIFETIME"),
    Rule("WV-WRONG-STAYS", "A wrong OTP or PIN keeps the customer on the page: no redirect", "FAQ: their page will "
         "stop at OVO webview. So there will be no redirection", "webview._wrong_code"),
    Rule("WV-REDIRECT", "Success redirects to destination?response=<JSON> with authCode, and the state",
         "FAQ: then the reponse will be: https://piswebblank.pis/?response=...", "webview._success"),
    Rule("WV-ERROR-REDIRECT", "A step that can no longer finish (expired, revoked, canceled) goes to the partner's "
         "registered error-redirect URL with the failure response", "FAQ: For the failed transaction ... OVO will "
         "send the error response; error redirection ... need to be registered (assumed: the first one)",
         "webview._failure", assumed=True),
    # ------------------------------------------------------------------ direct debit
    Rule("DD-TWO-STEP", "The 1st call (access token) answers 2025400 and deducts nothing; the 2nd, same body with "
         "the singleUseToken, deducts", "FAQ: There are 2 step for Direct Debit API; balance deducted once "
         "success perform the second hit", "handlers/debit.debit_payment"),
    Rule("DD-IDEMPOTENT", "The same partnerReferenceNo and body replays the stored answer; another body is 409xx01",
         "FAQ: the OVO Direct Debit API support for idempotency", "handlers/debit._debit_again"),
    Rule("DD-TIMEOUT", "A debit must complete within 15 minutes of the customer opening the webview: 403xx00 after",
         "FAQ: the timeout is 15 minutes. After user open the webview", "webview._open; snap.WEBVIEW_LIFETIME"),
    Rule("DD-FUNDS", "A debit above the balance is 403xx14", "FAQ: failed transaction when the customer have an "
         "insufficient balance", "handlers/debit._debit_refusal"),
    Rule("DD-LIMIT", "A single debit above IDR 10,000,000 is 403xx02", "SPEC: 403xx02 Exceeds Transaction Amount "
         "Limit (assumed limit)", "snap.TRANSACTION_LIMIT", assumed=True),
    Rule("DD-RECURRING", "subTransactionType AUTO is PIN-less and needs OVO's approval: 403xx01 otherwise",
         "FAQ: recurring feature, subTransactionType : AUTO", "handlers/debit.debit_payment"),
    Rule("DD-MONEY", "Amounts are {value: '10000.00', currency: 'IDR'}, ASCII digits, two decimals: 400xx01",
         "SPEC: Amounts everywhere: a string with exactly two decimals, IDR only", "snap.parse_money"),
    # ------------------------------------------------------------------ refunds
    Rule("RF-B2B", "Refund takes the B2B token and works after unbinding", "FAQ: refund can be perform even if the "
         "user already unbind", "handlers/debit.debit_refund"),
    Rule("RF-WINDOW", "Refunds are allowed 60 days after payment (business agreement): 403xx00 after",
         "FAQ: How long the refund period is allow? Default is 60 days", "snap.REFUND_WINDOW_DAYS"),
    Rule("RF-AMOUNT", "Refunds never exceed what was paid: 404xx13", "SPEC: 404xx13 Invalid Amount",
         "handlers/debit.debit_refund"),
    Rule("RF-DAILY-LIMIT", "A production partner's refunds stay under its daily refund limit: 403xx02",
         "FAQ: Provide Daily Refund Limit if partner using Refund", "handlers/debit.debit_refund"),
    Rule("RF-IDEMPOTENT", "The same partnerRefundNo and body replays the refund; another body is 409xx01",
         "SPEC: Duplicate partnerReferenceNo (same number, different body)", "handlers/debit.debit_refund"),
    # ------------------------------------------------------------------ onboarding
    Rule("ONB-PRODUCTION", "Production onboarding requires an IP whitelist", "FAQ: production credentials: "
         "Provide IP whitelist", "ops.register_partner"),
    Rule("ONB-CALLBACKS", "Callback and error-redirect URLs are registered only as static https URLs without a query",
         "FAQ: the callback URL should have a static value & should be registered in OVO environment before use",
         "ops.register_partner (keys.validate_callback_url)"),
    Rule("ONB-CREDENTIALS", "Onboarding answers OVO's encrypted pair (RSA-wrapped key.bin, openssl enc file)",
         "SPEC: Client credential sharing (OVO's SOP)", "admin._register_partner"),
    # ------------------------------------------------------------------ tolerance and hostile input
    Rule("LENIENT", "What is accepted only out of tolerance is flagged in _sandbox.warnings; a partner with "
         "lenient = false (the default) refuses it", "SPEC: accept what real third-party SNAP clients sign; a "
         "strict mode keeps only the minified form", "gateway.Call.tolerate"),
    Rule("HOSTILE-BODY", "A body over 1 MB is refused 413 before it is read; nesting deeper than 32 is 400xx00",
         "product: servers answer hostile input in bounded time and memory", "_types.MAX_BODY_BYTES, MAX_JSON_DEPTH"),
    Rule("HOSTILE-FRAMING", "Broken HTTP framing is answered in SNAP JSON: 400, 405, 408, 411, 413, 431; "
         "Content-Length with Transfer-Encoding is 400 and the connection closed, so nothing is smuggled after it",
         "product: servers answer hostile input in bounded time and memory; RFC 9112 6.1",
         "server.SandboxServer._check_head"),
    Rule("HOSTILE-SLOW", "Slow, trickling and idle clients hold a descriptor, never a worker: each request is read "
         "whole (within 10 s of its first byte, else 408) before a worker sees it; bodies held at once are capped "
         "(503); at the descriptor limit a new client is answered 503 at once",
         "product: servers answer hostile input in bounded time and memory", "server.SandboxServer (selector)"),
    Rule("HOSTILE-ADMIN", "Admin and config fields are typed and bounded: 'false' is not true, a string is not a "
         "list, the clock moves at most ten years", "product: bad input gets a clear error",
         "admin.read_body, MAX_CLOCK_ADVANCE_SECONDS"),
    Rule("ADMIN-REPLACE", "POST of an existing customer is 409 unless the body says \"replace\": true; a replace "
         "writes each balance change to her ledger as an ADJUST entry, so her balance equals her movements",
         "product: the sandbox's books balance (the soak checks every balance against its movements)",
         "ops.add_customer"),
)
"""The catalogue, in the order SNAP_SPEC and the FAQ present the rules."""

_BY_ID = {r.id: r for r in RULES}


def rule(rule_id: str) -> Rule:
    """The rule with ``rule_id``."""
    return _BY_ID[rule_id]


def catalogue_text(fidelity: str = "docs/FIDELITY.md") -> str:
    """The catalogue for a terminal: one block per rule; ``fidelity`` is where the page with each rule's tests is."""
    lines = [f"{len(RULES)} rules the sandbox enforces ({sum(r.assumed for r in RULES)} assumed); "
             f"{fidelity} lists the tests of each.", ""]
    for r in RULES:
        lines += [f"{r.id}{' (assumed)' if r.assumed else ''}: {r.rule}", f"    source: {r.source}",
                  f"    where:  {r.implemented_by}"]
    return "\n".join(lines)
