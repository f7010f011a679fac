// Test helper: a local stand-in for kube-apiserver that speaks the list/watch protocol for Services and
// EndpointSlices, so the real @kubernetes/client-node informers can talk to it through a kubeconfig.
// It keeps a resourceVersion counter and an event history (watches resume from any resourceVersion
// still in it), filters by label selector (an object leaving the selector is a DELETED event, as the
// real server does), and injects the faults an agent must survive: bookmarks, a compacted history
// (410 Gone), watches cut in the middle of an event, and the whole server going down for a while.
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";

export type Resource = "services" | "endpointslices";
type EventType = "ADDED" | "MODIFIED" | "DELETED";
type Obj = Record<string, unknown> & { metadata: Record<string, unknown> };

const ROUTES: Record<string, { resource: Resource; apiVersion: string; kind: string }> = {
  "/api/v1/services": { resource: "services", apiVersion: "v1", kind: "Service" },
  "/apis/discovery.k8s.io/v1/endpointslices": {
    resource: "endpointslices",
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
  },
};

interface HistoryEvent {
  rv: number;
  resource: Resource;
  type: EventType;
  /** The object after the change (for DELETED: as it was, with the deletion's resourceVersion). */
  object: Obj;
  /** The object before the change, to tell selector transitions apart. */
  before: Obj | undefined;
}

interface Watcher {
  resource: Resource;
  selector: Selector;
  res: ServerResponse;
  /** Writes in flight when events are split (splitEvents). */
  queue: Promise<void>;
}

/** One request the server saw, for assertions ("did the client list again after the 410?"). */
export interface RequestRecord {
  resource: Resource;
  watch: boolean;
  resourceVersion: string | null;
  labelSelector: string | null;
}

type Selector = (labels: Record<string, string>) => boolean;

/** The label selector forms kube-proxy uses: `key`, `!key`, `key=value`, `key!=value`, comma-joined. */
function parseSelector(text: string | null): Selector {
  const terms = (text ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "")
    .map((t): Selector => {
      if (t.startsWith("!")) return (l) => !(t.slice(1) in l);
      const ne = t.indexOf("!=");
      if (ne >= 0) return (l) => l[t.slice(0, ne)] !== t.slice(ne + 2);
      const eq = t.indexOf("=");
      if (eq >= 0) return (l) => l[t.slice(0, eq)] === t.slice(eq + 1).replace(/^=/, "");
      return (l) => t in l;
    });
  return (labels) => terms.every((m) => m(labels));
}

const labelsOf = (o: Obj | undefined): Record<string, string> =>
  (o?.metadata.labels as Record<string, string> | undefined) ?? {};
const keyOf = (o: Obj) => `${String(o.metadata.namespace ?? "default")}/${String(o.metadata.name)}`;

