// The node agent against a fake API server, through the real @kubernetes/client-node informers, into
// the emulated datapath (and the kernel one, as root): following changes, healing after each injected
// fault, adopting maps. Each test starts its own server, datapath and agent; afterEach takes them down.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { readManifests } from "../src/k8s/documents.js";
import { ANNOTATION_MAGLEV_SIZE } from "../src/k8s/service.js";
import { SERVICE_PROXY_NAME_LABEL } from "../src/agent/cluster-watch.js";
import { kernelUnavailableReason } from "../src/datapath/kernel.js";
import { buildFrame, parseFrame } from "../src/datapath/packet.js";
import { AgentHarness, eventually, sleep } from "./helpers/agent-harness.js";
import { ips, slice, svc } from "./helpers/agent-objects.js";
import { SCENARIOS } from "./helpers/manifests.js";
import { dualStackNode } from "./helpers/model-factory.js";
import { kernelSkip } from "./helpers/require-kernel.js";

const TEST_TIMEOUT = { timeout: 30_000 };
let h: AgentHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Frontend `address:port/TCP` → its slots' backends. */
function slotsOf(view: { frontends: Record<string, { slots: string[] }> }): Record<string, string[]> {
  return Object.fromEntries(Object.entries(view.frontends).map(([k, f]) => [k, f.slots]));
}

const lists = (h: AgentHarness) => h.server.requests.filter((r) => !r.watch).length;

const noKernel = kernelUnavailableReason();
/** What the dual-stack test reads and changes of the example's objects. */
type ManifestObject = {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  endpoints?: object[];
};
const DUAL_STACK_EXAMPLE = new URL("../../examples/dual-stack-lb.yaml", import.meta.url).pathname;

describe("agent: following the API server", () => {
  for (const datapath of ["emulated", "kernel"] as const)
    it(
      `${datapath}: programs a seed scenario, then scaling and deleting, service by service`,
      {
        ...TEST_TIMEOUT,
        skip: datapath === "kernel" ? kernelSkip(noKernel) : false,
      },
      async () => {
        h = await AgentHarness.start({ datapath });
        for (const { object } of readManifests([`${SCENARIOS}/seed-003-eks-services.yaml`]))
          h.server.apply(object as object);
        let view = await h.converged();
        assert.equal(view.frontends["172.20.107.173:80/TCP"]?.slots.length, 5);

        h.server.apply(svc("web", "10.96.0.10"));
        h.server.apply(slice("web-1", "web", ips(2)));
        view = await h.converged();
        assert.deepEqual(view.frontends["10.96.0.10:80/TCP"]?.slots, ["10.0.1.1:8080", "10.0.1.2:8080"]);

        h.server.apply(slice("web-1", "web", ips(5))); // scale up
        h.server.apply(slice("web-2", "web", ips(2, 2))); // a second slice
        view = await h.converged();
        assert.equal(view.frontends["10.96.0.10:80/TCP"]?.slots.length, 7);

        h.server.apply(slice("web-1", "web", ips(1))); // scale down
        h.server.delete("endpointslices", "shop", "web-2");
        view = await h.converged();
        assert.deepEqual(view.frontends["10.96.0.10:80/TCP"]?.slots, ["10.0.1.1:8080"]);

        h.server.delete("services", "shop", "web");
        view = await h.converged();
        assert.equal(view.frontends["10.96.0.10:80/TCP"], undefined);
        assert.ok(
          !view.backends.some((b) => b.startsWith("10.0.1.1:")),
          "the deleted service's backends are gone",
        );
        // Still the list of the start only: every change came through the watch.
        assert.equal(lists(h), 2);
      },
    );

  it(
    "leaves objects labelled service-proxy-name to their proxy, and takes them when the label goes",
    TEST_TIMEOUT,
    async () => {
      h = await AgentHarness.start();
      const other = { [SERVICE_PROXY_NAME_LABEL]: "other-proxy" };
      h.server.apply(svc("web", "10.96.0.10", { labels: other }));
      h.server.apply(slice("web-1", "web", ips(2)));
      h.server.apply(svc("api", "10.96.0.11"));
      let view = await h.converged();
      assert.deepEqual(Object.keys(view.frontends), ["10.96.0.11:80/TCP"]);
      assert.ok(h.server.requests.every((r) => r.labelSelector?.includes(`!${SERVICE_PROXY_NAME_LABEL}`)));

      h.server.apply(svc("web", "10.96.0.10")); // label removed: the server sends ADDED
      view = await h.converged();
      assert.deepEqual(slotsOf(view)["10.96.0.10:80/TCP"], ["10.0.1.1:8080", "10.0.1.2:8080"]);

      h.server.apply(svc("web", "10.96.0.10", { labels: other })); // label back: DELETED
      view = await h.converged();
      assert.equal(view.frontends["10.96.0.10:80/TCP"], undefined);
    },
  );

  it("batches changes that arrive within min-sync-period into one sync", TEST_TIMEOUT, async () => {
    h = await AgentHarness.start({ minSyncPeriodMs: 300 });
    h.server.apply(svc("web", "10.96.0.10"));
    await h.converged();
    await sleep(350); // quiet for longer than min-sync-period: the next change is written at once
    const latency = "maplb_network_programming_duration_seconds_sum";
    const before = await h.metric(latency);
    h.server.apply(slice("web-1", "web", ips(1)));
    await h.converged();
    const seconds = (await h.metric(latency)) - before;
    assert.ok(seconds < 0.25, `after a quiet spell the change waited ${seconds} s`);
    const syncsBefore = await h.metric("maplb_sync_duration_seconds_count");
    for (let i = 1; i <= 5; i++) h.server.apply(slice("web-1", "web", ips(i)));
    await h.converged();
    const syncs = (await h.metric("maplb_sync_duration_seconds_count")) - syncsBefore;
    assert.ok(syncs <= 2, `5 quick changes took ${syncs} syncs`);
  });
});

