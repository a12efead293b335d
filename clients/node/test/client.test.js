// The job client against a local hook and S3 played by node:http servers: the requests
// it sends (signed v2, bodies as the contract says) and what it does with each answer
// (421 followed, 503 retried, 429 honoured, other 4xx thrown, md5 checked).
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { HookError, JobClient, retryAfterSeconds } from "../index.js";
import { createSigningClock } from "../signing.js";

const SECRET = "job-secret-of-this-attempt";
const JOB = "0b6a1f2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b";

/**
 * A server that answers with `respond(request, bodyText)` -> {status, json?, text?,
 * headers?}. Every request is recorded with whether its v2 signature verifies, checked
 * here with node:crypto directly (not with the client's own signing code).
 */
async function server(respond) {
  const seen = [];
  const http = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const raw = Buffer.concat(chunks);
    const body = raw.toString("utf8");
    const digest = raw.length ? createHash("sha256").update(raw).digest("hex") : "";
    const path = new URL(req.url, "http://x").pathname;
    const message = [req.headers["x-job-time"], req.method, path, digest].join("\n");
    const expected = createHmac("sha256", Buffer.from(SECRET, "latin1")).update(message).digest("hex");
    seen.push({
      method: req.method,
      path,
      headers: req.headers,
      body,
      raw,
      signed: req.headers["x-job-hash"] === expected && req.headers["x-job-signature"] === "v2",
    });
    const answer = (await respond(req, body, seen.length)) ?? { status: 200, json: {} };
    res.writeHead(answer.status, {
      ...(answer.json !== undefined ? { "content-type": "application/json" } : {}),
      ...(answer.headers ?? {}),
    });
    res.end(answer.json !== undefined ? JSON.stringify(answer.json) : (answer.text ?? ""));
  });
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  const url = `http://127.0.0.1:${http.address().port}`;
  return { url, seen, close: () => new Promise((resolve) => http.close(resolve)) };
}

function clientOf(url, extra = {}) {
  const sleeps = [];
  const client = new JobClient({
    jobId: JOB,
    secret: SECRET,
    hook: `${url}/hook/`,
    retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 2 },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...extra,
  });
  return { client, sleeps };
}

const refusal = (status, reason, extra = {}) => ({
  status,
  json: { error: { reason, message: `${reason} message`, ...extra } },
});

test("every report is signed v2 over the path as sent and carries the contract's fields", async (t) => {
  const hook = await server((req) =>
    req.url.endsWith("/action")
      ? { status: 200, json: { id: JOB, name: "a", namespace: "ns", request: { n: 21 }, arguments: {}, attempt: 1 } }
      : { status: 200, json: { phase: "RUNNING" } },
  );
  t.after(hook.close);
  const { client } = clientOf(hook.url);
  assert.deepEqual((await client.action()).request, { n: 21 });
  await client.report({ progress: 50, details: { step: "half" }, logs: ["one", "two"] });
  await client.report({ progress: 60 });
  await client.log("just a line");
  await client.succeed({ doubled: 42 });
  await client.fail("out of memory");
  assert.deepEqual(
    hook.seen.map((r) => [r.method, r.path, r.body ? JSON.parse(r.body) : null, r.signed, r.headers["x-job-id"]]),
    [
      ["GET", "/hook/action", null, true, JOB],
      ["POST", "/hook/status", { progress: 50, statusDetails: { step: "half" }, logs: ["one", "two"] }, true, JOB],
      ["POST", "/hook/status", { progress: 60 }, true, JOB],
      ["POST", "/hook/status", { logs: ["just a line"] }, true, JOB],
      ["POST", "/hook/status", { status: "SUCCEEDED", result: { doubled: 42 } }, true, JOB],
      ["POST", "/hook/status", { status: "FAILED", errorMessage: "out of memory" }, true, JOB],
    ],
  );
  const times = hook.seen.map((r) => Number(r.headers["x-job-time"]));
  assert.deepEqual(times, [...times].sort((a, b) => a - b));
  assert.equal(new Set(times).size, times.length, "no millisecond twice");
  assert.equal(hook.seen[1].headers["content-type"], "application/json");
});