export class FakeApiServer {
  private server: Server | undefined;
  private port = 0;
  private rv = 100;
  /** Watches asking for a resourceVersion below this get 410 Gone (the history was compacted). */
  private oldestRv = 100;
  private readonly objects: Record<Resource, Map<string, Obj>> = {
    services: new Map(),
    endpointslices: new Map(),
  };
  private readonly history: HistoryEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  /** Every list and watch request, in order. */
  readonly requests: RequestRecord[] = [];
  /** Sends every watch event as two chunks, 20 ms apart (events stay in order). */
  splitEvents = false;
  /** When set, list requests answer with this HTTP status instead (e.g. 500 to fail the relist). */
  failLists: number | null = null;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on an ephemeral port of 127.0.0.1 (or on the same port again after stop()). */
  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    server.listen(this.port, "127.0.0.1");
    await once(server, "listening");
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Goes down hard: every open watch is cut and new connections are refused until start(). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = once(server, "close");
    server.close();
    for (const s of this.sockets) s.destroy();
    this.watchers.clear();
    await closed;
  }

  /** A kubeconfig file pointing at this server; returns its path. */
  writeKubeconfig(dir: string): string {
    const path = join(dir, "kubeconfig");
    const config = {
      apiVersion: "v1",
      kind: "Config",
      // Plain HTTP on loopback: the client only allows it with TLS verification off.
      clusters: [{ name: "fake", cluster: { server: this.url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "agent", user: { token: "test-token" } }],
      contexts: [{ name: "fake", context: { cluster: "fake", user: "agent" } }],
      "current-context": "fake",
    };
    writeFileSync(path, JSON.stringify(config, null, 2));
    return path;
  }

  /** The objects of both resources a client with this label selector sees, with apiVersion and kind. */
  objectsMatching(labelSelector: string): object[] {
    const selector = parseSelector(labelSelector);
    return Object.values(ROUTES).flatMap((r) =>
      [...this.objects[r.resource].values()]
        .filter((o) => selector(labelsOf(o)))
        .map((o) => ({ ...structuredClone(o), apiVersion: r.apiVersion, kind: r.kind })),
    );
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  // Changing objects. Each change gets the next resourceVersion and goes to the open watches.

  /** Creates or replaces an object (kind decides the resource); returns its new resourceVersion. */
  apply(object: object): string {
    const o = structuredClone(object) as Obj;
    const resource = o.kind === "Service" ? "services" : "endpointslices";
    o.metadata = { namespace: "default", ...o.metadata };
    const before = this.objects[resource].get(keyOf(o));
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.uid ??= before?.metadata.uid ?? `uid-${this.rv}`;
    this.objects[resource].set(keyOf(o), o);
    this.record({ rv: this.rv, resource, type: before ? "MODIFIED" : "ADDED", object: o, before });
    return String(this.rv);
  }

  delete(resource: Resource, namespace: string, name: string): void {
    const before = this.objects[resource].get(`${namespace}/${name}`);
    if (!before) throw new Error(`fake apiserver: no ${resource} ${namespace}/${name}`);
    this.objects[resource].delete(keyOf(before));
    const object = structuredClone(before);
    object.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, resource, type: "DELETED", object, before });
  }

  // Faults.

  /** Sends a BOOKMARK (the current resourceVersion, no object change) on every open watch. */
  bookmark(): void {
    for (const w of this.watchers) this.send(w, "BOOKMARK", this.bookmarkObject(w.resource));
  }

  /** Compacts the history: open watches get a 410 ERROR event and end; older resourceVersions are gone. */
  expireHistory(): void {
    this.oldestRv = this.rv;
    this.history.length = 0;
    for (const w of [...this.watchers]) {
      this.send(w, "ERROR", this.goneStatus());
      this.endWatch(w);
    }
  }

  /** Cuts every open watch connection in the middle of an event line (a reset, not a clean end). */
  cutWatches(): void {
    for (const w of [...this.watchers]) {
      w.res.write('{"type":"MODIFIED","object":{"kind":"Serv');
      this.watchers.delete(w);
      w.res.socket?.destroy();
    }
  }

  /** Ends every open watch cleanly, as the real server does when a watch's timeout runs out. */
  endWatches(): void {
    for (const w of [...this.watchers]) this.endWatch(w);
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  // The protocol.

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    const route = ROUTES[url.pathname];
    if (req.method !== "GET" || !route) return this.status(res, 404, "NotFound", `no route ${url.pathname}`);
    const watch = url.searchParams.get("watch") === "true";
    const resourceVersion = url.searchParams.get("resourceVersion");
    const labelSelector = url.searchParams.get("labelSelector");
    this.requests.push({ resource: route.resource, watch, resourceVersion, labelSelector });
    const selector = parseSelector(labelSelector);
    if (!watch) return this.list(res, route, selector);
    const from = resourceVersion ? Number(resourceVersion) : NaN;
    if (Number.isNaN(from) || from < this.oldestRv) {
      // Like the real server: a 200 stream that carries one 410 ERROR event, then ends.
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ type: "ERROR", object: this.goneStatus() }) + "\n");
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    res.flushHeaders();
    const w: Watcher = { resource: route.resource, selector, res, queue: Promise.resolve() };
    this.watchers.add(w);
    res.on("close", () => this.watchers.delete(w));
    for (const e of this.history) if (e.rv > from && e.resource === w.resource) this.deliver(w, e);
  }

  private list(
    res: ServerResponse,
    route: { resource: Resource; apiVersion: string; kind: string },
    selector: Selector,
  ): void {
    if (this.failLists !== null) return this.status(res, this.failLists, "InternalError", "injected");
    const items = [...this.objects[route.resource].values()].filter((o) => selector(labelsOf(o)));
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        apiVersion: route.apiVersion,
        kind: `${route.kind}List`,
        metadata: { resourceVersion: String(this.rv) },
        items,
      }),
    );
  }

  private record(e: HistoryEvent): void {
    this.history.push(e);
    for (const w of this.watchers) if (w.resource === e.resource) this.deliver(w, e);
  }

  /** One history event as one watcher sees it through its label selector. */
  private deliver(w: Watcher, e: HistoryEvent): void {
    const wasIn = e.before !== undefined && w.selector(labelsOf(e.before));
    const isIn = e.type !== "DELETED" && w.selector(labelsOf(e.object));
    if (isIn) this.send(w, wasIn ? "MODIFIED" : "ADDED", e.object);
    else if (wasIn) this.send(w, "DELETED", e.object);
  }

  private send(w: Watcher, type: string, object: object): void {
    const route = Object.values(ROUTES).find((r) => r.resource === w.resource)!;
    const typed = type === "ERROR" ? object : { apiVersion: route.apiVersion, kind: route.kind, ...object };
    const line = JSON.stringify({ type, object: typed }) + "\n";
    if (!this.splitEvents) return void w.res.write(line);
    // Two chunks, the second a little later: the client must join them into one line. Queued, so
    // the next event waits for this one's second half.
    const half = Math.floor(line.length / 2);
    const write = (text: string) => void (w.res.writable && w.res.write(text));
    w.queue = w.queue.then(async () => {
      write(line.slice(0, half));
      await new Promise((r) => setTimeout(r, 20));
      write(line.slice(half));
    });
  }

  private endWatch(w: Watcher): void {
    this.watchers.delete(w);
    w.res.end();
  }

  private bookmarkObject(resource: Resource): object {
    const route = Object.values(ROUTES).find((r) => r.resource === resource)!;
    return { kind: route.kind, apiVersion: route.apiVersion, metadata: { resourceVersion: String(this.rv) } };
  }

  private goneStatus(): object {
    return {
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      message: `too old resource version (oldest is ${this.oldestRv})`,
      reason: "Expired",
      code: 410,
    };
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason, message, code }));
  }
}