describe("agent: dual-stack Services", () => {
  for (const datapath of ["emulated", "kernel"] as const)
    it(
      `${datapath}: programs both halves, follows the IPv6 slice, drops the IPv6 half when the Service leaves it, and a restart adopts both`,
      { ...TEST_TIMEOUT, skip: datapath === "kernel" ? kernelSkip(noKernel) : false },
      async () => {
        h = await AgentHarness.start({ datapath, node: dualStackNode });
        // Maglev tables of 251 rows: reading 16381-row tables back for every check of the view took
        // seconds on the kernel target.
        const objects = readManifests([DUAL_STACK_EXAMPLE]).map(({ object }) => {
          const o = object as ManifestObject;
          const annotations = { [ANNOTATION_MAGLEV_SIZE]: "251" };
          return o.kind === "Service" ? { ...o, metadata: { ...o.metadata, annotations } } : o;
        });
        for (const o of objects) h.server.apply(o);
        let view = await h.converged();
        assert.deepEqual(view.frontends["fd00:96::20:80/TCP"]?.slots, [
          "2001:db8:1::10:8080",
          "2001:db8:2::10:8080",
        ]);
        assert.deepEqual(
          view.frontends[":::30080/TCP"]?.slots,
          ["2001:db8:1::10:8080"],
          "ETP=Local: EXT is local",
        );
        assert.deepEqual(view.frontends["10.96.0.20:80/TCP"]?.slots, ["10.0.1.10:8080", "10.0.2.10:8080"]);
        assert.equal(view.frontends["fd00:96::53:53/UDP"]?.slots.length, 2);

        // The IPv6 slice scales down to one endpoint: only the IPv6 half changes.
        const v6slice = objects.find((o) => o.metadata.name === "shop-v6")!;
        h.server.apply({ ...v6slice, endpoints: v6slice.endpoints!.slice(0, 1) });
        view = await h.converged();
        assert.deepEqual(view.frontends["fd00:96::20:80/TCP"]?.slots, ["2001:db8:1::10:8080"]);
        assert.equal(view.frontends["10.96.0.20:80/TCP"]?.slots.length, 2);

        // The Service goes single-stack IPv4: its IPv6 frontends leave lb6_services.
        const shop = objects.find((o) => o.metadata.name === "shop")!;
        h.server.apply({
          ...shop,
          spec: {
            ...shop.spec,
            ipFamilyPolicy: "SingleStack",
            ipFamilies: ["IPv4"],
            clusterIPs: ["10.96.0.20"],
            externalIPs: ["198.51.100.7"],
          },
        });
        view = await h.converged();
        assert.equal(view.frontends["fd00:96::20:80/TCP"], undefined);
        assert.equal(view.frontends[":::30080/TCP"], undefined);
        assert.equal(view.frontends["10.96.0.20:80/TCP"]?.slots.length, 2);

        // A restart adopts both families' rows: nothing to write.
        const before = h.sink.read();
        await h.agent.stop();
        h.startAgent();
        const adopted = await eventually(() => {
          const records = h!.logged(
            "adopted the maps: kept their ids, wrote the difference from the cluster",
          );
          assert.equal(records.length, 2); // the first start (empty maps) and the restart
          return records;
        });
        assert.equal(adopted[1]!.ops, 0, "the restart wrote nothing");
        assert.deepEqual(h.sink.read().backends, before.backends);
      },
    );
});