test("503 is retried, each retry freshly signed, after the backoff", async (t) => {
  const hook = await server((_req, _body, n) => (n < 3 ? refusal(503, "NOT_READY") : { status: 200, json: { ok: 1 } }));
  t.after(hook.close);
  const { client, sleeps } = clientOf(hook.url);
  assert.deepEqual(await client.report({ progress: 1 }), { ok: 1 });
  assert.equal(hook.seen.length, 3);
  assert.equal(new Set(hook.seen.map((r) => r.headers["x-job-hash"])).size, 3);
  assert.ok(hook.seen.every((r) => r.signed));
  assert.equal(sleeps.length, 2);
  assert.ok(sleeps.every((ms) => ms > 0 && ms <= 2), String(sleeps));
});

test("503 every time ends in the last HookError once the attempts are spent", async (t) => {
  const hook = await server(() => refusal(503, "STORE_UNAVAILABLE"));
  t.after(hook.close);
  const { client, sleeps } = clientOf(hook.url);
  await assert.rejects(client.report({ progress: 1 }), (e) => e instanceof HookError && e.status === 503 && e.reason === "STORE_UNAVAILABLE");
  assert.equal(hook.seen.length, 4);
  assert.equal(sleeps.length, 3);
});

test("a terminal report is retried past the attempts, for retry.terminalMs of pauses", async (t) => {
  // Terminal reports went through the same few tries as progress: a hook answering 503
  // for longer (a restart, a cache sync) lost a finished job's SUCCEEDED.
  const hook = await server(() => refusal(503, "NOT_READY"));
  t.after(hook.close);
  const { client, sleeps } = clientOf(hook.url, {
    retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 2, terminalMs: 40 },
  });
  await assert.rejects(client.succeed({}), (e) => e instanceof HookError && e.status === 503 && e.reason === "NOT_READY");
  const waited = sleeps.reduce((a, b) => a + b, 0);
  assert.ok(sleeps.length > 4, String(sleeps.length));
  assert.ok(waited >= 40 && waited < 44, String(waited));
  assert.equal(hook.seen.length, sleeps.length + 1);
});

test("two pods signing GET /task in the same millisecond: the refused one signs again and is served", async (t) => {
  // The hook's rule: a signature is accepted once (401 REPLAYED after that).
  const accepted = new Set();
  const hook = await server((req) => {
    const signature = req.headers["x-job-hash"];
    if (accepted.has(signature)) return refusal(401, "REPLAYED");
    accepted.add(signature);
    return { status: 200, json: { id: `t-${accepted.size}` } };
  });
  t.after(hook.close);
  const sameMs = () => 1_700_000_000_000;
  const pods = [0, 1].map(() => clientOf(hook.url, { clock: createSigningClock(sameMs) }));
  assert.deepEqual(await pods[0].client.call("GET", "/task"), { id: "t-1" });
  assert.deepEqual(await pods[1].client.call("GET", "/task"), { id: "t-2" });
  const hashes = hook.seen.map((r) => r.headers["x-job-hash"]);
  assert.equal(hashes.length, 3);
  assert.equal(hashes[0], hashes[1]);
  assert.notEqual(hashes[1], hashes[2]);
  assert.equal(pods[1].sleeps.length, 1);
  assert.ok(pods[1].sleeps[0] >= 0 && pods[1].sleeps[0] <= 5, String(pods[1].sleeps));
});

test("a replay refused every time ends in the refusal once the attempts are spent", async (t) => {
  const hook = await server(() => refusal(401, "REPLAYED"));
  t.after(hook.close);
  const { client } = clientOf(hook.url);
  await assert.rejects(client.call("GET", "/task"), (e) => e instanceof HookError && e.status === 401 && e.reason === "REPLAYED");
  assert.equal(hook.seen.length, 4);
});

test("429 waits what Retry-After says before trying again", async (t) => {
  const hook = await server((_req, _body, n) =>
    n === 1 ? { ...refusal(429, "RATE_LIMITED"), headers: { "retry-after": "7" } } : { status: 200, json: {} },
  );
  t.after(hook.close);
  const { client, sleeps } = clientOf(hook.url);
  await client.report({ progress: 5 });
  assert.deepEqual(sleeps, [7000]);
  assert.equal(hook.seen.length, 2);
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  assert.equal(retryAfterSeconds("12"), 12);
  assert.equal(retryAfterSeconds("Wed, 21 Oct 2015 07:28:10 GMT", Date.parse("Wed, 21 Oct 2015 07:28:00 GMT")), 10);
  assert.equal(retryAfterSeconds(null), null);
  assert.equal(retryAfterSeconds("soon"), null);
});

