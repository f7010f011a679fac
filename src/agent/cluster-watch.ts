// Following the API server: one @kubernetes/client-node informer per resource (Services and
// EndpointSlices), as kube-proxy runs one shared informer per resource.
//
// What the informer (ListWatch) already does, and what this module adds:
// - It lists, then watches from the list's resourceVersion, and keeps the resourceVersion of every
//   event and BOOKMARK, so a watch that ends cleanly resumes where it stopped without a new list.
// - On 410 Gone (an ERROR event or a 410 status) it forgets the resourceVersion and lists again; the
//   new list is compared with its cache, so objects deleted meanwhile come out as delete events.
// - On any other error (server down, connection reset mid-stream, a failed list) it reports the
//   error and STOPS. Restarting it, with backoff, is up to us: start() resumes from the kept
//   resourceVersion when there is one and lists otherwise.
// - It says nothing about whether the server answers. Its cache keeps serving (and the periodic full
//   sync keeps succeeding) through an outage, so this module tracks since when each informer has
//   been failing: /healthz turns unhealthy once that lasts longer than a window.
import { setTimeout as sleep } from "node:timers/promises";
import {
  CoreV1Api,
  DiscoveryV1Api,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
  type ObjectCache,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Backoff, type BackoffOptions } from "./backoff.js";

/**
 * Reconnect delays. The cap is short so that the agent is back (listed, and healthy) within 5 s of
 * the API server's return: at most 3 s of waiting, and a list and a sync in the rest. Jitter still
 * spreads a DaemonSet's agents; a failed watch costs the server one cheap request.
 */
export const WATCH_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 3000, jitter: 0.2 };

/** How long stop() waits for a start in flight before giving up on it. */
const STOP_WAIT_MS = 2000;

/** Objects with this label belong to another proxy (kube-proxy skips them, and so do we). */
export const SERVICE_PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name";
/** Set by the EndpointSlice controller on the slices of headless Services, which no proxy programs. */
export const HEADLESS_LABEL = "service.kubernetes.io/headless";
/** kube-proxy's selector for both informers: the server filters out what is not ours. */
export const PROXY_LABEL_SELECTOR = `!${SERVICE_PROXY_NAME_LABEL},!${HEADLESS_LABEL}`;

export type Resource = "services" | "endpointslices";
export type WatchEventType = "add" | "update" | "delete";

export interface WatchEvent {
  resource: Resource;
  type: WatchEventType;
  object: KubernetesObject;
  /** When the event reached us (performance.now() ms): the start of its programming latency. */
  receivedAt: number;
}

export interface ClusterWatchHandlers {
  onEvent(e: WatchEvent): void;
  /** A list completed (the first one, or a relist after 410 or an outage). */
  onListed?(resource: Resource): void;
  /** The informer failed and will be restarted after `retryInMs`. */
  onError?(resource: Resource, err: unknown, retryInMs: number): void;
}

interface ResourceSpec {
  resource: Resource;
  path: string;
  list: (labelSelector: string) => Promise<KubernetesListObject<KubernetesObject>>;
}

function resourceSpecs(kc: KubeConfig): ResourceSpec[] {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  return [
    {
      resource: "services",
      path: "/api/v1/services",
      list: (labelSelector) => core.listServiceForAllNamespaces({ labelSelector }),
    },
    {
      resource: "endpointslices",
      path: "/apis/discovery.k8s.io/v1/endpointslices",
      list: (labelSelector) => discovery.listEndpointSliceForAllNamespaces({ labelSelector }),
    },
  ];
}

/** One informer, restarted with backoff whenever it stops on an error. */
class ResourceWatch {
  private readonly informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  private readonly backoff: Backoff;
  private readonly resource: Resource;
  private retryTimer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  private stopped = true;
  /** When the server stopped answering (performance.now() ms): the first failure since it last did. */
  failingSince: number | undefined;
  /** Failures so far: a start that saw none connected. */
  private failures = 0;
  /** A list has completed at least once: the cache holds the whole (selected) collection. */
  listed = false;

  constructor(
    spec: ResourceSpec,
    kc: KubeConfig,
    private readonly handlers: ClusterWatchHandlers,
    private readonly log: Logger,
    backoff: BackoffOptions,
  ) {
    this.backoff = new Backoff(backoff);
    const resource = (this.resource = spec.resource);
    const list = async () => {
      const result = await spec.list(PROXY_LABEL_SELECTOR);
      this.backoff.reset();
      this.failingSince = undefined;
      // The informer compares the list with its cache and emits the events after this returns, in
      // microtasks; setImmediate runs after them.
      setImmediate(() => {
        this.listed = true;
        this.log.debug({ resource, resourceVersion: result.metadata?.resourceVersion }, "listed");
        handlers.onListed?.(resource);
      });
      return result;
    };
    this.informer = makeInformer(kc, spec.path, list, PROXY_LABEL_SELECTOR);
    const emit = (type: WatchEventType) => (object: KubernetesObject) => {
      this.backoff.reset();
      this.failingSince = undefined;
      handlers.onEvent({ resource, type, object, receivedAt: performance.now() });
    };
    this.informer.on("add", emit("add"));
    this.informer.on("update", emit("update"));
    this.informer.on("delete", emit("delete"));
    this.informer.on("error", (err: unknown) => this.restartLater(resource, err));
  }

  start(): void {
    this.stopped = false;
    this.startNow();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.informer.stop();
    // A start in flight (listing) opens its watch after the list even when stopped meanwhile:
    // wait for it, then stop again to close that watch.
    if (this.starting) {
      // Bounded: a list the server never answers must not hold up SIGTERM.
      await Promise.race([this.starting, sleep(STOP_WAIT_MS, undefined, { ref: false })]);
      await this.informer.stop();
    }
  }

  private startNow(): void {
    const failures = this.failures;
    const starting: Promise<void> = this.informer
      .start()
      .then(() => {
        // start() returns once the watch request is answered, and a failure is reported before it
        // returns: none means the server answered (a resumed watch has no list to say so).
        if (this.failures === failures) this.failingSince = undefined;
      })
      .catch((err: unknown) => this.restartLater(this.resource, err))
      .finally(() => {
        if (this.starting === starting) this.starting = undefined;
      });
    this.starting = starting;
  }

  private restartLater(resource: Resource, err: unknown): void {
    if (this.stopped) return; // stop() aborts the watch, which reports an AbortError: not a failure
    clearTimeout(this.retryTimer);
    this.failures++;
    this.failingSince ??= performance.now();
    const delay = this.backoff.next();
    this.log.warn({ resource, err: errorText(err), retryInMs: delay }, "watch failed; restarting");
    this.handlers.onError?.(resource, err, delay);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.startNow();
    }, delay);
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === "string" ? err : JSON.stringify(err);
}

/** Both informers, with the kube-proxy label selector. */
export class ClusterWatch {
  private readonly watches: ResourceWatch[];

  constructor(kc: KubeConfig, handlers: ClusterWatchHandlers, log: Logger, backoff = WATCH_BACKOFF) {
    this.watches = resourceSpecs(kc).map((spec) => new ResourceWatch(spec, kc, handlers, log, backoff));
  }

  start(): void {
    for (const w of this.watches) w.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.watches.map((w) => w.stop()));
  }

  /** How long the API server has failed to answer (either informer), in ms; 0 while it answers. */
  unreachableForMs(now = performance.now()): number {
    return Math.max(0, ...this.watches.map((w) => (w.failingSince === undefined ? 0 : now - w.failingSince)));
  }

  /** Both resources have been listed at least once. */
  get listed(): boolean {
    return this.watches.every((w) => w.listed);
  }
}