describe("agent: the maps are right after each fault", () => {
  it(
    "a watch cut in the middle of an event: resumes from its resourceVersion, no relist",
    TEST_TIMEOUT,
    async () => {
      h = await AgentHarness.start();
      h.server.apply(svc("web", "10.96.0.10"));
      h.server.apply(slice("web-1", "web", ips(2)));
      await h.converged();
      const listed = lists(h);
      const rv = h.server.resourceVersion;
      h.server.cutWatches();
      h.server.apply(slice("web-1", "web", ips(4))); // made while the client reconnects
      await h.converged();
      assert.equal(lists(h), listed, "no new list");
      const resumed = h.server.requests.filter((r) => r.watch && r.resourceVersion === rv);
      assert.ok(resumed.length >= 2, "both watches resumed from the last resourceVersion");
    },
  );

  it("watch events split across chunks are joined", TEST_TIMEOUT, async () => {
    h = await AgentHarness.start();
    await eventually(() => assert.equal(h!.server.openWatches, 2));
    h.server.splitEvents = true;
    h.server.apply(svc("web", "10.96.0.10"));
    h.server.apply(slice("web-1", "web", ips(2)));
    h.server.apply(slice("web-1", "web", ips(3)));
    const view = await h.converged();
    assert.equal(view.frontends["10.96.0.10:80/TCP"]?.slots.length, 3);
    assert.equal(lists(h), 2, "everything came through the watch");
  });

  it("a BOOKMARK moves the resourceVersion a resumed watch starts from", TEST_TIMEOUT, async () => {
    h = await AgentHarness.start();
    h.server.apply(svc("web", "10.96.0.10"));
    await h.converged();
    h.server.apply(svc("other", "10.96.0.99", { namespace: "elsewhere" })); // only the services watch sees it
    await h.converged();
    h.server.bookmark();
    const rv = h.server.resourceVersion;
    await sleep(50);
    h.server.endWatches(); // a clean end, as when a watch times out
    await eventually(() => assert.equal(h!.server.openWatches, 2));
    const slices = h.server.requests.filter((r) => r.resource === "endpointslices" && r.watch);
    assert.equal(slices.at(-1)?.resourceVersion, rv, "the slices watch resumed from the bookmark");
  });

  it("410 Gone: lists again, and notices what was deleted meanwhile", TEST_TIMEOUT, async () => {
    h = await AgentHarness.start();
    h.server.apply(svc("web", "10.96.0.10"));
    h.server.apply(slice("web-1", "web", ips(2)));
    h.server.apply(svc("api", "10.96.0.11"));
    await h.converged();
    const listed = lists(h);
    await h.server.stop();
    h.server.delete("services", "shop", "api");
    h.server.apply(slice("web-1", "web", ips(3)));
    await h.server.start();
    h.server.expireHistory(); // the client's resourceVersion is older than the history now
    const view = await h.converged();
    assert.equal(
      view.frontends["10.96.0.11:80/TCP"],
      undefined,
      "the service deleted during the outage is gone",
    );
    assert.ok(lists(h) >= listed + 2, "both resources listed again");
  });

  it("a 410 on an open watch (history compacted under it)", TEST_TIMEOUT, async () => {
    h = await AgentHarness.start();
    h.server.apply(svc("web", "10.96.0.10"));
    await h.converged();
    const listed = lists(h);
    h.server.expireHistory();
    h.server.apply(slice("web-1", "web", ips(3)));
    await h.converged();
    // A guard against a hang, not a speed check: under the full suite's load the relist after the
    // 410 has taken longer than eventually()'s default 5 s.
    await eventually(() => assert.ok(lists(h!) >= listed + 2), 20_000, "a list after the 410");
  });

  it("a malformed object is logged and skipped; everything else keeps working", TEST_TIMEOUT, async () => {
    h = await AgentHarness.start();
    h.server.apply(svc("web", "10.96.0.10"));
    h.server.apply(slice("web-1", "web", ips(2)));
    await h.converged();

    // An invalid update: the last valid version stays in effect.
    const bad = slice("web-1", "web", ["10.0.1.1", "not-an-ip"]);
    h.server.apply(bad);
    // An invalid new Service, and a valid change after both.
    h.server.apply(svc("broken", "10.96.0.300"));
    h.server.apply(svc("api", "10.96.0.11"));
    h.server.apply(slice("api-1", "api", ips(1, 9)));
    const view = await eventually(() => {
      const v = h!.view();
      assert.deepEqual(slotsOf(v)["10.96.0.11:80/TCP"], ["10.0.9.1:8080"]);
      return v;
    });
    assert.deepEqual(slotsOf(view)["10.96.0.10:80/TCP"], ["10.0.1.1:8080", "10.0.1.2:8080"]);
    assert.equal(Object.keys(view.frontends).length, 2);
    const skipped = h.logged("skipping an invalid object").map((r) => String(r.issue));
    assert.ok(
      skipped.some((i) => i.includes("endpoints[1].addresses[0]") && i.includes("shop/web-1")),
      skipped.join("\n"),
    );
    assert.ok(
      skipped.some((i) => i.includes("spec.clusterIP") && i.includes("shop/broken")),
      skipped.join("\n"),
    );
    assert.equal(await h.metric("maplb_errors_total", 'kind="invalid_object"'), 2);

    h.server.apply(slice("web-1", "web", ips(3))); // fixed
    await eventually(() => assert.equal(h!.view().frontends["10.96.0.10:80/TCP"]?.slots.length, 3));
  });

  it(
    "a malformed object in the first list (typed by the client's deserializer) is skipped too",
    TEST_TIMEOUT,
    async () => {
      h = await AgentHarness.start({
        objects: [
          svc("web", "10.96.0.10"),
          slice("web-1", "web", ["10.0.1.1", "10.0.1.x"]),
          svc("api", "10.96.0.11"),
        ],
      });
      const view = await eventually(() => {
        const v = h!.view();
        assert.deepEqual(Object.keys(v.frontends), ["10.96.0.10:80/TCP", "10.96.0.11:80/TCP"]);
        return v;
      });
      assert.deepEqual(view.frontends["10.96.0.10:80/TCP"]?.slots, [], "web has no valid slice yet");
      assert.equal(h.logged("skipping an invalid object").length, 1);
    },
  );

  it("lists that keep failing: /healthz says why", TEST_TIMEOUT, async () => {
    h = await AgentHarness.start({ failLists: 403 });
    const health = await eventually(() => {
      const v = h!.agent.health();
      assert.match(v.reason, /^listing Services and EndpointSlices: .*403/);
      return v;
    });
    assert.equal(health.healthy, false);
    h.server.failLists = null;
    await eventually(() => assert.equal(h!.agent.health().healthy, true));
  });

  it("the server down for a while: retries with backoff, then catches up", TEST_TIMEOUT, async () => {
    h = await AgentHarness.start();
    h.server.apply(svc("web", "10.96.0.10"));
    h.server.apply(slice("web-1", "web", ips(2)));
    await h.converged();
    await h.server.stop();
    await sleep(400); // several failed reconnects
    h.server.apply(slice("web-1", "web", ips(4)));
    h.server.apply(svc("api", "10.96.0.11"));
    await h.server.start();
    await h.converged();
    assert.ok((await h.metric("maplb_errors_total", 'kind="watch"')) >= 2);
    const failures = h.logged("watch failed; restarting").map((r) => Number(r.retryInMs));
    assert.ok(failures.length >= 2);
    assert.ok(
      failures.every((ms) => ms <= 200),
      "delays stay under the cap",
    );
  });

  it(
    "a failed apply (map full) changes nothing, /healthz says why, the next sync recovers",
    TEST_TIMEOUT,
    async () => {
      h = await AgentHarness.start({
        mapMax: { lb4_backends: 4 },
        health: { syncedWithinMs: 60_000, pendingWithinMs: 300 },
      });
      assert.equal(h.agent.health().healthy, false);
      h.server.apply(svc("web", "10.96.0.10"));
      h.server.apply(slice("web-1", "web", ips(2)));
      const before = await h.converged();
      h.server.apply(slice("web-1", "web", ips(6))); // 6 backends do not fit in 4 entries
      await eventually(async () => assert.ok((await h!.metric("maplb_errors_total", 'kind="apply"')) >= 1));
      assert.deepEqual(h.view(), before, "the maps are as they were");
      const failed = h.logged("sync failed; retrying with a full sync from what the maps hold");
      assert.match(String((failed[0]?.err as { message?: string })?.message), /lb4_backends/);
      const unhealthy = await eventually(() => {
        const health = h!.agent.health();
        assert.equal(health.healthy, false);
        return health;
      });
      assert.match(unhealthy.reason, /a change has waited .*apply: .*lb4_backends/);
      h.server.apply(slice("web-1", "web", ips(3)));
      await h.converged();
      assert.equal(h.agent.health().healthy, true);
    },
  );
});

