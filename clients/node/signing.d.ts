/** Request signing between a job and the job hook, and job key derivation. */
export declare const HEADER_ID: "X-Job-Id";
export declare const HEADER_TIME: "X-Job-Time";
export declare const HEADER_HASH: "X-Job-Hash";
export declare const HEADER_SIGNATURE: "X-Job-Signature";
export declare const SIGNATURE_V2: "v2";

export type Body = string | Uint8Array | null | undefined;

/** Hex sha256 of the body; the empty body hashes as the empty string. */
export declare function bodyDigest(body: Body): string;
/** Version 1: HMAC-SHA256 over the time string alone (the seed's client). */
export declare function signV1(secret: string, time: string | number): string;
/** `time + "\n" + METHOD + "\n" + path + "\n" + hex(sha256(body))`. */
export declare function v2Message(time: string | number, method: string, path: string, body: Body): string;
/** Version 2: HMAC-SHA256 over {@link v2Message}, lower-case hex. */
export declare function signV2(secret: string, time: string | number, method: string, path: string, body: Body): string;
/** The four headers of a version 2 request. */
export declare function headersV2(
  jobId: string, secret: string, method: string, path: string, body: Body, nowMs: number,
): Record<string, string>;
/** The job key of one attempt of an action, as the operator issues it. */
export declare function deriveJobKey(master: string, namespace: string, uid: string, attempt: number): string;
/** A clock of milliseconds that never returns the same value twice. */
export declare function createSigningClock(wallMs?: () => number): () => number;
/** The process-wide signing clock. */
export declare const signingClock: () => number;
