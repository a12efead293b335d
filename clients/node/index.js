// The job side of the AsyncAction job hook contract, for Node.js 18+ with no dependency:
// Node's own fetch and node:crypto.
//
//   import { action, report, succeed } from "@asyncaction/job";
//   const { request } = await action();
//   await report({ progress: 50, details: { step: "resize" }, logs: ["half way"] });
//   await succeed({ width: 128 });
//
// Requests are signed with version 2 from a strictly increasing millisecond clock.
// Connection errors and 5xx (503 NOT_READY, RESTARTED, STORE_UNAVAILABLE) are retried with
// capped exponential backoff and jitter, each retry freshly signed; 429 waits what its
// Retry-After says; a 421 naming another hook replica is followed; a 401 REPLAYED is
// signed afresh and sent again at once (see `call`); other 4xx throw a HookError at once.
// Uploads to S3 are retried the same way.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

import { headersV2, signingClock } from "./signing.js";

export { headersV2, signingClock } from "./signing.js";

const CHUNK = 1024 * 1024;
/** The longest pause, in milliseconds, before a request refused as a replay is signed again. */
const REPLAYED_JITTER_MS = 5;

/** The hook (or S3) refused a request, or could not be reached (status 0). */
export class HookError extends Error {
  constructor(status, reason, message, { hook = null, retryAfter = null } = {}) {
    super(`${status} ${reason}: ${message}`);
    this.name = "HookError";
    this.status = status;
    this.reason = reason;
    this.detail = message;
    this.hook = hook; // 421: the base URL of the replica serving the action
    this.retryAfter = retryAfter; // 429: seconds the hook asked to wait
  }
}

