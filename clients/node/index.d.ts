/** The job side of the AsyncAction job hook contract (Node.js 18+, no dependencies). */
export { headersV2, signingClock } from "./signing.js";

/** The hook (or S3) refused a request, or could not be reached (status 0). */
export declare class HookError extends Error {
  constructor(status: number, reason: string, message: string, extra?: { hook?: string | null; retryAfter?: number | null });
  readonly status: number;
  /** The hook's reason, e.g. ACTION_COMPLETED, STALE_ATTEMPT, MISDIRECTED, UNREACHABLE. */
  readonly reason: string;
  /** The hook's message. */
  readonly detail: string;
  /** 421: the base URL of the hook replica serving the action. */
  readonly hook: string | null;
  /** 429: the seconds the hook asked to wait. */
  readonly retryAfter: number | null;
}

export interface RetryOptions {
  /** Requests in all, the first included (default 6). */
  attempts?: number;
  /** First backoff, doubled each retry, with jitter (default 500). */
  baseDelayMs?: number;
  /** Longest backoff (default 10000). */
  maxDelayMs?: number;
  /** Terminal reports (succeed, fail, a task's end) go on past `attempts` until this
   * much time was spent in pauses (default 600000). */
  terminalMs?: number;
}

export interface JobClientOptions {
  jobId: string;
  secret: string;
  /** The hook's base URL (JOB_HOOK), http or https. */
  hook: string;
  retry?: RetryOptions;
  /** Timeout of one hook request (default 30000). */
  timeoutMs?: number;
  /** Timeout of one whole S3 download or upload (default 3600000). */
  transferTimeoutMs?: number;
  /** Milliseconds since the epoch, never the same twice (default: the shared clock). */
  clock?: () => number;
  /** How the client waits between retries (tests pass their own). */
  sleep?: (ms: number) => Promise<void>;
}

/** What `GET /action` answers. */
export interface ActionView {
  id: string;
  name: string;
  namespace: string;
  request: Record<string, unknown>;
  arguments: Record<string, unknown>;
  attempt: number;
  [key: string]: unknown;
}

export interface StatusUpdate {
  /** 0 to 100. */
  progress?: number;
  /** Free-form details shown with the action (up to 32 KiB). */
  details?: Record<string, unknown>;
  /** Log lines (each up to 2000 characters). */
  logs?: string[];
}

/** What `GET /download/...` answers. */
export interface Location {
  Location: string;
  Map: { hash?: string; size?: number; [key: string]: unknown };
}

/** A task leased to this pod by `GET /task`. */
export interface Task {
  id: string;
  name?: string;
  parameters?: Record<string, unknown>;
  inputs?: Record<string, unknown>;
  leaseSeconds?: number;
  /** The lease's try (1 for the first); reports of the task send it. */
  try?: number;
}

export interface ObjectOptions {
  /** The object's position among the argument's objects (default 0). */
  index?: number;
  /** The configured S3 store (default "default"). */
  store?: string;
}

export interface UploadOptions {
  store?: string;
  metadata?: Record<string, unknown>;
}

/** Seconds from a Retry-After header value (delta-seconds or an HTTP date), or null. */
export declare function retryAfterSeconds(value: string | null | undefined, nowMs?: number): number | null;
/** md5 of the file, the challenge md5("WEBDA" + content) and its size. */
export declare function fileDigests(path: string): Promise<{ md5: string; challenge: string; size: number }>;

export declare class JobClient {
  constructor(options: JobClientOptions);
  /** From JOB_ID, JOB_SECRET_KEY and JOB_HOOK. */
  static fromEnv(env?: Record<string, string | undefined>): JobClient;
  readonly jobId: string;
  /** The hook base URL in use (changes when a 421 names another replica). */
  hook: string;
  /** One signed request, retried as the contract says; the JSON answer (null when empty). */
  call(method: string, route: string, payload?: unknown, options?: { terminal?: boolean }): Promise<unknown>;
  action(): Promise<ActionView>;
  report(update?: StatusUpdate): Promise<Record<string, unknown>>;
  log(...lines: string[]): Promise<Record<string, unknown>>;
  succeed(result?: Record<string, unknown>): Promise<Record<string, unknown>>;
  fail(message: string): Promise<Record<string, unknown>>;
  locate(name: string, options?: ObjectOptions): Promise<Location>;
  /** Downloads an input to `dest`, md5 checked; resolves to `dest`. */
  download(name: string, dest: string, options?: ObjectOptions): Promise<string>;
  /** Uploads a file as an output; false when the hook already holds this content. */
  upload(name: string, path: string, options?: UploadOptions): Promise<boolean>;
  /** A leased task; null when every task is settled; {retryAfter} (no id) while other pods hold the last leases. */
  nextTask(): Promise<Task | { retryAfter: number } | null>;
  /** `try`: the lease's (`task.try`), so a report of a lapsed lease is refused. */
  completeTask(id: string, result?: Record<string, unknown>, lease?: { try?: number }): Promise<unknown>;
  failTask(id: string, message: string, lease?: { try?: number }): Promise<unknown>;
  renewTask(id: string, lease?: { try?: number }): Promise<unknown>;
  /** Downloads input `index` of task `id` to `dest`, md5 checked; resolves to `dest`. */
  downloadTaskInput(id: string, index: number, dest: string, options?: { store?: string }): Promise<string>;
  /** Takes tasks until none is left; the handler's value is the task's result, a throw fails it. */
  runTasks(handler: (task: Task) => Promise<Record<string, unknown> | void> | Record<string, unknown> | void): Promise<{ done: number; failed: number }>;
}

/** The client of this job, from its environment (made on first use). */
export declare function client(): JobClient;
export declare function action(): Promise<ActionView>;
export declare function report(update?: StatusUpdate): Promise<Record<string, unknown>>;
export declare function log(...lines: string[]): Promise<Record<string, unknown>>;
export declare function succeed(result?: Record<string, unknown>): Promise<Record<string, unknown>>;
export declare function fail(message: string): Promise<Record<string, unknown>>;
export declare function download(name: string, dest: string, options?: ObjectOptions): Promise<string>;
export declare function upload(name: string, path: string, options?: UploadOptions): Promise<boolean>;
export declare function runTasks(handler: (task: Task) => Promise<Record<string, unknown> | void> | Record<string, unknown> | void): Promise<{ done: number; failed: number }>;