describe("agent: restart and drift", () => {
  it(
    "two Services on one frontend, found by a full sync and then both deleted: nothing stays programmed",
    TEST_TIMEOUT,
    async () => {
      // b's port waits for the frontend a owns, so it has no rows; it must still go when b goes, or
      // it takes the frontend over once a is deleted too.
      h = await AgentHarness.start({
        objects: [
          svc("a", "10.96.0.10"),
          slice("a-1", "a", ips(2)),
          svc("b", "10.96.0.10"),
          slice("b-1", "b", ips(2, 2)),
        ],
      });
      await h.converged();
      h.server.delete("services", "shop", "b");
      h.server.delete("endpointslices", "shop", "b-1");
      await h.converged();
      h.server.delete("services", "shop", "a");
      h.server.delete("endpointslices", "shop", "a-1");
      const view = await h.converged();
      assert.deepEqual(view.frontends, {});
    },
  );

  it(
    "two Services on one frontend: the owner keeps it, the other is logged and counted, then takes over",
    TEST_TIMEOUT,
    async () => {
      h = await AgentHarness.start();
      h.server.apply(svc("a", "10.96.0.10"));
      h.server.apply(slice("a-1", "a", ips(2)));
      await h.converged();
      h.server.apply(svc("b", "10.96.0.10"));
      h.server.apply(slice("b-1", "b", ips(1, 9)));
      await eventually(() =>
        assert.equal(h!.logged("service ports held back: another Service owns their frontend").length, 1),
      );
      assert.deepEqual(
        h.logged("service ports held back: another Service owns their frontend")[0]?.servicePorts,
        ["shop/b:http/TCP"],
      );
      assert.equal(await h.metric("maplb_frontend_conflicts"), 1);
      assert.deepEqual(slotsOf(h.view())["10.96.0.10:80/TCP"], ["10.0.1.1:8080", "10.0.1.2:8080"]);

      h.server.delete("services", "shop", "a");
      await eventually(() => assert.deepEqual(slotsOf(h!.view())["10.96.0.10:80/TCP"], ["10.0.9.1:8080"]));
      await eventually(async () => assert.equal(await h!.metric("maplb_frontend_conflicts"), 0));
    },
  );

  it("a restarted agent adopts the maps: same ids for what did not change", TEST_TIMEOUT, async () => {
    h = await AgentHarness.start();
    h.server.apply(svc("web", "10.96.0.10"));
    h.server.apply(slice("web-1", "web", ips(3)));
    h.server.apply(svc("api", "10.96.0.11"));
    h.server.apply(slice("api-1", "api", ips(2, 2)));
    await h.converged();
    const before = h.sink.read();
    await h.agent.stop();

    h.server.apply(slice("api-1", "api", ips(3, 2))); // a change while no agent runs
    h.startAgent();
    await h.converged();
    const after = h.sink.read();
    const ids = (c: typeof before, prefix: string) =>
      c.backends
        .filter((b) => b.address.startsWith(prefix))
        .map((b) => `${b.address}=${b.id}`)
        .sort();
    assert.deepEqual(ids(after, "10.0.1."), ids(before, "10.0.1."), "web's backends keep their ids");
    assert.deepEqual(
      ids(after, "10.0.2.").slice(0, 2),
      ids(before, "10.0.2."),
      "api's old backends keep theirs",
    );
    const revNat = (c: typeof before) => c.revNat.map((r) => `${r.address}=${r.id}`).sort();
    assert.deepEqual(revNat(after), revNat(before));
    assert.equal(
      h.logged("adopted the maps: kept their ids, wrote the difference from the cluster").length,
      2,
    );
  });

  for (const datapath of ["emulated", "kernel"] as const)
    it(
      `${datapath}: an established flow keeps its backend across a restart and a scale-up`,
      {
        ...TEST_TIMEOUT,
        skip: datapath === "kernel" ? kernelSkip(noKernel) : false,
      },
      async () => {
        h = await AgentHarness.start({ datapath });
        h.server.apply(svc("web", "10.96.0.10"));
        h.server.apply(slice("web-1", "web", ips(3)));
        await h.converged();
        const flow = {
          src: "198.18.7.7",
          dst: "10.96.0.10",
          sport: 40_000,
          dport: 80,
          proto: "TCP" as const,
        };
        const send = (tcpFlags: number) => {
          const frame = buildFrame({ ...flow, tcpFlags });
          const [result] = h!.datapath.process([frame]);
          const out = parseFrame(frame)!;
          return { verdict: result?.verdict, to: `${out.dst}:${out.dport}` };
        };
        const first = send(0x02); // SYN
        assert.match(first.to, /^10\.0\.1\.\d:8080$/, `SYN ${first.verdict}`);

        await h.agent.stop();
        // With 23 backends Maglev sends most flows elsewhere: a new SYN of this very tuple would go to
        // 10.0.5.20. Only the conntrack entry, naming a backend id the new agent kept, holds it in place.
        h.server.apply(slice("web-1", "web", [...ips(3), ...ips(20, 5)]));
        h.startAgent();
        await h.converged();
        assert.equal(send(0x10).to, first.to, "the ACK goes where the SYN went"); // ACK
      },
    );

  it(
    "a full sync repairs overlapping Maglev tables (maps an older maplb could leave)",
    TEST_TIMEOUT,
    async () => {
      h = await AgentHarness.start({ health: { syncedWithinMs: 60_000, pendingWithinMs: 60_000 } });
      h.server.apply(svc("web", "10.96.0.10"));
      h.server.apply(svc("api", "10.96.0.11"));
      h.server.apply(slice("web-1", "web", ips(2)));
      h.server.apply(slice("api-1", "api", ips(2, 2)));
      await h.converged();
      const [a, b] = h.sink.read().masters;
      h.datapath.apply([
        {
          kind: "master-upsert",
          key: b!.key,
          master: { ...b!.master, maglevOffset: a!.master.maglevOffset + 1 },
        },
      ]);
      assert.notDeepEqual(h.view(), h.expected());
      h.agent.syncer.requestFullSync();
      await h.converged();
      assert.equal(await h.metric("maplb_errors_total", 'kind="read_back"'), 0);
    },
  );

  it("a full sync repairs rows changed behind the agent's back", TEST_TIMEOUT, async () => {
    h = await AgentHarness.start({ syncPeriodMs: 200 });
    h.server.apply(svc("web", "10.96.0.10"));
    h.server.apply(slice("web-1", "web", ips(3)));
    await h.converged();
    const contents = h.sink.read();
    const master = contents.masters[0]!;
    h.datapath.apply([
      { kind: "master-upsert", key: master.key, master: { ...master.master, count: 1 } },
      { kind: "backend-delete", id: contents.backends[2]!.id },
      { kind: "revnat-upsert", entry: { id: 999, address: "192.0.2.99", port: 1 } },
    ]);
    assert.notDeepEqual(h.view(), h.expected());
    await h.converged();
    assert.ok((await h.metric("maplb_reconcile_repaired_operations_total")) >= 3);
    assert.ok(!h.sink.read().revNat.some((r) => r.id === 999), "the stray rev-NAT entry is deleted");
  });
});
