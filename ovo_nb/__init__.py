"""ovo-nb: a Jupyter toolkit for OVO's Bank Indonesia SNAP payment API.

The public API is re-exported here; the modules behind it may move.

- :mod:`ovo_nb.keys`: RSA keys, the credential request, OVO's encrypted credentials.
- :mod:`ovo_nb.signing`: SNAP string-to-sign builders, signers and verifiers.
- :mod:`ovo_nb.snap`: endpoints, response codes, timestamps, external ids, money.
- :mod:`ovo_nb.calllog`: the durable, redacting log of every HTTP exchange.
- :mod:`ovo_nb.config`: profiles (sandbox, stage, production).
- :mod:`ovo_nb.client`: signed requests and :class:`OvoClient`, one typed method per API.
- :mod:`ovo_nb.flows`: :class:`Ovo`, the business flows with vault, ledger and recovery.
- :mod:`ovo_nb.sandbox`: the embedded OVO.
- :mod:`ovo_nb.environments`: where calls go (in-process or loopback sandbox, OVO stage or
  production) and the sandbox's admin controls.
- :mod:`ovo_nb.postman`: the Postman collection and environment for a profile.
- :mod:`ovo_nb.views`: step cards, sequence diagrams, charts and readable tables.
- :mod:`ovo_nb.walkthrough` and :mod:`ovo_nb.widgets`: what the notebooks are made of.
- :mod:`ovo_nb.reconciliation` and :mod:`ovo_nb.reports`: reconciliation and its reports;
  :mod:`ovo_nb.finance`: the page finance opens (``ovo-nb finance``).

Every name loads on first use: ``import ovo_nb`` (or ``ovo_nb.snap``) loads neither pandas, nor
ipywidgets, nor the sandbox.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and editors; at run time each name loads on first use
    from ._files import artefact_dir
    from .calllog import Call, CallLog, LoggingTransport, as_curl, mask_msisdn, mask_token, new_run_id
    from .client import OvoClient, SnapRequestBuilder
    from .config import Profile, default_profile, load_profile
    from .doctor import Check, Explanation, check_profile, explain_call
    from .environments import Environment, SandboxAdmin, open_environment
    from .errors import (
        AuthenticationError,
        BusinessRuleError,
        ConflictError,
        CredentialError,
        CustomerMustRegister,
        CustomerNotBound,
        InsufficientFundsError,
        InvalidRequestError,
        KeyFileError,
        NotebookSkipped,
        NotFoundError,
        OvoApiError,
        OvoConnectionError,
        OvoNbError,
        RateLimitError,
        ServerError,
        SignatureError,
        StateFileError,
        ValidationError,
        WebviewError,
    )
    from .evidence import (
        Scenario,
        ScenarioResult,
        as_http,
        evidence_session,
        fill_template,
        run_scenarios,
        scenarios,
        write_devsite_report,
        write_evidence_workbook,
        write_scenario_results,
    )
    from .finance import finance_app
    from .flows import Ovo, PaymentOutcome, PendingBinding, PendingPayment, PendingUnbinding
    from .keys import (
        CredentialPair,
        CredentialRequest,
        Credentials,
        PartnerKeys,
        build_credential_request,
        decrypt_credentials,
        default_key_dir,
        encrypt_credentials,
        fingerprint,
        generate_private_key,
        load_private_key,
        load_public_key,
        prepare_partner_keys,
        public_key_pem,
        read_credential_pair,
        save_private_key,
        validate_callback_url,
        validate_ip_entry,
        write_credential_request,
    )
    from .ledger import PartnerLedger
    from .models import (
        B2BToken,
        Balance,
        Binding,
        CustomerTokens,
        Lookup,
        Payment,
        PaymentStatus,
        Refund,
        SingleUseToken,
        TopupOptions,
        Unbinding,
    )
    from .outcome import NotebookOutcome, finish_notebook
    from .postman import PostmanExport, export_postman
    from .project import Project, find_project
    from .reconciliation import (
        Period,
        Preset,
        Reconciliation,
        from_ledger,
        from_settlement,
        ledger_rows,
        load_records,
        reconcile,
        settle_from_settlement,
    )
    from .reports import write_ledger_export, write_reconciliation
    from .scaffold import InitResult, init_project
    from .secretbox import SecretBox
    from .signing import (
        asymmetric_request_string_to_sign,
        body_hash,
        compose_string_to_sign,
        minify,
        ovo_string_to_sign,
        serialize_body,
        sign_hmac_sha256,
        sign_hmac_sha512,
        sign_rsa_sha256,
        symmetric_string_to_sign,
        token_string_to_sign,
        verify_hmac_sha256,
        verify_hmac_sha512,
        verify_rsa_sha256,
    )
    from .snap import (
        JAKARTA,
        Clock,
        Endpoint,
        ExternalIdGenerator,
        ManualClock,
        PathStyle,
        ResponseCode,
        SignatureKind,
        SystemClock,
        endpoint,
        format_amount,
        format_timestamp,
        mask_phone,
        money,
        normalize_phone,
        parse_amount,
        parse_money,
        parse_response_code,
        parse_timestamp,
        response_code,
        response_message,
        stage_otp,
    )
    from .testbed import SANDBOX_TEST_PIN, TEST_CUSTOMERS
    from .tokens import TokenVault
    from .traffic import Drill, drill_session, planted_vs_found, sandbox_settlement, simulate_period
    from .views import Card, Chart, Diagram, Table, latency_chart, readable_table, response_code_chart
    from .walkthrough import StepResult, Steps, Walkthrough
    from .webview import CallbackResult, WebviewCompleter, build_webview_url, parse_callback
    from .widgets import flow_panel

__version__ = "0.2.0"

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(('Call', 'CallLog', 'LoggingTransport', 'as_curl', 'mask_msisdn', 'mask_token', 'new_run_id',),
                    "calllog"),
    **dict.fromkeys(('OvoClient', 'SnapRequestBuilder',), "client"),
    **dict.fromkeys(('Profile', 'default_profile', 'load_profile',), "config"),
    **dict.fromkeys(('Check', 'Explanation', 'check_profile', 'explain_call',), "doctor"),
    **dict.fromkeys(('Environment', 'SandboxAdmin', 'open_environment',), "environments"),
    **dict.fromkeys((
        'AuthenticationError', 'BusinessRuleError', 'ConflictError', 'CredentialError', 'CustomerMustRegister',
        'CustomerNotBound', 'InsufficientFundsError', 'InvalidRequestError', 'KeyFileError', 'NotebookSkipped',
        'NotFoundError', 'OvoApiError', 'OvoConnectionError', 'OvoNbError', 'RateLimitError', 'ServerError',
        'SignatureError', 'StateFileError', 'ValidationError', 'WebviewError',
    ), "errors"),
    **dict.fromkeys((
        'Scenario', 'ScenarioResult', 'as_http', 'evidence_session', 'fill_template', 'run_scenarios', 'scenarios',
        'write_devsite_report', 'write_evidence_workbook', 'write_scenario_results',
    ), "evidence"),
    **dict.fromkeys(('finance_app',), "finance"),
    **dict.fromkeys(('Ovo', 'PaymentOutcome', 'PendingBinding', 'PendingPayment', 'PendingUnbinding',), "flows"),
    **dict.fromkeys((
        'CredentialPair', 'CredentialRequest', 'Credentials', 'PartnerKeys', 'build_credential_request',
        'decrypt_credentials', 'default_key_dir', 'encrypt_credentials', 'fingerprint', 'generate_private_key',
        'load_private_key', 'load_public_key', 'prepare_partner_keys', 'public_key_pem', 'read_credential_pair',
        'save_private_key', 'validate_callback_url', 'validate_ip_entry', 'write_credential_request',
    ), "keys"),
    **dict.fromkeys(('PartnerLedger',), "ledger"),
    **dict.fromkeys(('PostmanExport', 'export_postman',), "postman"),
    **dict.fromkeys((
        'B2BToken', 'Balance', 'Binding', 'CustomerTokens', 'Lookup', 'Payment', 'PaymentStatus', 'Refund',
        'SingleUseToken', 'TopupOptions', 'Unbinding',
    ), "models"),
    **dict.fromkeys((
        'Period', 'Preset', 'Reconciliation', 'from_ledger', 'from_settlement', 'ledger_rows', 'load_records',
        'reconcile', 'settle_from_settlement',
    ), "reconciliation"),
    **dict.fromkeys(('write_ledger_export', 'write_reconciliation',), "reports"),
    **dict.fromkeys(('artefact_dir',), "_files"),
    **dict.fromkeys(('SecretBox',), "secretbox"),
    **dict.fromkeys((
        'asymmetric_request_string_to_sign', 'body_hash', 'compose_string_to_sign', 'minify', 'ovo_string_to_sign',
        'serialize_body', 'sign_hmac_sha256', 'sign_hmac_sha512', 'sign_rsa_sha256', 'symmetric_string_to_sign',
        'token_string_to_sign', 'verify_hmac_sha256', 'verify_hmac_sha512', 'verify_rsa_sha256',
    ), "signing"),
    **dict.fromkeys((
        'Clock', 'Endpoint', 'ExternalIdGenerator', 'JAKARTA', 'ManualClock', 'PathStyle', 'ResponseCode',
        'SignatureKind', 'SystemClock', 'endpoint', 'format_amount', 'format_timestamp', 'mask_phone', 'money',
        'normalize_phone', 'parse_amount', 'parse_money', 'parse_response_code', 'parse_timestamp', 'response_code',
        'response_message', 'stage_otp',
    ), "snap"),
    **dict.fromkeys(('SANDBOX_TEST_PIN', 'TEST_CUSTOMERS',), "testbed"),
    **dict.fromkeys(('TokenVault',), "tokens"),
    **dict.fromkeys(('Drill', 'drill_session', 'planted_vs_found', 'sandbox_settlement', 'simulate_period'),
                    "traffic"),
    **dict.fromkeys(('Card', 'Chart', 'Diagram', 'Table', 'latency_chart', 'readable_table', 'response_code_chart'),
                    "views"),
    **dict.fromkeys(('StepResult', 'Steps', 'Walkthrough',), "walkthrough"),
    **dict.fromkeys(('NotebookOutcome', 'finish_notebook'), "outcome"),
    **dict.fromkeys(('Project', 'find_project'), "project"),
    **dict.fromkeys(('InitResult', 'init_project'), "scaffold"),
    **dict.fromkeys(('CallbackResult', 'WebviewCompleter', 'build_webview_url', 'parse_callback',), "webview"),
    **dict.fromkeys(('flow_panel',), "widgets"),
}
"""Each public name and the module that defines it."""

__all__ = [
    "JAKARTA",
    "SANDBOX_TEST_PIN",
    "TEST_CUSTOMERS",
    "AuthenticationError",
    "B2BToken",
    "Balance",
    "Binding",
    "BusinessRuleError",
    "Call",
    "CallLog",
    "CallbackResult",
    "Card",
    "Chart",
    "Check",
    "Clock",
    "ConflictError",
    "CredentialError",
    "CredentialPair",
    "CredentialRequest",
    "Credentials",
    "CustomerMustRegister",
    "CustomerNotBound",
    "CustomerTokens",
    "Diagram",
    "Drill",
    "Endpoint",
    "Environment",
    "Explanation",
    "ExternalIdGenerator",
    "InitResult",
    "InsufficientFundsError",
    "InvalidRequestError",
    "KeyFileError",
    "LoggingTransport",
    "Lookup",
    "ManualClock",
    "NotFoundError",
    "NotebookOutcome",
    "NotebookSkipped",
    "Ovo",
    "OvoApiError",
    "OvoClient",
    "OvoConnectionError",
    "OvoNbError",
    "PartnerKeys",
    "PartnerLedger",
    "PathStyle",
    "Payment",
    "PaymentOutcome",
    "PaymentStatus",
    "PendingBinding",
    "PendingPayment",
    "PendingUnbinding",
    "Period",
    "PostmanExport",
    "Preset",
    "Profile",
    "Project",
    "RateLimitError",
    "Reconciliation",
    "Refund",
    "ResponseCode",
    "SandboxAdmin",
    "Scenario",
    "ScenarioResult",
    "SecretBox",
    "ServerError",
    "SignatureError",
    "SignatureKind",
    "SingleUseToken",
    "SnapRequestBuilder",
    "StateFileError",
    "StepResult",
    "Steps",
    "SystemClock",
    "Table",
    "TokenVault",
    "TopupOptions",
    "Unbinding",
    "ValidationError",
    "Walkthrough",
    "WebviewCompleter",
    "WebviewError",
    "__version__",
    "artefact_dir",
    "as_curl",
    "as_http",
    "asymmetric_request_string_to_sign",
    "body_hash",
    "build_credential_request",
    "build_webview_url",
    "check_profile",
    "compose_string_to_sign",
    "decrypt_credentials",
    "default_key_dir",
    "default_profile",
    "drill_session",
    "encrypt_credentials",
    "endpoint",
    "evidence_session",
    "explain_call",
    "export_postman",
    "fill_template",
    "finance_app",
    "find_project",
    "fingerprint",
    "finish_notebook",
    "flow_panel",
    "format_amount",
    "format_timestamp",
    "from_ledger",
    "from_settlement",
    "generate_private_key",
    "init_project",
    "latency_chart",
    "ledger_rows",
    "load_private_key",
    "load_profile",
    "load_public_key",
    "load_records",
    "mask_msisdn",
    "mask_phone",
    "mask_token",
    "minify",
    "money",
    "new_run_id",
    "normalize_phone",
    "open_environment",
    "ovo_string_to_sign",
    "parse_amount",
    "parse_callback",
    "parse_money",
    "parse_response_code",
    "parse_timestamp",
    "planted_vs_found",
    "prepare_partner_keys",
    "public_key_pem",
    "read_credential_pair",
    "readable_table",
    "reconcile",
    "response_code",
    "response_code_chart",
    "response_message",
    "run_scenarios",
    "sandbox_settlement",
    "save_private_key",
    "scenarios",
    "serialize_body",
    "settle_from_settlement",
    "sign_hmac_sha256",
    "sign_hmac_sha512",
    "sign_rsa_sha256",
    "simulate_period",
    "stage_otp",
    "symmetric_string_to_sign",
    "token_string_to_sign",
    "validate_callback_url",
    "validate_ip_entry",
    "verify_hmac_sha256",
    "verify_hmac_sha512",
    "verify_rsa_sha256",
    "write_credential_request",
    "write_devsite_report",
    "write_evidence_workbook",
    "write_ledger_export",
    "write_reconciliation",
    "write_scenario_results",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ovo_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next access skips this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
