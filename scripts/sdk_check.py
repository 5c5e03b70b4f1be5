#!/usr/bin/env python3
"""pinbridge's provider answers checked against the providers' own Python SDKs.

Run by scripts/sdk-check.sh (which installs the SDKs in a virtual environment), against the
real `pinbridge serve` binary given as the first argument:

    scripts/sdk-check.sh [path/to/pinbridge]

Every request is signed by the provider's official SDK, or as its SDK verifies it:
- Twilio: `twilio.request_validator.RequestValidator.compute_signature`;
- Plivo: `plivo.utils.signature_v3` (`construct_post_url`, `get_signature_v3`), V3 with a nonce;
- Vonage: an HS256 JWT with `payload_hash`, checked first with the Vonage SDK's
  `vonage_jwt.verify_signature`.

Every answer is checked against the SDK's model of the wire format:
- TwiML: each element is a verb or noun of `twilio.twiml.voice_response`, nested where the SDK
  nests it, and each attribute is a named parameter of the SDK's method for it;
- Plivo XML: each element is a `plivo.plivoxml` element allowed in its parent (`_nestable`), and
  each attribute goes through the element's own validating setter;
- NCCO: each action parses as the Vonage SDK's pydantic model (`vonage_voice.models.ncco`), and
  every key is a field of it.

The calls: a whole PIN call on a Hindi virtual number (welcome, wrong PIN, right PIN, bridge),
and a booking call with recording and whisper on, with the dialled party's whisper and the
recording callback, whose URL must reach the call log. Exits 1 on the first mismatch.
"""

import base64
import hashlib
import inspect
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import jwt
from plivo import plivoxml
from plivo.utils import signature_v3
from twilio.request_validator import RequestValidator
from twilio.twiml import voice_response as twiml
import vonage_jwt
import vonage_voice.models.ncco as ncco

PUBLIC = "https://masking.example.com"
ADMIN = "sdk-check-admin-token-0123456789"
EXOTEL_SECRET = "sdk-check-exotel-secret-0123456789"
TWILIO_TOKEN = "sdk-check-twilio-auth-token"
PLIVO_TOKEN = "sdk-check-plivo-auth-token"
VONAGE_SECRET = "sdk-check-vonage-signature-secret"
EIGHT_SECRET = "sdk-check-8x8-secret-0123456789"

NUMBERS = {
    "twilio": "+918047110001",
    "plivo": "+918047110002",
    "vonage": "+918047110003",
}
COURIER = "+919900000001"
CUSTOMER = "+919812345678"
RIDER = "+917709562799"
DRIVER = "+919876543210"