/** Only http(s): a file: or other scheme from a misconfigured hook is refused. */
function httpUrl(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new HookError(0, "BAD_URL", `not a URL: ${String(url).slice(0, 100)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new HookError(0, "BAD_URL", `not an http(s) URL: ${String(url).slice(0, 100)}`);
  }
  return url;
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), or null. */
export function retryAfterSeconds(value, nowMs = Date.now()) {
  if (value === null || value === undefined || value === "") return null;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text);
  const when = Date.parse(text);
  return Number.isNaN(when) ? null : Math.max(0, (when - nowMs) / 1000);
}

async function hookError(response) {
  const text = await response.text().catch(() => "");
  const retryAfter = retryAfterSeconds(response.headers.get("retry-after"));
  try {
    const error = JSON.parse(text).error ?? {};
    const hook = typeof error.hook === "string" ? error.hook : null;
    return new HookError(response.status, String(error.reason ?? ""), String(error.message ?? ""), {
      hook,
      retryAfter,
    });
  } catch {
    return new HookError(response.status, "HTTP", response.statusText || text.slice(0, 200), {
      retryAfter,
    });
  }
}

function defaultSleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** md5 of the content and the challenge md5("WEBDA" + content), as the seed computes. */
export async function fileDigests(path) {
  const content = createHash("md5");
  const challenge = createHash("md5").update("WEBDA");
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK })) {
    content.update(chunk);
    challenge.update(chunk);
    size += chunk.length;
  }
  return { md5: content.digest("hex"), challenge: challenge.digest("hex"), size };
}

/** The file as a request body that fetch sends with its Content-Length. */
async function fileBody(path) {
  const fs = await import("node:fs");
  if (typeof fs.openAsBlob === "function") return fs.openAsBlob(path); // Node 19.8+: streamed
  return readFile(path); // Node 18: in memory
}

/** Download failures worth another GET. */
const RETRIED_DOWNLOADS = new Set(["DOWNLOAD_FAILED", "CORRUPT"]);

/** Refusals of a task's end that say the task is another pod's now, or excluded. */
const NOT_OURS = new Set(["TASK_NOT_LEASED", "TASK_EXCLUDED"]);

/** `body` with the lease's try, when there is one (an older hook answers none). */
function withTry(body, tryNumber) {
  return tryNumber === undefined || tryNumber === null ? body : { ...body, try: tryNumber };
}

export class JobClient {
  constructor({
    jobId,
    secret,
    hook,
    retry = {},
    timeoutMs = 30_000,
    transferTimeoutMs = 3_600_000,
    clock = signingClock,
    sleep = defaultSleep,
  }) {
    if (!jobId || !secret || !hook) throw new TypeError("jobId, secret and hook are required");
    this.jobId = jobId;
    this.secret = secret;
    this.hook = httpUrl(hook).replace(/\/+$/, "");
    // terminalMs: terminal reports (succeed, fail, a task's end) are retried past
    // `attempts` until this much time was spent waiting: the contract retries them until
    // acknowledged, and a hook that restarts for a minute must not lose a finished job.
    this.retry = { attempts: 6, baseDelayMs: 500, maxDelayMs: 10_000, terminalMs: 600_000, ...retry };
    this.timeoutMs = timeoutMs; // one hook request
    this.transferTimeoutMs = transferTimeoutMs; // one whole S3 download or upload
    this.clock = clock;
    this.sleep = sleep;
  }

  /** A client from the job's environment (JOB_ID, JOB_SECRET_KEY, JOB_HOOK). */
  static fromEnv(env = process.env) {
    const missing = ["JOB_ID", "JOB_SECRET_KEY", "JOB_HOOK"].filter((name) => !env[name]);
    if (missing.length) {
      throw new Error(`${missing.join(", ")} not set: is this running as an AsyncAction job?`);
    }
    return new JobClient({ jobId: env.JOB_ID, secret: env.JOB_SECRET_KEY, hook: env.JOB_HOOK });
  }

  /** Milliseconds to wait before retry number `attempt` (from 0), with jitter. */
  backoff(attempt) {
    const capped = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** attempt);
    return capped * (0.5 + Math.random() / 2);
  }

  /**
   * One signed request to the hook, retried as the contract says; the JSON answer.
   *
   * A 401 REPLAYED means the hook had already accepted this very signature, and this
   * process never signs two requests alike (signingClock): another pod of the same
   * attempt, sharing its key, signed the same method, path and body in the same
   * millisecond (two workers leasing GET /task at once). The hook refused this request
   * without acting on it, so it is signed again with a later time, after a pause of a few
   * milliseconds that takes the pods out of step.
   */
  async call(method, route, payload, { terminal = false } = {}) {
    const body = payload === undefined ? "" : JSON.stringify(payload);
    const budgetMs = terminal ? this.retry.terminalMs : 0;
    let last;
    let waitedMs = 0; // time spent in pauses: what a terminal report's budget counts
    for (let attempt = 0; ; attempt += 1) {
      const url = this.hook + route;
      const headers = headersV2(this.jobId, this.secret, method, new URL(url).pathname, body, this.clock());
      if (body) headers["Content-Type"] = "application/json";
      let wait = null;
      try {
        const response = await fetch(url, {
          method,
          headers,
          body: body || undefined,
          signal: AbortSignal.timeout(this.timeoutMs),
          // The hook never redirects: a 3xx is an answer, not a hop. (Not "error": with it,
          // fetch's own once-more on a 421 fails with a body length mismatch.)
          redirect: "manual",
        });
        if (response.ok) {
          const text = await response.text();
          return text ? JSON.parse(text) : null;
        }
        const error = await hookError(response);
        last = error;
        const moved =
          response.status === 421 && error.hook && httpUrl(error.hook).replace(/\/+$/, "") !== this.hook;
        const replayed = response.status === 401 && error.reason === "REPLAYED";
        if (moved) this.hook = error.hook.replace(/\/+$/, ""); // the replica serving this action now
        if (replayed) await this.sleep(Math.random() * REPLAYED_JITTER_MS);
        if (moved || replayed) {
          if (attempt + 1 < this.retry.attempts) continue; // at once; past them, after a pause
        } else if (response.status === 429 || response.status === 503) {
          wait = error.retryAfter === null ? null : error.retryAfter * 1000;
        } else if (response.status < 500) {
          throw error;
        }
      } catch (exc) {
        if (exc instanceof HookError) throw exc;
        last = new HookError(0, "UNREACHABLE", `${url}: ${exc?.cause?.code ?? exc?.message ?? exc}`);
      }
      if (attempt + 1 >= this.retry.attempts && waitedMs >= budgetMs) throw last;
      const pause = wait ?? this.backoff(Math.min(attempt, 16));
      await this.sleep(pause);
      waitedMs += pause;
    }
  }

  /** The action: {id, name, namespace, request, arguments, attempt}. */
  action() {
    return this.call("GET", "/action");
  }

  /** Progress (0-100), statusDetails and log lines; the action's public view. */
  report({ progress, details, logs } = {}) {
    const payload = {};
    if (progress !== undefined && progress !== null) payload.progress = progress;
    if (details !== undefined && details !== null) payload.statusDetails = details;
    if (logs && logs.length) payload.logs = logs;
    return this.call("POST", "/status", payload);
  }

  /** Log lines only (each up to 2000 characters). */
  log(...lines) {
    return this.report({ logs: lines.map(String) });
  }

  /** Ends the action SUCCEEDED with its result. */
  succeed(result = {}) {
    return this.call("POST", "/status", { status: "SUCCEEDED", result }, { terminal: true });
  }

  /** Ends this attempt FAILED (retried while spec.backoffLimit allows). */
  fail(message) {
    return this.call("POST", "/status", { status: "FAILED", errorMessage: String(message) }, { terminal: true });
  }

  /** Where an input object is: {Location: presigned URL, Map: {hash, size, ...}}. */
  locate(name, { index = 0, store = "default" } = {}) {
    const parts = [store, this.jobId, name, String(index)].map(encodeURIComponent);
    return this.call("GET", `/download/${parts.join("/")}`);
  }

  /** Downloads input `name` to `dest` (md5 checked against the hook's record); its path. */
  async download(name, dest, { index = 0, store = "default" } = {}) {
    const answer = await this.locate(name, { index, store });
    await mkdir(dirname(dest), { recursive: true });
    let last;
    for (let attempt = 0; attempt < this.retry.attempts; attempt += 1) {
      let wait = null;
      try {
        return await this.#get(name, answer, dest);
      } catch (exc) {
        // BAD_URL is final; CORRUPT (a short or wrong body) is retried: the next GET may pass
        if (exc instanceof HookError && !RETRIED_DOWNLOADS.has(exc.reason)) throw exc;
        if (exc instanceof HookError) {
          last = exc;
          if (exc.status === 429 || exc.status === 503) {
            wait = exc.retryAfter === null ? null : exc.retryAfter * 1000;
          } else if (exc.status !== 0 && exc.status < 500) {
            throw exc;
          }
        } else {
          last = new HookError(0, "DOWNLOAD_FAILED", `S3 unreachable: ${exc?.cause?.code ?? exc?.message ?? exc}`);
        }
      }
      if (attempt + 1 < this.retry.attempts) await this.sleep(wait ?? this.backoff(attempt));
    }
    throw last;
  }

  /** One presigned GET into a partial file beside `dest`, checked, then renamed; nothing
   * is left behind when it fails (retried by `download`). */
  async #get(name, answer, dest) {
    const partial = join(dirname(dest), `.${basename(dest)}.${process.pid}.part`);
    const digest = createHash("md5");
    const response = await fetch(httpUrl(answer.Location), {
      signal: AbortSignal.timeout(this.transferTimeoutMs),
    });
    if (!response.ok) {
      const retryAfter = retryAfterSeconds(response.headers.get("retry-after"));
      throw new HookError(response.status, "DOWNLOAD_FAILED", (await response.text()).slice(0, 300), { retryAfter });
    }
    const handle = await open(partial, "w");
    let size = 0;
    try {
      for await (const chunk of response.body) {
        digest.update(chunk);
        size += chunk.length;
        await handle.write(chunk);
      }
    } catch (exc) {
      await handle.close();
      await rm(partial, { force: true });
      throw exc;
    }
    await handle.close();
    // Checked: the sizes announced (a body cut short may end like a whole one), and the
    // md5 when Map.hash is one: an object uploaded in parts has an ETag "<hex>-<parts>",
    // no md5 of the content. A mismatch is retried by `download` (status 0).
    const got = digest.digest("hex");
    const expected = String(answer.Map?.hash ?? "");
    const announced = response.headers.get("content-length");
    let problem = "";
    if (announced !== null && Number(announced) !== size) problem = `${size} of the ${announced} bytes announced`;
    else if (Number.isInteger(answer.Map?.size) && answer.Map.size !== size) problem = `${size} bytes, not the ${answer.Map.size} the hook found`;
    else if (/^[0-9a-f]{32}$/.test(expected) && got !== expected) problem = `md5 ${got} != ${expected}`;
    if (problem) {
      await rm(partial, { force: true });
      throw new HookError(0, "CORRUPT", `${name}: ${problem}`);
    }
    await rename(partial, dest);
    return dest;
  }

  /**
   * Uploads the file at `path` as output `name`: announces its md5 and the challenge
   * md5("WEBDA" + content), then PUTs it to the presigned URL. False when the hook
   * already holds this content (nothing sent).
   */
  async upload(name, path, { store = "default", metadata = {} } = {}) {
    const { md5, challenge, size } = await fileDigests(path);
    const route = `/upload/${[store, this.jobId, name].map(encodeURIComponent).join("/")}`;
    const answer = await this.call("PUT", route, { hash: md5, challenge, metadata });
    if (answer?.done) return false;
    if ((await stat(path)).size !== size) throw new HookError(0, "CHANGED", `${path} changed while uploading`);
    let last;
    for (let attempt = 0; attempt < this.retry.attempts; attempt += 1) {
      let wait = null;
      try {
        const response = await fetch(httpUrl(answer.url), {
          method: answer.method ?? "PUT",
          headers: answer.headers ?? {},
          body: await fileBody(path),
          signal: AbortSignal.timeout(this.transferTimeoutMs),
        });
        if (response.ok) {
          await response.arrayBuffer();
          return true;
        }
        const text = (await response.text()).slice(0, 300);
        last = new HookError(response.status, "UPLOAD_FAILED", text);
        if (response.status === 429) {
          const seconds = retryAfterSeconds(response.headers.get("retry-after"));
          wait = seconds === null ? null : seconds * 1000;
        } else if (response.status < 500) {
          throw last;
        }
      } catch (exc) {
        if (exc instanceof HookError) throw exc;
        last = new HookError(0, "UPLOAD_FAILED", `S3 unreachable: ${exc?.cause?.code ?? exc?.message ?? exc}`);
      }
      if (attempt + 1 < this.retry.attempts) await this.sleep(wait ?? this.backoff(attempt));
    }
    throw last;
  }

  /**
   * The next task leased to this pod {id, name, parameters, inputs, leaseSeconds, try};
   * null when every task is settled (204); {retryAfter} (no `id`) while other pods
   * hold the last leases: wait that many seconds and ask again.
   */
  nextTask() {
    return this.call("GET", "/task");
  }

  /**
   * Task `id` done, with its result. `try` is the lease's (`task.try`): a report of a
   * lease that lapsed (another pod runs the task now) is then refused with 409, and the
   * same end sent again by its try is answered as the first was.
   */
  completeTask(id, result = {}, { try: tryNumber } = {}) {
    return this.call("POST", `/task/${encodeURIComponent(id)}`, withTry({ status: "done", result }, tryNumber), {
      terminal: true,
    });
  }

  /** Task `id` failed, with the reason (`try` as for `completeTask`). */
  failTask(id, message, { try: tryNumber } = {}) {
    return this.call(
      "POST",
      `/task/${encodeURIComponent(id)}`,
      withTry({ status: "failed", errorMessage: String(message) }, tryNumber),
      { terminal: true },
    );
  }

  /** Downloads input `index` of task `id` (`task.inputs[index]`) to `dest`, md5 checked. */
  downloadTaskInput(id, index, dest, { store = "default" } = {}) {
    return this.download(`task-${id}`, dest, { index, store });
  }

  /** Keeps the lease of task `id` while it runs (`try` as for `completeTask`). */
  renewTask(id, { try: tryNumber } = {}) {
    return this.call("POST", `/task/${encodeURIComponent(id)}`, withTry({ status: "executing" }, tryNumber));
  }

  /**
   * Takes tasks until none is left: `handler(task)` returns the task's result (or throws
   * to fail it); the lease is renewed every half lease while it runs. Counts of tasks
   * this pod finished, {done, failed}.
   */
  async runTasks(handler) {
    const counts = { done: 0, failed: 0 };
    for (;;) {
      const task = await this.nextTask();
      if (!task) break; // 204: every task is settled
      if (task.id === undefined) {
        // 202: other pods hold the last leases; wait, ready to take over one that lapses
        await this.sleep(Math.max(0.2, Number(task.retryAfter ?? 1)) * 1000);
        continue;
      }
      const lease = { try: task.try };
      const every = Math.max(1, Number(task.leaseSeconds ?? 60)) * 500;
      const renewal = setInterval(() => {
        // A missed renewal is retried at the next tick; the lease outlasts two of them.
        this.renewTask(task.id, lease).catch((exc) => console.warn(`renewing task ${task.id}: ${exc.message}`));
      }, every);
      let outcome;
      try {
        outcome = { result: (await handler(task)) ?? {} };
      } catch (exc) {
        outcome = { error: exc instanceof Error ? exc.message : String(exc) };
      } finally {
        clearInterval(renewal);
      }
      try {
        if ("result" in outcome) {
          await this.completeTask(task.id, outcome.result, lease);
          counts.done += 1;
        } else {
          await this.failTask(task.id, outcome.error, lease);
          counts.failed += 1;
        }
      } catch (exc) {
        // The task is no longer this pod's: its lease lapsed and another pod runs it
        // (whose end counts), or it was excluded. Not this pod's failure: go on.
        if (!(exc instanceof HookError && exc.status === 409 && NOT_OURS.has(exc.reason))) throw exc;
        console.warn(`task ${task.id}: not reported, ${exc.message}`);
      }
    }
    return counts;
  }
}

let defaultClient = null;

/** The client of this job, from its environment (made on first use). */
export function client() {
  defaultClient ??= JobClient.fromEnv();
  return defaultClient;
}

export const action = () => client().action();
export const report = (update) => client().report(update);
export const log = (...lines) => client().log(...lines);
export const succeed = (result) => client().succeed(result);
export const fail = (message) => client().fail(message);
export const download = (name, dest, options) => client().download(name, dest, options);
export const upload = (name, path, options) => client().upload(name, path, options);
export const runTasks = (handler) => client().runTasks(handler);
