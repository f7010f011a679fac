// The agent's parts on their own: reading maps back into tables (adoption), the cluster state's
// per-Service index and validation, durations, backoff, and the status endpoint.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Backoff } from "../src/agent/backoff.js";
import { ClusterState } from "../src/agent/cluster-state.js";
import type { Resource, WatchEventType } from "../src/agent/cluster-watch.js";
import { parseDuration } from "../src/agent/duration.js";
import { parseHostPort, serveStatus } from "../src/agent/http.js";
import { ORPHANS_ID, tablesFromMaps } from "../src/agent/map-contents.js";
import { AgentMetrics } from "../src/agent/metrics.js";
import { Compiler, compile } from "../src/compile/compiler.js";
import type { KubernetesObject } from "@kubernetes/client-node";
import { contentsOfTables } from "./helpers/agent-maps.js";
import { ips, slice, svc } from "./helpers/agent-objects.js";
import { nodeConfig, threeServicePorts } from "./helpers/model-factory.js";

const quiet = pino({ level: "silent" });
const node = nodeConfig();

describe("tablesFromMaps: the maps read back as the model's tables", () => {
  const ports = threeServicePorts();

  it("round-trips: a Compiler built from them keeps every id and has nothing to write", () => {
    const tables = compile({ ports }, node);
    const read = tablesFromMaps(contentsOfTables(tables), ports, node);
    assert.deepEqual([...read.services.keys()].sort(), [...tables.services.keys()].sort());
    for (const [id, t] of tables.services) {
      const r = read.services.get(id)!;
      const byId = <T extends { id: number }>(l: T[]) => [...l].sort((a, b) => a.id - b.id);
      assert.deepEqual(byId(r.backends), byId(t.backends), `${id} backends (the terminating one too)`);
      assert.deepEqual(byId(r.revNat), byId(t.revNat));
      assert.deepEqual(r.sourceRanges, t.sourceRanges);
    }
    const c = new Compiler(node, read);
    assert.deepEqual(c.update(ports, []), []);
  });

  it("gathers rows of services the model no longer has as orphans, which the diff deletes", () => {
    const tables = compile({ ports }, node);
    const kept = ports.slice(0, 1);
    const read = tablesFromMaps(contentsOfTables(tables), kept, node);
    const orphans = read.services.get(ORPHANS_ID);
    assert.ok(orphans);
    assert.ok(orphans.frontends.some((f) => f.key.address === "203.0.113.7"));
    const c = new Compiler(node, read);
    const ops = c.update(kept, [ORPHANS_ID]);
    assert.ok(ops.some((o) => o.kind === "master-delete"));
    assert.ok(ops.some((o) => o.kind === "source-range-delete"));
    assert.deepEqual([...c.tables.services.keys()], [kept[0]!.id]);
  });
});

describe("ClusterState", () => {
  const event = (resource: Resource, type: WatchEventType, object: object) => ({
    resource,
    type,
    object: object as KubernetesObject,
    receivedAt: 0,
  });

  it("maps each event to the Services it touches, including a slice that moves", () => {
    const s = new ClusterState(quiet);
    assert.deepEqual(s.apply(event("services", "add", svc("web", "10.96.0.10"))).services, ["shop/web"]);
    assert.deepEqual(s.apply(event("endpointslices", "add", slice("s1", "web", ips(2)))).services, [
      "shop/web",
    ]);
    assert.equal(s.ports("shop/web")[0]?.endpoints.length, 2);
    const moved = s.apply(event("endpointslices", "update", slice("s1", "api", ips(2))));
    assert.deepEqual(moved.services.sort(), ["shop/api", "shop/web"]);
    assert.equal(s.ports("shop/web")[0]?.endpoints.length, 0);
    assert.deepEqual(s.apply(event("services", "delete", svc("web", "10.96.0.10"))).services, ["shop/web"]);
    assert.deepEqual(s.ports("shop/web"), []);
  });

  it("skips an invalid object with its issues and keeps the last valid version", () => {
    const s = new ClusterState(quiet);
    s.apply(event("services", "add", svc("web", "10.96.0.10")));
    const bad = s.apply(event("services", "update", svc("web", "300.1.1.1")));
    assert.deepEqual(bad.services, []);
    assert.equal(bad.issues[0]?.field, "spec.clusterIP");
    assert.equal(bad.issues[0]?.object, "shop/web");
    assert.equal(s.ports("shop/web")[0]?.clusterIP, "10.96.0.10");
  });

  it("treats an object that gains the service-proxy-name label as deleted", () => {
    const s = new ClusterState(quiet);
    s.apply(event("services", "add", svc("web", "10.96.0.10")));
    const labelled = svc("web", "10.96.0.10", {
      labels: { "service.kubernetes.io/service-proxy-name": "x" },
    });
    assert.deepEqual(s.apply(event("services", "update", labelled)).services, ["shop/web"]);
    assert.deepEqual(s.serviceKeys(), []);
  });
});

describe("durations, backoff, --metrics-addr", () => {
  it("parses kube-proxy style durations and names the flag on a bad one", () => {
    assert.equal(parseDuration("0", "--x"), 0);
    assert.equal(parseDuration("250ms", "--x"), 250);
    assert.equal(parseDuration("1m30s", "--x"), 90_000);
    assert.throws(() => parseDuration("5 sec", "--min-sync-period"), /--min-sync-period expects a duration/);
  });

  it("doubles up to the cap, with jitter below the base, and starts over after reset", () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5 }, () => 1);
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [50, 100, 200, 400, 500]);
    b.reset();
    assert.equal(b.next(), 50);
  });

  it("reads HOST:PORT and refuses anything else", () => {
    assert.deepEqual(parseHostPort("0.0.0.0:10262"), { host: "0.0.0.0", port: 10262 });
    assert.deepEqual(parseHostPort("[::1]:9"), { host: "::1", port: 9 });
    assert.throws(() => parseHostPort("10262"), /--metrics-addr expects HOST:PORT/);
  });

  it("serves /healthz from the health callback and /metrics from the registry", async () => {
    const metrics = new AgentMetrics();
    metrics.setSources({
      entries: () => ({ lb4_services: 3 }),
      capacity: () => ({ lb4_services: 65536 }),
      datapathCounters: () => ({ verdicts: { PASS: 7 }, reasons: { NO_BACKEND: 2 } }),
    });
    let healthy = false;
    const status = await serveStatus("127.0.0.1:0", metrics, () => ({ healthy, reason: "test" }));
    try {
      const get = (path: string) => fetch(`http://${status.address}${path}`);
      assert.equal((await get("/healthz")).status, 503);
      healthy = true;
      assert.equal((await get("/healthz")).status, 200);
      const text = await (await get("/metrics")).text();
      assert.match(text, /maplb_map_entries\{map="lb4_services"\} 3/);
      assert.match(text, /maplb_map_capacity\{map="lb4_services"\} 65536/);
      assert.match(text, /maplb_datapath_verdicts_total\{verdict="PASS"\} 7/);
      assert.match(text, /maplb_datapath_reasons_total\{reason="NO_BACKEND"\} 2/);
    } finally {
      await status.close();
    }
  });
});