test("421 naming another replica is followed, and that replica is kept", async (t) => {
  const replica = await server(() => ({ status: 200, json: { served: "b" } }));
  t.after(replica.close);
  const first = await server(() => refusal(421, "MISDIRECTED", { hook: `${replica.url}/hook` }));
  t.after(first.close);
  const { client, sleeps } = clientOf(first.url);
  assert.deepEqual(await client.report({ progress: 10 }), { served: "b" });
  assert.deepEqual(await client.report({ progress: 20 }), { served: "b" });
  // fetch itself sends a request answered 421 once more on a new connection (the fetch
  // standard); the client signed one request for that replica.
  assert.equal(new Set(first.seen.map((r) => r.headers["x-job-hash"])).size, 1);
  assert.deepEqual(replica.seen.map((r) => [r.path, r.signed]), [["/hook/status", true], ["/hook/status", true]]);
  assert.equal(client.hook, `${replica.url}/hook`);
  assert.deepEqual(sleeps, []);
});

test("a 421 that names no usable replica, and any other 4xx, throws at once", async (t) => {
  const hook = await server((req) =>
    req.url.endsWith("/status") ? refusal(409, "ACTION_COMPLETED") : refusal(421, "MISDIRECTED", { hook: "file:///etc/passwd" }),
  );
  t.after(hook.close);
  const { client, sleeps } = clientOf(hook.url);
  await assert.rejects(client.succeed({}), (e) => e.status === 409 && e.reason === "ACTION_COMPLETED" && e.detail === "ACTION_COMPLETED message");
  await assert.rejects(client.action(), (e) => e.status === 0 && e.reason === "BAD_URL");
  assert.equal(new Set(hook.seen.map((r) => r.headers["x-job-hash"])).size, 2);
  assert.deepEqual(sleeps, []);
});

test("an unreachable hook is retried, then reported as status 0 UNREACHABLE", async (t) => {
  const gone = await server(() => ({ status: 200, json: {} }));
  await gone.close();
  const { client, sleeps } = clientOf(gone.url);
  await assert.rejects(client.report({ progress: 1 }), (e) => e.status === 0 && e.reason === "UNREACHABLE");
  assert.equal(sleeps.length, 3);
});

test("download checks the md5 the hook recorded and leaves no file when it differs", async (t) => {
  const content = Buffer.from("to be or not to be\n".repeat(1000));
  const md5 = createHash("md5").update(content).digest("hex");
  const s3 = await server(() => ({ status: 200, text: content.toString() }));
  t.after(s3.close);
  const hook = await server((req) => ({
    status: 200,
    json: { Location: `${s3.url}/bucket/in.txt?sig=1`, Map: { hash: req.url.endsWith("/1") ? "0".repeat(32) : md5, size: content.length } },
  }));
  t.after(hook.close);
  const dir = await mkdtemp(join(tmpdir(), "aa-node-"));
  const { client } = clientOf(hook.url);
  const dest = join(dir, "sub", "in.txt");
  assert.equal(await client.download("text", dest), dest);
  assert.deepEqual(await readFile(dest), content);
  assert.deepEqual(hook.seen.map((r) => [r.method, r.path, r.signed]), [["GET", `/hook/download/default/${JOB}/text/0`, true]]);
  await assert.rejects(client.download("text", join(dir, "bad.txt"), { index: 1 }), (e) => e.reason === "CORRUPT");
  assert.deepEqual((await readdir(dir)).sort(), ["sub"]);
});

test("a multipart ETag is no md5, and a body of the wrong size is retried", async (t) => {
  // found by a review: every input uploaded in parts (aws s3 cp over 8 MiB) failed as
  // CORRUPT against its "<hex>-<parts>" ETag
  const content = Buffer.from("part of a larger whole\n".repeat(500));
  let gets = 0;
  const s3 = await server(() => {
    gets += 1;
    return { status: 200, text: (gets === 1 ? content.subarray(0, 100) : content).toString() };
  });
  t.after(s3.close);
  const hook = await server(() => ({
    status: 200,
    json: { Location: `${s3.url}/bucket/in.txt`, Map: { hash: "d52b304a9983640644d42c0e7cead1b0-2", size: content.length } },
  }));
  t.after(hook.close);
  const dir = await mkdtemp(join(tmpdir(), "aa-node-"));
  const { client, sleeps } = clientOf(hook.url);
  const dest = join(dir, "in.txt");
  assert.equal(await client.download("text", dest), dest);
  assert.deepEqual(await readFile(dest), content);
  assert.equal(gets, 2, "the short body, then the whole one");
  assert.equal(sleeps.length, 1);
});

