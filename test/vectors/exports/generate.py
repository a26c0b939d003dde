#!/usr/bin/env python3
"""Regenerates the export vectors from an implementation independent of the TypeScript code
(Python json + hashlib + pyca/cryptography). Run from this folder: python3 generate.py

JCS here is json.dumps(sort_keys, compact, ensure_ascii=False), which equals RFC 8785 for these
inputs: every member name is ASCII and every value a string or null."""
import base64, hashlib, json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

PAYLOAD_TYPE = "application/vnd.findings-ledger.orchestrator-export.v1+json"
# Test keys only. The first is RFC 8032 section 7.1 TEST 1.
KEYS = {
    "orchestrator-2025": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "airgap-importer": "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
}

def jcs(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()

def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)

def private_key(key_id: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(KEYS[key_id]))

def public_raw(key_id: str) -> bytes:
    return private_key(key_id).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

def public_pem(key_id: str) -> str:
    return private_key(key_id).public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

def sign(key_id: str, body: dict, url_safe: bool = False) -> str:
    raw = private_key(key_id).sign(pae(PAYLOAD_TYPE, jcs(body)))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") if url_safe else base64.b64encode(raw).decode()

def dsse_digest(body: dict, signatures: list) -> str | None:
    if not signatures:
        return None
    envelope = {"payload": base64.b64encode(jcs(body)).decode(), "payloadType": PAYLOAD_TYPE,
                "signatures": [{"keyid": s["keyId"], "sig": s["signature"]} for s in signatures]}
    return sha256(jcs(envelope))

def body(run_id: str, tenant: str, **extra) -> dict:
    artifact = "sha256:" + hashlib.sha256(b"artifact " + run_id.encode()).hexdigest()
    record = {"runId": run_id, "jobType": "scan", "artifactHash": artifact, "startedAt": "2025-03-01T10:00:00Z",
              "status": "succeeded", "manifestPath": "cas://manifests/" + artifact[7:], "logsPath": "dsse://logs/run-1",
              "tenantId": tenant, "idempotencyKey": sha256((run_id + artifact + tenant).encode("utf-8"))}
    record.update(extra)
    return record

def case(name: str, desc: str, record_body: dict, signatures: list, signatures_required: bool) -> None:
    record = dict(record_body)
    if signatures is not None:
        record["signatures"] = signatures
    want = {"ok": True, "contentHash": sha256(jcs(record_body)), "dsseDigest": dsse_digest(record_body, signatures or []),
            "idempotencyKey": record_body["idempotencyKey"], "canonicalPayload": jcs(record_body).decode("utf-8")}
    with open(f"cases/{name}.json", "w") as f:
        json.dump({"desc": desc, "signaturesRequired": signatures_required, "export": record, "want": want}, f, indent=2, ensure_ascii=True)
        f.write("\n")

keyring = {"keys": [
    {"keyId": "orchestrator-2025", "publicKey": base64.b64encode(public_raw("orchestrator-2025")).decode(), "status": "active"},
    {"keyId": "airgap-importer", "publicKey": public_pem("airgap-importer"), "status": "active", "tenants": ["tenant-a"]},
]}
with open("keyring.json", "w") as f:
    json.dump(keyring, f, indent=2); f.write("\n")
with open("keys.json", "w") as f:
    json.dump({"desc": "TEST KEYS ONLY: Ed25519 seeds behind keyring.json", "keys": [{"keyId": k, "seedHex": v} for k, v in KEYS.items()]}, f, indent=2); f.write("\n")

b1 = body("8f14e45f-ceea-467f-a8f5-0b1d3c6e2a11", "tenant-a", jobType="scan \u2013 \u00fcn\u00efc\u00f8de \U0001F600",
          policyHash=None, completedAt="2025-03-01T10:05:30.125Z", environment="prod", scanId=None)
case("signed-two-keys", "signed by two keys (raw base64 key and SPKI PEM key), non-ASCII jobType, null and absent optionals",
     b1, [{"type": "dsse", "keyId": "orchestrator-2025", "signature": sign("orchestrator-2025", b1)},
          {"type": "dsse", "keyId": "airgap-importer", "signature": sign("airgap-importer", b1)}], True)

b2 = body("C9BF9E57-1685-4C89-BAFB-FF5AF830BE8A", "tenant-b", policyHash="sha256:" + "AB" * 32, bundleId="bundle-7")
case("signed-url-safe-unpadded", "one signature in URL-safe base64 without padding; upper-case UUID and hex kept as given",
     b2, [{"type": "dsse", "keyId": "orchestrator-2025", "signature": sign("orchestrator-2025", b2, url_safe=True)}], True)

b3 = body("0b5c7d4e-2f1a-4c3b-9d8e-7f6a5b4c3d2e", "tenant-c", status="running", completedAt=None)
case("unsigned-allowed", "no signatures field while signatures are not required: dsseDigest is null", b3, None, False)
