// The shared known-answer vectors (tests/vectors/signing.json) hold for the Node client:
// the same keys and signatures as the Python code that the hook verifies with.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  bodyDigest,
  createSigningClock,
  deriveJobKey,
  headersV2,
  signV1,
  signV2,
  v2Message,
} from "../signing.js";

const vectors = JSON.parse(
  readFileSync(new URL("../../../tests/vectors/signing.json", import.meta.url), "utf8"),
);

test("the vectors file has every section, none empty", () => {
  for (const section of ["keyDerivation", "signatureV1", "signatureV2"]) {
    assert.ok(vectors[section].length > 0, section);
  }
});

test("job keys derive as the operator issues them", () => {
  for (const v of vectors.keyDerivation) {
    assert.equal(deriveJobKey(v.master, v.namespace, v.uid, v.attempt), v.key, JSON.stringify(v));
  }
  assert.throws(() => deriveJobKey("m".repeat(32), "ns", "uid", 0), RangeError);
});

test("signature v1 over the time alone", () => {
  for (const v of vectors.signatureV1) {
    assert.equal(signV1(v.secret, v.time), v.signature, JSON.stringify(v));
  }
});

test("signature v2 over time, method, path and body digest", () => {
  for (const v of vectors.signatureV2) {
    assert.equal(bodyDigest(v.body), v.bodySha256, JSON.stringify(v));
    assert.equal(v2Message(v.time, v.method, v.path, v.body), v.message, JSON.stringify(v));
    assert.equal(signV2(v.secret, v.time, v.method, v.path, v.body), v.signature, JSON.stringify(v));
    assert.equal(
      signV2(v.secret, v.time, v.method, v.path, Buffer.from(v.body, "utf8")),
      v.signature,
      "bytes sign as the same string",
    );
  }
});

test("v2 headers carry id, time, signature and version", () => {
  const v = vectors.signatureV2[0];
  assert.deepEqual(headersV2("job-1", v.secret, v.method, v.path, v.body, Number(v.time)), {
    "X-Job-Id": "job-1",
    "X-Job-Time": v.time,
    "X-Job-Hash": v.signature,
    "X-Job-Signature": "v2",
  });
});

test("a secret latin-1 cannot encode is refused, not silently truncated", () => {
  assert.throws(() => signV1("price€", "1"), RangeError);
});

test("the signing clock never repeats a millisecond, even when the wall clock stalls or steps back", () => {
  const walls = [1000, 1000, 1000, 999, 500, 2000, 2000];
  const clock = createSigningClock(() => walls.shift());
  assert.deepEqual(
    Array.from({ length: 7 }, () => clock()),
    [1000, 1001, 1002, 1003, 1004, 2000, 2001],
  );
});