test("a download is retried like an upload and leaves no partial file", async (t) => {
  // The presigned GET had no retry: one 503 of S3 (SlowDown) failed the job's input.
  const content = Buffer.from("input\n");
  let gets = 0;
  const s3 = await server(() => {
    gets += 1;
    return gets <= 2 ? { status: 503, text: "<Error><Code>SlowDown</Code></Error>" } : { status: 200, text: content.toString() };
  });
  t.after(s3.close);
  const hook = await server(() => ({ status: 200, json: { Location: `${s3.url}/bucket/in.txt`, Map: {} } }));
  t.after(hook.close);
  const dir = await mkdtemp(join(tmpdir(), "aa-node-"));
  const { client, sleeps } = clientOf(hook.url);
  assert.equal(await client.download("text", join(dir, "in.txt")), join(dir, "in.txt"));
  assert.deepEqual(await readFile(join(dir, "in.txt")), content);
  assert.equal(gets, 3);
  assert.equal(sleeps.length, 2);
  gets = -10; // S3 answers 503 from now on
  await assert.rejects(client.download("text", join(dir, "again.txt")), (e) => e.status === 503 && e.reason === "DOWNLOAD_FAILED");
  assert.deepEqual((await readdir(dir)).sort(), ["in.txt"]);
});

test("upload announces md5 and the WEBDA challenge, then PUTs with the presigned headers", async (t) => {
  const content = Buffer.from("hello output\n");
  let s3Calls = 0;
  const s3 = await server(() => {
    s3Calls += 1;
    return s3Calls === 1 ? { status: 503, text: "SlowDown" } : { status: 200, text: "" };
  });
  t.after(s3.close);
  const announced = [];
  const hook = await server((_req, body) => {
    announced.push(JSON.parse(body));
    return announced.length === 1
      ? { status: 200, json: { done: false, method: "PUT", url: `${s3.url}/bucket/out.txt?sig=1`, headers: { "Content-MD5": "x" } } }
      : { status: 200, json: { done: true } };
  });
  t.after(hook.close);
  const dir = await mkdtemp(join(tmpdir(), "aa-node-"));
  const path = join(dir, "out.txt");
  await writeFile(path, content);
  const { client, sleeps } = clientOf(hook.url);
  assert.equal(await client.upload("result", path, { metadata: { kind: "text" } }), true);
  const md5 = createHash("md5").update(content).digest("hex");
  const challenge = createHash("md5").update(Buffer.concat([Buffer.from("WEBDA"), content])).digest("hex");
  assert.deepEqual(announced[0], { hash: md5, challenge, metadata: { kind: "text" } });
  assert.deepEqual(hook.seen.map((r) => [r.method, r.path, r.signed]), [["PUT", `/hook/upload/default/${JOB}/result`, true]]);
  assert.equal(s3.seen.length, 2);
  const put = s3.seen[1];
  assert.deepEqual([put.method, put.path, put.headers["content-md5"], put.headers["content-length"]], ["PUT", "/bucket/out.txt", "x", String(content.length)]);
  assert.deepEqual(put.raw, content);
  assert.equal(sleeps.length, 1);
  assert.equal(await client.upload("result", path), false, "the same content again: nothing sent");
  assert.equal(s3.seen.length, 2);
});