class Mismatch(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Mismatch(message)


# --- the server ------------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, workdir):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            {
                "PINBRIDGE_LISTEN": f"127.0.0.1:{self.port}",
                "PINBRIDGE_PUBLIC_URL": PUBLIC,
                "PINBRIDGE_DATABASE_URL": f"sqlite://{workdir}/sdk-check.db",
                "PINBRIDGE_ADMIN_TOKEN": ADMIN,
                "PINBRIDGE_EXOTEL_SECRET": EXOTEL_SECRET,
                "PINBRIDGE_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                "PINBRIDGE_PLIVO_AUTH_TOKEN": PLIVO_TOKEN,
                "PINBRIDGE_VONAGE_SIGNATURE_SECRET": VONAGE_SECRET,
                "PINBRIDGE_8X8_SECRET": EIGHT_SECRET,
                "PINBRIDGE_BRAND": "Swift Couriers",
            }
        )
        self.log = open(os.path.join(workdir, "server.log"), "wb")
        self.process = subprocess.Popen(
            [binary, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise Mismatch("the server did not answer /healthz within 30 s")

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        self.log.close()
        # The server's JSON log lines join the suite's, for scripts/scan-logs.sh.
        collected = os.environ.get("TEST_LOG_FILE")
        if collected:
            with open(self.log.name, "rb") as log, open(collected, "ab") as out:
                out.writelines(line for line in log if line.startswith(b"{"))

    def request(self, method, path, body=None, headers=None):
        req = urllib.request.Request(
            self.base + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers.get("content-type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("content-type", ""), e.read()

    def api(self, method, path, payload=None):
        body = json.dumps(payload).encode() if payload is not None else None
        status, _, raw = self.request(
            method,
            "/api/v1" + path,
            body,
            {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
        )
        check(status < 300, f"{method} {path}: {status} {raw[:300]!r}")
        return json.loads(raw) if raw else None


# --- signing, as each SDK does -------------------------------------------------------------------


def twilio_post(server, path, params):
    url = PUBLIC + path
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    check(RequestValidator(TWILIO_TOKEN).validate(url, params, signature), "twilio self-check")
    return server.request(
        "POST",
        path,
        urllib.parse.urlencode(params).encode(),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )


def plivo_post(server, path, params):
    url = PUBLIC + path
    nonce = str(secrets.randbelow(10**20))
    base = signature_v3.construct_post_url(url, params)
    signature = signature_v3.get_signature_v3(PLIVO_TOKEN, base, nonce)
    signature = signature.decode() if isinstance(signature, bytes) else signature
    check(
        signature_v3.validate_v3_signature("POST", url, nonce, PLIVO_TOKEN, signature, params),
        "plivo self-check",
    )
    return server.request(
        "POST",
        path,
        urllib.parse.urlencode(params).encode(),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Plivo-Signature-V3": signature,
            "X-Plivo-Signature-V3-Nonce": nonce,
        },
    )


def vonage_token(body=None):
    claims = {"iat": int(time.time()), "jti": str(uuid.uuid4()), "iss": "Vonage"}
    if body is not None:
        claims["payload_hash"] = hashlib.sha256(body).hexdigest()
    token = jwt.encode(claims, VONAGE_SECRET, algorithm="HS256")
    check(vonage_jwt.verify_signature(token, VONAGE_SECRET), "vonage self-check")
    return token


def vonage_get(server, path, params):
    query = urllib.parse.urlencode(params)
    return server.request(
        "GET", f"{path}?{query}", None, {"Authorization": f"Bearer {vonage_token()}"}
    )


def vonage_post(server, path, payload):
    body = json.dumps(payload).encode()
    return server.request(
        "POST",
        path,
        body,
        {"Authorization": f"Bearer {vonage_token(body)}", "Content-Type": "application/json"},
    )


# --- the SDKs' models of the answers ---------------------------------------------------------


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


TWIML_ROOT = {"Response": twiml.VoiceResponse}


def twiml_class(tag):
    cls = TWIML_ROOT.get(tag) or getattr(twiml, tag, None)
    check(inspect.isclass(cls), f"TwiML: <{tag}> is not a class of twilio.twiml.voice_response")
    return cls


def twiml_parameters(parent_cls, tag):
    """The named parameters of the SDK method that adds `tag` to `parent_cls`."""
    method = getattr(parent_cls, snake(tag), None)
    check(method is not None, f"TwiML: <{tag}> can not be nested in {parent_cls.__name__}")
    return {
        name
        for name, p in inspect.signature(method).parameters.items()
        if p.kind is not inspect.Parameter.VAR_KEYWORD and name != "self"
    }


def check_twiml(text, where):
    root = ET.fromstring(text)
    check(root.tag == "Response", f"{where}: the root is <{root.tag}>")

    def walk(element, cls):
        for child in element:
            named = twiml_parameters(cls, child.tag)
            for attribute in child.attrib:
                check(
                    snake(attribute) in named,
                    f"{where}: <{child.tag} {attribute}> is not a parameter of the SDK's "
                    f"{cls.__name__}.{snake(child.tag)} ({sorted(named)})",
                )
            walk(child, twiml_class(child.tag))

    walk(root, twiml.VoiceResponse)
    return root


PLIVO_BOOLEANS = {"true": True, "false": False}


def plivo_value(raw):
    if raw in PLIVO_BOOLEANS:
        return PLIVO_BOOLEANS[raw]
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    return raw


def check_plivo(text, where):
    root = ET.fromstring(text)
    check(root.tag == "Response", f"{where}: the root is <{root.tag}>")

    def build(element):
        cls = getattr(plivoxml, element.tag + "Element", None)
        check(cls is not None, f"{where}: <{element.tag}> is not a plivoxml element")
        params = inspect.signature(cls.__init__).parameters
        content = (element.text or "").strip()
        obj = cls(content) if "content" in params and content else cls()
        for attribute, raw in element.attrib.items():
            setter = getattr(obj, "set_" + snake(attribute), None)
            check(setter is not None, f"{where}: <{element.tag} {attribute}> has no SDK setter")
            value = plivo_value(raw)
            try:
                setter(value)
            except Exception:  # the SDK's validate_args: a value of the wrong type or range
                setter(raw)
        for child in element:
            check(
                child.tag in getattr(obj, "_nestable", []),
                f"{where}: <{child.tag}> may not be nested in <{element.tag}>",
            )
            build(child)
        return obj

    build(root)
    return root


NCCO_ACTIONS = {
    "talk": ncco.Talk,
    "input": ncco.Input,
    "connect": ncco.Connect,
    "record": ncco.Record,
    "stream": ncco.Stream,
    "notify": ncco.Notify,
}
NCCO_ENDPOINTS = {"phone": ncco.PhoneEndpoint}


def model_keys(model):
    return {
        (f.alias or name) if name != "from_" else "from" for name, f in model.model_fields.items()
    }


def check_ncco(actions, where):
    check(isinstance(actions, list) and actions, f"{where}: an NCCO is a non-empty array")
    for action in actions:
        model = NCCO_ACTIONS.get(action.get("action"))
        check(model is not None, f"{where}: unknown NCCO action {action.get('action')!r}")
        extra = set(action) - model_keys(model)
        check(not extra, f"{where}: {action['action']} has keys the SDK does not know: {extra}")
        fields = dict(action)
        if "from" in fields:
            fields["from_"] = fields.pop("from")
        model(**fields)
        for endpoint in action.get("endpoint", []):
            endpoint_model = NCCO_ENDPOINTS.get(endpoint.get("type"))
            check(endpoint_model is not None, f"{where}: endpoint type {endpoint.get('type')!r}")
            extra = set(endpoint) - model_keys(endpoint_model)
            check(not extra, f"{where}: endpoint keys the SDK does not know: {extra}")
            endpoint_model(**endpoint)
    return actions


def rejects(check_fn, sample):
    try:
        check_fn(sample, "self-test")
    except Exception:
        return True
    return False


def self_test():
    """The checks can fail: each refuses an answer that its SDK does not model."""
    check(
        rejects(check_twiml, '<Response><Say fooBar="x">hi</Say></Response>'),
        "the TwiML check let an unknown attribute through",
    )
    check(
        rejects(check_twiml, "<Response><Gather><Dial>1</Dial></Gather></Response>"),
        "the TwiML check let <Dial> inside <Gather> through",
    )
    check(
        rejects(check_plivo, '<Response><GetInput logs="false"/></Response>'),
        "the Plivo check let an unknown attribute through",
    )
    check(
        rejects(check_plivo, '<Response><GetInput numDigits="many"/></Response>'),
        "the Plivo check let a numDigits that is not a number through",
    )
    check(
        rejects(check_plivo, "<Response><Speak><Dial/></Speak></Response>"),
        "the Plivo check let <Dial> inside <Speak> through",
    )
    check(
        rejects(check_ncco, [{"action": "talk", "text": "hi", "voice": "x"}]),
        "the NCCO check let an unknown key through",
    )
    check(
        rejects(check_ncco, [{"action": "talk", "text": "hi", "style": "loud"}]),
        "the NCCO check let a style that is not a number through",
    )


# --- the calls -------------------------------------------------------------------------------


def xml_of(status_type_body, where):
    status, content_type, body = status_type_body
    check(status == 200, f"{where}: HTTP {status} {body[:300]!r}")
    check("xml" in content_type, f"{where}: content type {content_type}")
    return body.decode()


def json_of(status_type_body, where):
    status, content_type, body = status_type_body
    check(status == 200, f"{where}: HTTP {status} {body[:300]!r}")
    check("json" in content_type, f"{where}: content type {content_type}")
    return json.loads(body)


def hindi(where, languages):
    check(languages, f"{where}: nothing was said")
    check(all(l == "hi-IN" for l in languages), f"{where}: languages {languages}")


def twilio_pin_call(server):
    sid = "CA" + uuid.uuid4().hex
    leg = {
        "CallSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": COURIER,
        "To": NUMBERS["twilio"],
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    root = check_twiml(xml_of(twilio_post(server, "/twilio/voice", leg), "twilio voice"), "twilio voice")
    hindi("twilio voice", [s.get("language") for s in root.iter("Say")])
    root = check_twiml(
        xml_of(twilio_post(server, "/twilio/pin", {**leg, "Digits": "0000"}), "twilio pin"),
        "twilio wrong pin",
    )
    hindi("twilio wrong pin", [s.get("language") for s in root.iter("Say")])
    root = check_twiml(
        xml_of(twilio_post(server, "/twilio/pin", {**leg, "Digits": "482913"}), "twilio pin"),
        "twilio right pin",
    )
    numbers = [n.text for n in root.iter("Number")]
    check(numbers == [CUSTOMER], f"twilio: dials {numbers}")


def plivo_pin_call(server):
    leg = {
        "CallUUID": str(uuid.uuid4()),
        "From": COURIER.lstrip("+"),
        "To": NUMBERS["plivo"].lstrip("+"),
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "Event": "StartApp",
    }
    root = check_plivo(xml_of(plivo_post(server, "/plivo/answer", leg), "plivo answer"), "plivo answer")
    hindi("plivo answer", [s.get("language") for s in root.iter("Speak")])
    check(
        all(g.get("log") == "false" for g in root.iter("GetInput")),
        "plivo: <GetInput log> is not false",
    )
    pin = {**leg, "Event": "Redirect", "InputType": "dtmf"}
    root = check_plivo(
        xml_of(plivo_post(server, "/plivo/pin", {**pin, "Digits": "0000"}), "plivo pin"),
        "plivo wrong pin",
    )
    hindi("plivo wrong pin", [s.get("language") for s in root.iter("Speak")])
    root = check_plivo(
        xml_of(plivo_post(server, "/plivo/pin", {**pin, "Digits": "739104"}), "plivo pin"),
        "plivo right pin",
    )
    numbers = [n.text for n in root.iter("Number")]
    check(numbers == [CUSTOMER.lstrip("+")] or numbers == [CUSTOMER], f"plivo: dials {numbers}")


def vonage_pin_call(server):
    call = {
        "uuid": str(uuid.uuid4()),
        "conversation_uuid": "CON-" + str(uuid.uuid4()),
        "from": COURIER.lstrip("+"),
        "to": NUMBERS["vonage"].lstrip("+"),
    }
    actions = check_ncco(json_of(vonage_get(server, "/vonage/answer", call), "vonage answer"), "vonage answer")
    hindi("vonage answer", [a.get("language") for a in actions if a["action"] == "talk"])
    event = {**call, "timed_out": False}
    actions = check_ncco(
        json_of(
            vonage_post(server, "/vonage/pin", {**event, "dtmf": {"digits": "0000", "timed_out": False}}),
            "vonage pin",
        ),
        "vonage wrong pin",
    )
    hindi("vonage wrong pin", [a.get("language") for a in actions if a["action"] == "talk"])
    actions = check_ncco(
        json_of(
            vonage_post(server, "/vonage/pin", {**event, "dtmf": {"digits": "604215", "timed_out": False}}),
            "vonage pin",
        ),
        "vonage right pin",
    )
    dialled = [e["number"] for a in actions if a["action"] == "connect" for e in a["endpoint"]]
    check(dialled == [CUSTOMER.lstrip("+")], f"vonage: dials {dialled}")


def twilio_booking_call(server):
    sid = "CA" + uuid.uuid4().hex
    leg = {
        "CallSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": RIDER,
        "To": NUMBERS["twilio"],
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    root = check_twiml(xml_of(twilio_post(server, "/twilio/voice", leg), "twilio booking"), "twilio booking")
    hindi("twilio consent", [s.get("language") for s in root.iter("Say")])
    dial = root.find("Dial")
    check(dial is not None, "twilio booking: no <Dial>")
    check(dial.get("record") == "record-from-answer-dual", f"twilio: record={dial.get('record')}")
    number = dial.find("Number")
    check(number.text == DRIVER, f"twilio booking dials {number.text}")
    whisper_url = number.get("url")
    check(whisper_url and whisper_url.startswith(PUBLIC), f"twilio: <Number url={whisper_url}>")
    child = {
        "CallSid": "CA" + uuid.uuid4().hex,
        "ParentCallSid": sid,
        "AccountSid": leg["AccountSid"],
        "From": NUMBERS["twilio"],
        "To": DRIVER,
        "CallStatus": "in-progress",
        "Direction": "outbound-dial",
    }
    path = whisper_url[len(PUBLIC):]
    root = check_twiml(xml_of(twilio_post(server, path, child), "twilio whisper"), "twilio whisper")
    said = [s.text for s in root.iter("Say")]
    check(len(said) == 2, f"twilio whisper: consent and whisper, got {said}")
    hindi("twilio whisper", [s.get("language") for s in root.iter("Say")])
    ended = {**leg, "CallStatus": "completed", "DialCallStatus": "completed", "DialCallDuration": "42"}
    status, _, _ = twilio_post(server, dial.get("action")[len(PUBLIC):], ended)
    check(status == 200, f"twilio dial action: {status}")
    url = f"https://api.twilio.com/2010-04-01/Accounts/{leg['AccountSid']}/Recordings/RE{uuid.uuid4().hex}"
    callback = {
        "AccountSid": leg["AccountSid"],
        "CallSid": sid,
        "RecordingSid": url.rsplit("/", 1)[1],
        "RecordingUrl": url,
        "RecordingStatus": "completed",
        "RecordingChannels": "2",
        "RecordingSource": "DialVerb",
    }
    status, _, _ = twilio_post(server, dial.get("recordingStatusCallback")[len(PUBLIC):], callback)
    check(status < 300, f"twilio recording callback: {status}")
    record = call_record(server, sid)
    check(record.get("recording_url") == url, f"twilio: the call log's recording_url is {record.get('recording_url')}")


def plivo_booking_call(server):
    call_uuid = str(uuid.uuid4())
    leg = {
        "CallUUID": call_uuid,
        "From": RIDER.lstrip("+"),
        "To": NUMBERS["plivo"].lstrip("+"),
        "CallStatus": "ringing",
        "Direction": "inbound",
        "Event": "StartApp",
    }
    root = check_plivo(xml_of(plivo_post(server, "/plivo/answer", leg), "plivo booking"), "plivo booking")
    hindi("plivo consent", [s.get("language") for s in root.iter("Speak")])
    record = root.find("Record")
    check(record is not None, "plivo booking: no <Record>")
    check(record.get("recordChannelType") == "stereo", "plivo: the recording is not two channels")
    dial = root.find("Dial")
    confirm = dial.get("confirmSound")
    check(confirm and confirm.startswith(PUBLIC), f"plivo: confirmSound={confirm}")
    parsed = urllib.parse.urlsplit(confirm)
    # Plivo signs the URL it fetches, query included (construct_post_url keeps it).
    path = parsed.path + "?" + parsed.query
    b_leg = {"CallUUID": str(uuid.uuid4()), "From": leg["To"], "To": DRIVER.lstrip("+")}
    root = check_plivo(xml_of(plivo_post(server, path, b_leg), "plivo whisper"), "plivo whisper")
    said = [s.text for s in root.iter("Speak")]
    check(len(said) == 2, f"plivo whisper: consent and whisper, got {said}")
    hindi("plivo whisper", [s.get("language") for s in root.iter("Speak")])
    url = f"https://media.plivo.com/v1/Account/MA0/Recording/{uuid.uuid4()}.mp3"
    recorded = {**leg, "Event": "Record", "RecordUrl": url, "RecordingID": "r1", "RecordingDuration": "30"}
    status, _, _ = plivo_post(server, record.get("action")[len(PUBLIC):], recorded)
    check(status == 200, f"plivo record action: {status}")
    log = call_record(server, call_uuid)
    check(log.get("recording_url") == url, f"plivo: the call log's recording_url is {log.get('recording_url')}")


def vonage_booking_call(server):
    call = {
        "uuid": str(uuid.uuid4()),
        "conversation_uuid": "CON-" + str(uuid.uuid4()),
        "from": RIDER.lstrip("+"),
        "to": NUMBERS["vonage"].lstrip("+"),
    }
    actions = check_ncco(json_of(vonage_get(server, "/vonage/answer", call), "vonage booking"), "vonage booking")
    hindi("vonage consent", [a.get("language") for a in actions if a["action"] == "talk"])
    record = [a for a in actions if a["action"] == "record"]
    check(record and record[0].get("split") == "conversation", f"vonage: record {record}")
    connect = [a for a in actions if a["action"] == "connect"][0]
    endpoint = connect["endpoint"][0]
    check(endpoint["number"] == DRIVER.lstrip("+"), f"vonage booking dials {endpoint['number']}")
    on_answer = endpoint.get("onAnswer", {}).get("url", "")
    check(on_answer.startswith(PUBLIC), f"vonage: onAnswer {on_answer}")
    parsed = urllib.parse.urlsplit(on_answer)
    params = dict(urllib.parse.parse_qsl(parsed.query))
    params.update({"uuid": str(uuid.uuid4()), "conversation_uuid": "CON-" + str(uuid.uuid4())})
    whisper = check_ncco(json_of(vonage_get(server, parsed.path, params), "vonage whisper"), "vonage whisper")
    hindi("vonage whisper", [a.get("language") for a in whisper if a["action"] == "talk"])
    url = f"https://api.nexmo.com/v1/files/{uuid.uuid4()}"
    event = {
        "start_time": "2026-01-01T12:00:00Z",
        "end_time": "2026-01-01T12:01:00Z",
        "recording_url": url,
        "recording_uuid": str(uuid.uuid4()),
        "size": 12345,
        "conversation_uuid": call["conversation_uuid"],
        "timestamp": "2026-01-01T12:01:01Z",
    }
    status, _, _ = vonage_post(server, record[0]["eventUrl"][0][len(PUBLIC):], event)
    check(status < 300, f"vonage record event: {status}")
    log = call_record(server, call["conversation_uuid"])
    check(log.get("recording_url") == url, f"vonage: the call log's recording_url is {log.get('recording_url')}")


def call_record(server, sid):
    calls = server.api("GET", "/calls?limit=100")["calls"]
    found = [c for c in calls if c.get("call_sid") == sid]
    check(found, f"no call {sid} in the call log")
    return found[0]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/pinbridge"
    try:
        self_test()
    except Mismatch as e:
        print(f"sdk-check: {e}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as workdir:
        server = Server(binary, workdir)
        try:
            for provider, number in NUMBERS.items():
                server.api("POST", "/virtual-numbers", {"number": number, "provider": provider, "language": "hi"})
            for order_id, pin, provider in [
                ("OD-T", "482913", "twilio"),
                ("OD-P", "739104", "plivo"),
                ("OD-V", "604215", "vonage"),
            ]:
                server.api(
                    "POST",
                    "/orders",
                    {
                        "order_id": order_id,
                        "customer_number": CUSTOMER,
                        "pin": pin,
                        "virtual_number": NUMBERS[provider],
                    },
                )
            twilio_pin_call(server)
            print("twilio: a Hindi PIN call, signed by twilio-python, answers valid TwiML")
            plivo_pin_call(server)
            print("plivo: a Hindi PIN call, signed by plivo-python, answers valid Plivo XML")
            vonage_pin_call(server)
            print("vonage: a Hindi PIN call, signed as vonage-jwt verifies, answers valid NCCO")
            for provider, number in NUMBERS.items():
                server.api(
                    "POST",
                    "/bookings",
                    {
                        "party_a": RIDER,
                        "party_b": DRIVER,
                        "reference": f"RIDE-{provider}-4242",
                        "virtual_number": number,
                        "record": True,
                        "whisper": True,
                        "language": "hi",
                    },
                )
            twilio_booking_call(server)
            print("twilio: a recorded, whispered Hindi booking: valid TwiML, recording URL in the call log")
            plivo_booking_call(server)
            print("plivo: a recorded, whispered Hindi booking: valid Plivo XML, recording URL in the call log")
            vonage_booking_call(server)
            print("vonage: a recorded, whispered Hindi booking: valid NCCO, recording URL in the call log")
        except Mismatch as e:
            print(f"sdk-check: {e}", file=sys.stderr)
            server.stop()
            with open(os.path.join(workdir, "server.log"), "rb") as log:
                sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            return 1
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
