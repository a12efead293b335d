// Request signing between a job and the job hook (section 2 of the contract), and the
// derivation of a job's key from a master key. Node's own `node:crypto` only.
//
// Version 2 (what this client sends, header `X-Job-Signature: v2`): HMAC-SHA256 over
// `time + "\n" + METHOD + "\n" + path + "\n" + hex(sha256(body))`, where an empty body
// hashes as the empty string. Version 1 (the seed's client): HMAC over the time alone.
// Secrets and messages are encoded as latin-1 before the HMAC, as the seed's client did.
import { createHash, createHmac } from "node:crypto";

export const HEADER_ID = "X-Job-Id";
export const HEADER_TIME = "X-Job-Time";
export const HEADER_HASH = "X-Job-Hash";
export const HEADER_SIGNATURE = "X-Job-Signature";
export const SIGNATURE_V2 = "v2";
const KEY_DOMAIN = "asyncaction.dev/job-key/v1";

/** Bytes of `text` as latin-1; refuses characters latin-1 cannot hold (as Python does). */
function latin1(text) {
  for (let i = 0; i < text.length; i += 1) {
    if (text.charCodeAt(i) > 0xff) {
      throw new RangeError(`not latin-1 encodable at position ${i}: ${JSON.stringify(text[i])}`);
    }
  }
  return Buffer.from(text, "latin1");
}

function toBytes(body) {
  if (body === undefined || body === null) return Buffer.alloc(0);
  return typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body);
}

/** Hex sha256 of the body; the empty body hashes as the empty string. */
export function bodyDigest(body) {
  const bytes = toBytes(body);
  return bytes.length ? createHash("sha256").update(bytes).digest("hex") : "";
}

function hmacHex(secret, message) {
  return createHmac("sha256", latin1(secret)).update(latin1(message)).digest("hex");
}

export function signV1(secret, time) {
  return hmacHex(secret, String(time));
}

export function v2Message(time, method, path, body) {
  return [String(time), method.toUpperCase(), path, bodyDigest(body)].join("\n");
}

export function signV2(secret, time, method, path, body) {
  return hmacHex(secret, v2Message(time, method, path, body));
}

/** The headers a version 2 client sends with one request. */
export function headersV2(jobId, secret, method, path, body, nowMs) {
  const time = String(nowMs);
  return {
    [HEADER_ID]: jobId,
    [HEADER_TIME]: time,
    [HEADER_HASH]: signV2(secret, time, method, path, body),
    [HEADER_SIGNATURE]: SIGNATURE_V2,
  };
}

/**
 * The job key of `attempt` of the action `namespace`/`uid` under `master` (what the
 * operator puts in JOB_SECRET_KEY and the hook derives): HMAC-SHA256 of the master's
 * UTF-8 bytes over a domain tag and the three values joined by NUL, as unpadded
 * URL-safe base64. Jobs never need it; a hook or a test written in Node does.
 */
export function deriveJobKey(master, namespace, uid, attempt) {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`attempts count from 1, not ${attempt}`);
  }
  const message = [KEY_DOMAIN, namespace, uid, String(attempt)].join("\0");
  return createHmac("sha256", Buffer.from(master, "utf8"))
    .update(Buffer.from(message, "utf8"))
    .digest("base64url");
}

/**
 * Milliseconds since the epoch, strictly increasing across calls. The hook accepts a
 * signature once: two identical requests signed in the same millisecond would carry the
 * same signature and the second would be refused as a replay, so every request takes its
 * time from a clock that never hands out the same millisecond twice.
 */
export function createSigningClock(wallMs = () => Date.now()) {
  let last = 0;
  return () => {
    last = Math.max(wallMs(), last + 1);
    return last;
  };
}

/** The process-wide clock every JobClient shares unless given its own. */
export const signingClock = createSigningClock();