test("runTasks takes tasks until 204, reporting each result or failure", async (t) => {
  const queue = [
    { id: "t1", name: "first", parameters: { n: 2 }, leaseSeconds: 30 },
    { id: "t2", name: "second", parameters: { n: -1 }, leaseSeconds: 30 },
  ];
  const hook = await server((req) => {
    if (req.method === "GET") {
      const task = queue.shift();
      return task ? { status: 200, json: task } : { status: 204 };
    }
    return { status: 200, json: {} };
  });
  t.after(hook.close);
  const { client } = clientOf(hook.url);
  const counts = await client.runTasks(async (task) => {
    if (task.parameters.n < 0) throw new Error("negative");
    return { squared: task.parameters.n ** 2 };
  });
  assert.deepEqual(counts, { done: 1, failed: 1 });
  assert.deepEqual(
    hook.seen.map((r) => [r.method, r.path, r.body ? JSON.parse(r.body) : null, r.signed]),
    [
      ["GET", "/hook/task", null, true],
      ["POST", "/hook/task/t1", { status: "done", result: { squared: 4 } }, true],
      ["GET", "/hook/task", null, true],
      ["POST", "/hook/task/t2", { status: "failed", errorMessage: "negative" }, true],
      ["GET", "/hook/task", null, true],
    ],
  );
});

test("runTasks waits on 202, sends each lease's try, and goes on when a task is no longer its", async (t) => {
  // found by a review: a 202 {retryAfter} was taken for a task (the handler ran on it,
  // then POST /task/undefined got 404 and the worker exited 1); a 409 for an end whose
  // lease had lapsed (another pod runs the task) also ended the worker
  const answers = [
    { status: 202, json: { retryAfter: 0.25 } },
    { status: 200, json: { id: "3", name: "late", parameters: {}, leaseSeconds: 30, try: 2 } },
    { status: 200, json: { id: "4", name: "lapsed", parameters: {}, leaseSeconds: 30, try: 1 } },
    { status: 204 },
  ];
  const hook = await server((req, body) => {
    if (req.method === "GET") return answers.shift();
    if (JSON.parse(body).try === 1) {
      return { status: 409, json: { error: { reason: "TASK_NOT_LEASED", message: "task 4 is at try 2" } } };
    }
    return { status: 200, json: {} };
  });
  t.after(hook.close);
  const { client, sleeps } = clientOf(hook.url);
  const handled = [];
  const counts = await client.runTasks(async (task) => {
    handled.push(task.id);
    return { ok: true };
  });
  assert.deepEqual(handled, ["3", "4"]);
  assert.deepEqual(counts, { done: 1, failed: 0 });
  assert.deepEqual(sleeps, [250]);
  assert.deepEqual(
    hook.seen.map((r) => [r.method, r.path, r.body ? JSON.parse(r.body) : null]),
    [
      ["GET", "/hook/task", null],
      ["GET", "/hook/task", null],
      ["POST", "/hook/task/3", { status: "done", result: { ok: true }, try: 2 }],
      ["GET", "/hook/task", null],
      ["POST", "/hook/task/4", { status: "done", result: { ok: true }, try: 1 }],
      ["GET", "/hook/task", null],
    ],
  );
});

test("fromEnv names what is missing, and refuses a hook that is not http(s)", () => {
  assert.throws(() => JobClient.fromEnv({ JOB_ID: JOB }), /JOB_SECRET_KEY, JOB_HOOK not set/);
  assert.throws(
    () => JobClient.fromEnv({ JOB_ID: JOB, JOB_SECRET_KEY: "k", JOB_HOOK: "file:///tmp/x" }),
    (e) => e instanceof HookError && e.reason === "BAD_URL",
  );
  assert.equal(JobClient.fromEnv({ JOB_ID: JOB, JOB_SECRET_KEY: "k", JOB_HOOK: "http://h:8080/" }).hook, "http://h:8080");
});

test("a task's input is downloaded as the property task-<id>", async (t) => {
  const content = Buffer.from("task input\n");
  const md5 = createHash("md5").update(content).digest("hex");
  const s3 = await server(() => ({ status: 200, text: content.toString() }));
  t.after(s3.close);
  const hook = await server(() => ({ status: 200, json: { Location: `${s3.url}/bucket/t.txt`, Map: { hash: md5 } } }));
  t.after(hook.close);
  const dir = await mkdtemp(join(tmpdir(), "aa-node-"));
  const { client } = clientOf(hook.url);
  const dest = join(dir, "t.txt");
  assert.equal(await client.downloadTaskInput("7", 2, dest), dest);
  assert.deepEqual(await readFile(dest), content);
  assert.deepEqual(hook.seen.map((r) => [r.method, r.path]), [["GET", `/hook/download/default/${JOB}/task-7/2`]]);
});
